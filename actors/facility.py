"""FacilityActor: a plant, its sensors, and the judgements that need all of them.

It validates each frame at the edge (once; the sensors then trust their input), feeds
every reading to its SensorActor in event-time order, and looks for emission
hotspots: a CO2 flow sensor standing well above the facility's baseline for it.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field

from plumeline.actors.accounting import FLOW_ROLES, CarbonBalance
from plumeline.actors.alerts import AlertBook
from plumeline.actors.commands import decide
from plumeline.actors.detection import DetectorConfig
from plumeline.actors.hotspots import Hotspot, HotspotRule
from plumeline.actors.multivariate import FacilityModel, ModelConfig
from plumeline.actors.outcomes import OutcomeWatch
from plumeline.actors.roster import decide_sensor
from plumeline.actors.sensor import SensorActor
from plumeline.actors.staleness import QUIET_KINDS, StaleWatch
from plumeline.events import (
    SENSOR_COMMANDS,
    AlertCleared,
    AlertRaised,
    Command,
    EmissionsMeasured,
    Event,
    FacilityRegistered,
    Frame,
    HotspotDetected,
    Manifest,
    RecommendationIssued,
    SensorChanged,
    SensorRegistered,
    SensorRetired,
    SensorSpec,
    alert_id,
    refusal,
)
from plumeline.events.frame_seal import runs

__all__ = ["FacilityActor", "FacilityConfig", "Rejected", "hotspot_rule", "time_of"]

EMISSION_ROLES = ("emitted", "vented")
_ALWAYS = -(2**63)  # below any reading's time


def time_of(row: tuple[str, int, float]) -> int:
    return row[1]


@dataclass(frozen=True, slots=True)
class FacilityConfig:
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    max_future_ms: int = 5 * 60_000  # readings stamped later than this after arrival
    hotspot_ratio: float = 1.5  # flow above 1.5x its baseline ...
    hotspot_after: int = 3  # ... for this many readings in a row is a hotspot
    hotspot_alpha: float = 0.01
    escalate_after_ms: int = 15 * 60_000  # unacknowledged this long: one severity up
    window_ms: int = 3_600_000  # the CO2 balance and the readings seal, per hour
    hold_max_ms: int = 5 * 60_000  # a flow reading holds this long at most
    stale_after_ms: int = 5 * 60_000  # a sensor silent this long in event time is stale
    dropout_min_ms: int = 10_000  # a regular sensor silent 10x its rhythm, or this: dropout
    model: ModelConfig | None = field(default_factory=ModelConfig)  # None: no facility model
    outcome_span_ms: int = 86_400_000  # an approval's effect: this long after vs before


@dataclass(frozen=True, slots=True)
class Rejected:
    """Readings refused at the edge, with the reason for each."""

    sensors: list[str]
    times: list[int]
    values: list[float]
    reasons: list[str]

    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(self.reasons).items()))


def hotspot_rule(config: FacilityConfig) -> HotspotRule:
    return HotspotRule(config.hotspot_ratio, config.hotspot_after, config.hotspot_alpha)


class FacilityActor:
    def __init__(self, facility: str, config: FacilityConfig = FacilityConfig()) -> None:
        self.facility = facility
        self.config = config
        self.name = facility
        self.kind = ""
        self.registered = False
        self.sensors: dict[str, SensorActor] = {}
        self.retired: set[str] = set()  # sensors an admin retired (actors/roster.py)
        self.hotspots: dict[str, Hotspot] = {}  # an emitter's, from its first reading
        self.hotspot_rule = hotspot_rule(config)
        # the sensors whose readings the balance integrates, and those watched for
        # hotspots: a set lookup per reading rather than its role compared with each
        self.flows: set[str] = set()
        self.emitters: set[str] = set()
        self.alerts = AlertBook(facility, config.escalate_after_ms)
        self.balance = CarbonBalance(facility, config.window_ms, config.hold_max_ms)
        self.staleness = StaleWatch(config.stale_after_ms, config.dropout_min_ms)
        self.model = FacilityModel(facility, config.model) if config.model else None
        self.outcomes = OutcomeWatch(facility, config.outcome_span_ms)

    def register(self, manifest: Manifest) -> list[Event]:
        """Events for what the manifest adds; a manifest sent again adds nothing."""
        out: list[Event] = []
        if not self.registered:
            self.registered, self.name, self.kind = True, manifest.name, manifest.kind
            out.append(
                FacilityRegistered(facility=self.facility, name=manifest.name, kind=manifest.kind)
            )
        for spec in manifest.sensors:
            if spec.sensor not in self.sensors:
                out.append(
                    SensorRegistered(
                        facility=self.facility, sensor=spec.sensor, quantity=spec.quantity,
                        unit=spec.unit, role=spec.role,
                    )
                )
                self._enrol(spec)
        return out

    def _enrol(self, spec: SensorSpec) -> None:
        """A sensor declared (by the manifest or an admin), or changed: its actor, and
        its place in the balance and the hotspot watch by its role."""
        actor = self.sensors.get(spec.sensor)
        if actor is None:
            self.sensors[spec.sensor] = SensorActor(self.facility, spec, self.config.detector)
        else:
            actor.spec = spec  # its detector goes on learning: the readings are the same
        for roles, members in ((FLOW_ROLES, self.flows), (EMISSION_ROLES, self.emitters)):
            if spec.role in roles:
                members.add(spec.sensor)
            else:
                members.discard(spec.sensor)

    def _retire(self, sensor: str) -> None:
        """Its readings are refused from now on; its actor stays (the columns keep one
        row per sensor ever declared), but it is watched for silence no more."""
        self.retired.add(sensor)
        self.flows.discard(sensor)
        self.emitters.discard(sensor)
        self.staleness.sensors.pop(sensor, None)

    def observe(
        self, frame: Frame, arrived_ms: int, seq: int = 0, packed: bytes | None = None
    ) -> tuple[list[tuple[int, Event]], Rejected | None]:
        """A frame (READINGS message `seq`) in; the (event time, event) it causes,
        applied already, and what was refused. `packed`: the message's bytes when it
        is a packed frame, whose seal leaf is then a frame leaf (its bytes and the
        positions taken) rather than its readings written out.

        Readings are taken in event-time order (a stable sort, so readings of the same
        time keep the frame's order; a frame already in order is not sorted). Each is
        a Python step, so the step does only what the reading needs: the refusal
        checks written out, the window's bounds and the alert book's next escalation
        kept at hand so that a reading that closes nothing and causes nothing touches
        no list but the seal's, and the seal's leaf made once for the frame's readings
        in a window (docs/ledger.md §8), before anything that reads the seal. Values
        are taken as floats: a frame decoded at the edge holds nothing else (and
        `float` of a float is that float), one built in Python may hold ints, which
        the seal's leaf must not write as such.
        """
        events: list[tuple[int, Event]] = []
        bad_s, bad_t, bad_v, reasons = [], [], [], []
        times = frame.times
        # a reading's position in the frame rides along: a frame leaf names it
        rows = zip(frame.sensors, times, map(float, frame.values), range(len(times)))
        if times != sorted(times):
            rows = sorted(rows, key=time_of)
        actors, alerts, balance = self.sensors, self.alerts, self.balance
        flows, emitters, retired = self.flows, self.emitters, self.retired
        seen, apply = self.staleness.seen, self.apply
        future = arrived_ms + self.config.max_future_ms
        start = balance.start
        end = balance.end if start >= 0 else _ALWAYS  # time >= end: balance.advance acts
        sealing: list[tuple[str, int, float, int]] = []  # accepted, not yet in the seal
        for row in rows:
            sensor, time, value, _ = row
            actor = actors.get(sensor)
            # refused at the edge, once: the sensors then trust their input
            if actor is None:
                reason = "unknown sensor"
            elif retired and sensor in retired:
                reason = "retired sensor"  # refused as an unknown one is
            elif (reason := refusal(time, value, future)) is not None:
                pass  # the rule the readings projection applies too (events/acceptance.py)
            elif time <= actor.last_time:
                reason = "timestamp not after the sensor's last reading"
            elif start >= 0 and time < start:
                reason = "timestamp before the facility's open accounting window"
            else:
                reason = None
            if reason is not None:
                bad_s.append(sensor), bad_t.append(time), bad_v.append(value)
                reasons.append(reason)
                continue
            # what the reading settles before it is judged: the balance window it
            # closes, the sensors found quiet as event time moves on, its own return
            settled = None
            if time >= end:
                if sealing:  # the closing window's root needs its leaf of this frame
                    _seal(balance, sealing, seq, packed, len(times))
                    sealing = []
                settled = self._advance(time)
                start, end = balance.start, balance.end
            sealing.append(row)
            if sensor in flows:
                balance.add_flow(sensor, actor.spec.role, time, value, seq)
            quiet, back = seen(sensor, time)
            if quiet or back:
                settled = (settled or []) + self._silence(actor, time, value, quiet, back)
            if settled:
                for at, event in settled:
                    apply(event, at)
                    events.append((at, event))
            # its judgement
            caused = actor.observe(time, value)
            if caused:
                caused = alerts.admit(caused, time)
            if sensor in emitters and (spots := self._hotspot(actor, time, value)):
                caused = [*caused, *spots]
            for event in caused:
                apply(event, time)
                events.append((time, event))
            if time >= alerts.next_due:
                for due, event in alerts.escalations(time):
                    apply(event, due)
                    events.append((due, event))
        if sealing:
            _seal(balance, sealing, seq, packed, len(times))
        if self.model is not None and (now := self.staleness.now) >= 0:
            for event in self.alerts.admit(self.model.step(now, self._latest), now):
                self.apply(event, now)
                events.append((now, event))
        rejected = Rejected(bad_s, bad_t, bad_v, reasons) if reasons else None
        return events, rejected

    def _latest(self) -> dict[str, float]:
        return {s: a.detector.last for s, a in self.sensors.items() if a.last_time >= 0}

    def _advance(self, time: int) -> list[tuple[int, Event]]:
        """The balance's window closed by an accepted reading at `time` (if any), and the
        outcomes of approvals that its emissions complete."""
        out = self.balance.advance(time)
        out += [(at, o) for at, e in out if isinstance(e, EmissionsMeasured)
                for o in self.outcomes.due(e, at)]
        return out

    def _silence(self, actor: SensorActor, time: int, value: float, quiet, back):
        """The alerts of the sensors found quiet, and the clears of `actor`'s own
        silence alerts it comes back from (judged before any of them is applied)."""
        out = []
        for sensor, since, kind in quiet:
            out += [(since, e) for e in self.alerts.admit([self._quiet(sensor, since, kind)],
                                                          since)]
        for kind in back:
            if open_id := self.alerts.by_key.get((actor.sensor, kind)):
                out.append((time, AlertCleared(facility=self.facility, alert_id=open_id,
                                               sensor=actor.sensor, kind=kind, value=value)))
        return out

    def _quiet(self, sensor: str, since: int, kind: str) -> AlertRaised:
        last = self.staleness.last(sensor)
        quiet_s = (since - last) / 1000
        if kind == "stale":
            severity, what = "minor", f"has sent nothing for {quiet_s:g} s"
        else:
            usual_s = self.staleness.interval(sensor) / 1000
            severity = "warning"
            what = f"has missed its readings for {quiet_s:g} s (it usually reports every " \
                   f"{usual_s:.3g} s)"
        return AlertRaised(
            facility=self.facility, alert_id=alert_id(self.facility, sensor, kind, since),
            sensor=sensor, kind=kind, severity=severity, value=quiet_s, baseline=0.0,
            score=0.0, model="event-time-staleness",
            message=f"{sensor} {what} of the facility's event time",
        )

    def _hotspot(self, actor: SensorActor, time: int, value: float) -> list[Event]:
        h = self.hotspots.setdefault(actor.sensor, Hotspot())
        base = h.baseline
        h.baseline, h.above, opened, raises = self.hotspot_rule.step(base, h.above, h.open,
                                                                     value)
        h.open = bool(opened)
        if not raises:
            return []
        spot = HotspotDetected(
            facility=self.facility, sensor=actor.sensor, quantity=actor.spec.quantity,
            unit=actor.spec.unit, value=value, baseline=base,
            excess_ratio=round(value / base, 4),
        )
        return [spot, self._recommend(actor, time, value, base, h.above)]

    def _recommend(self, actor: SensorActor, time: int, value: float, base: float,
                   run: int) -> RecommendationIssued:
        excess, unit = value - base, actor.spec.unit
        # flows are in t/h: a day of the excess is what fixing it is worth
        per_day = round(excess * 24, 3) if unit == "t/h" else 0.0
        # just past the threshold is a coin toss; twice as far past it, a near certainty
        ratio, threshold = value / base, self.config.hotspot_ratio
        confidence = round(min(0.9, 0.5 + 0.4 * (ratio - threshold) / threshold), 2)
        rid = hashlib.sha256(f"{self.facility}/{actor.sensor}/{time}".encode()).hexdigest()[:20]
        if actor.spec.role == "vented":
            action = "Inspect the capture plant: absorber, solvent circulation and regenerator"
        else:
            action = "Check combustion and load at the unit feeding this flue-gas line"
        return RecommendationIssued(
            facility=self.facility, recommendation_id=rid, sensor=actor.sensor, action=action,
            reason=(f"{actor.sensor} read {value:.4g} {unit}, {ratio:.2f}x its baseline of "
                    f"{base:.4g} {unit}, for {run} readings in a row: {excess:.3g} {unit} "
                    f"above it"),
            expected_effect_tco2e_per_day=per_day, confidence=confidence,
            urgency="high" if per_day >= 24 else "medium",
        )

    def command(self, command: Command) -> list[tuple[int, Event]]:
        """An operator's command in; the event it causes (with a sensor's retirement, the
        clearing of its open alerts), applied, at the command's time
        (docs/architecture.md, "Commands")."""
        if isinstance(command, SENSOR_COMMANDS):
            events = [decide_sensor(self, command)]
            if isinstance(events[0], SensorRetired):
                # nobody will clear what a sensor out of service raised: its retirement
                # does, in the admin's name
                events += [AlertCleared(facility=self.facility, alert_id=i,
                                        sensor=a.raised.sensor, kind=a.raised.kind,
                                        value=a.value, by=command.user)
                           for i, a in self.alerts.active.items()
                           if a.raised.sensor == command.sensor]
        else:
            events = [decide(self.alerts, self.sensors, command)]
        for event in events:
            self.apply(event, command.time)
        return [(command.time, event) for event in events]

    def apply(self, event: Event, time: int = 0) -> None:
        self.alerts.apply(event, time)
        self.outcomes.apply(event, time)
        match event:
            case SensorRegistered() | SensorChanged() as e:
                self._enrol(SensorSpec(e.sensor, e.quantity, e.unit, e.role))
            case SensorRetired(sensor=s):
                self._retire(s)
            case AlertRaised(kind="multivariate") | AlertCleared(kind="multivariate") if self.model:
                self.model.apply(event)
            # silence is the facility's judgement, not the sensor detector's
            case AlertRaised(sensor=s, kind=k) | AlertCleared(sensor=s, kind=k) if (
                s in self.sensors and k not in QUIET_KINDS
            ):
                self.sensors[s].apply(event)


def _seal(balance: CarbonBalance, rows: list[tuple[str, int, float, int]], seq: int,
          packed: bytes | None, size: int) -> None:
    """The leaf of message `seq` for its readings `rows` (sensor, time, value,
    position) accepted in the balance's open window: a frame leaf of their positions
    for a packed frame of `size` readings, their readings written out otherwise."""
    if packed is None:
        balance.seal_readings([row[:3] for row in rows], seq)
    elif len(rows) == size:  # the frame taken whole, the usual case
        balance.seal_frame(packed, [(0, size)], seq)
    else:
        balance.seal_frame(packed, runs(sorted(row[3] for row in rows)), seq)
