"""FacilityActor: a plant, its sensors, and the judgements that need all of them.

It validates each frame at the edge (once; the sensors then trust their input), feeds
every reading to its SensorActor in event-time order, and looks for emission
hotspots: a CO2 flow sensor standing well above the facility's baseline for it.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from dataclasses import dataclass, field

from actors.detection import DetectorConfig
from actors.sensor import SensorActor
from events import (
    AlertCleared,
    AlertRaised,
    Event,
    FacilityRegistered,
    Frame,
    HotspotDetected,
    Manifest,
    RecommendationIssued,
    SensorRegistered,
)

__all__ = ["FacilityActor", "FacilityConfig", "Rejected"]

EMISSION_ROLES = ("emitted", "vented")


@dataclass(frozen=True, slots=True)
class FacilityConfig:
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    max_future_ms: int = 5 * 60_000  # readings stamped later than this after arrival
    hotspot_ratio: float = 1.5  # flow above 1.5x its baseline ...
    hotspot_after: int = 3  # ... for this many readings in a row is a hotspot
    hotspot_alpha: float = 0.01


@dataclass(frozen=True, slots=True)
class Rejected:
    """Readings refused at the edge, with the reason for each."""

    sensors: list[str]
    times: list[int]
    values: list[float]
    reasons: list[str]

    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(self.reasons).items()))


class _Hotspot:
    __slots__ = ("above", "baseline", "open")

    def __init__(self) -> None:
        self.baseline = math.nan
        self.above = 0
        self.open = False


class FacilityActor:
    def __init__(self, facility: str, config: FacilityConfig = FacilityConfig()) -> None:
        self.facility = facility
        self.config = config
        self.name = facility
        self.kind = ""
        self.registered = False
        self.sensors: dict[str, SensorActor] = {}
        self._hotspots: dict[str, _Hotspot] = {}

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
                self.sensors[spec.sensor] = SensorActor(self.facility, spec, self.config.detector)
        return out

    def observe(
        self, frame: Frame, arrived_ms: int
    ) -> tuple[list[tuple[int, Event]], Rejected | None]:
        """A frame in; the (event time, event) it causes, applied already, and what was
        refused."""
        events: list[tuple[int, Event]] = []
        bad_s, bad_t, bad_v, reasons = [], [], [], []
        for sensor, time, value in sorted(zip(frame.sensors, frame.times, frame.values),
                                          key=lambda r: r[1]):
            actor = self.sensors.get(sensor)
            reason = self._refusal(actor, time, value, arrived_ms)
            if reason is not None:
                bad_s.append(sensor), bad_t.append(time), bad_v.append(value)
                reasons.append(reason)
                continue
            caused = actor.observe(time, value)
            if actor.spec.role in EMISSION_ROLES:
                caused += self._hotspot(actor, time, value)
            for event in caused:
                self.apply(event)
                events.append((time, event))
        rejected = Rejected(bad_s, bad_t, bad_v, reasons) if reasons else None
        return events, rejected

    def _refusal(self, actor: SensorActor | None, time: int, value: float, arrived: int):
        if actor is None:
            return "unknown sensor"
        if not math.isfinite(value):
            return "value not finite"
        if time > arrived + self.config.max_future_ms:
            return "timestamp in the future"
        if time <= actor.last_time:
            return "timestamp not after the sensor's last reading"
        return None

    def _hotspot(self, actor: SensorActor, time: int, value: float) -> list[Event]:
        c = self.config
        h = self._hotspots.setdefault(actor.sensor, _Hotspot())
        if math.isnan(h.baseline):
            h.baseline = value
            return []
        base = h.baseline
        hot = base > 0 and value > c.hotspot_ratio * base
        h.above = h.above + 1 if hot else 0
        if not h.open and h.above < c.hotspot_after:
            h.baseline += c.hotspot_alpha * (value - base)
        if h.open or h.above < c.hotspot_after:
            if h.open and value < base * (1 + (c.hotspot_ratio - 1) / 2):
                h.open = False  # hysteresis: the episode ends half-way back
            return []
        h.open = True
        excess = value - base
        spot = HotspotDetected(
            facility=self.facility, sensor=actor.sensor, quantity=actor.spec.quantity,
            unit=actor.spec.unit, value=value, baseline=base,
            excess_ratio=round(value / base, 4),
        )
        return [spot, self._recommend(actor, time, excess)]

    def _recommend(self, actor: SensorActor, time: int, excess: float) -> RecommendationIssued:
        # flows are in t/h: a day of the excess is what fixing it is worth
        per_day = round(excess * 24, 3) if actor.spec.unit == "t/h" else 0.0
        rid = hashlib.sha256(f"{self.facility}/{actor.sensor}/{time}".encode()).hexdigest()[:20]
        if actor.spec.role == "vented":
            action = "Inspect the capture plant: absorber, solvent circulation and regenerator"
        else:
            action = "Check combustion and load at the unit feeding this flue-gas line"
        return RecommendationIssued(
            facility=self.facility, recommendation_id=rid, sensor=actor.sensor, action=action,
            reason=f"{actor.sensor} at {excess:.3g} {actor.spec.unit} above its baseline",
            expected_effect_tco2e_per_day=per_day, confidence=0.5,
            urgency="high" if per_day >= 24 else "medium",
        )

    def apply(self, event: Event) -> None:
        match event:
            case AlertRaised(sensor=s) | AlertCleared(sensor=s) if s in self.sensors:
                self.sensors[s].apply(event)
