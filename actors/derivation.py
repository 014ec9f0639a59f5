"""Derivation: from one READINGS message to the domain events it causes. No I/O.

This is the whole of what a shard host decides; the host only adds NATS around it
(consume, append to the ledger, acknowledge, dead-letter). Keeping it pure is what
lets `plumeline audit replay` re-run the actors over READINGS in one process, without
NATS consumers or Ray, and compare with the ledger: the same code, the same events.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec
import numpy as np

from plumeline.actors.columns import SensorColumns
from plumeline.actors.facility import FacilityActor, FacilityConfig, Rejected, _time_of
from plumeline.actors.identity import record
from plumeline.events import (
    IDENTITY,
    IDENTITY_COMMANDS,
    SENSOR_COMMANDS,
    Causation,
    Envelope,
    Frame,
    Manifest,
    ReadingsRejected,
    decode_wire,
    encode_wire,
    misfiled,
    subject_facility,
)

__all__ = ["CAUSE", "Derivation", "Derived", "derive_batches"]

CAUSE = "readings"


@dataclass(slots=True)
class Derived:
    """The events of one message, and what a live host does besides appending them.

    `deadletter` is (reason, payload) when something was refused; payload None means
    the message as it came. `counts` feed the host's counters.
    """

    envelopes: list[Envelope]
    deadletter: tuple[str, bytes | None] | None = None
    counts: dict[str, int] = field(default_factory=dict)
    rejected: Rejected | None = None


class Derivation:
    """The facilities of some partitions, fed READINGS messages in stream order.

    `derive` takes one message through the facility's actors; `derive_batch` takes a
    fetched batch and gives exactly what `derive` gives message by message, judging
    the quiet frames of all its facilities together in `SensorColumns` (see there).
    While a facility's state is in the columns its objects are stale; `settle` (and
    `derive`, for its facility) copies it back.

    Derivations may share one `SensorColumns` (`columns=`), each holding rows of its
    own: `derive_batches` then judges their quiet frames in the same arrays, which is
    what lets a shard host's lanes, each fetching a frame or two at a time at a paced
    rate, pay the arrays' fixed cost once per round instead of once per lane."""

    def __init__(self, config: FacilityConfig, columns: SensorColumns | None = None) -> None:
        if columns is not None and columns.config != config:
            raise ValueError("shared columns judge by another configuration")
        self.config = config
        self.facilities: dict[str, FacilityActor] = {}
        self._columns = columns
        self._rows: dict[str, np.ndarray] = {}  # facility: its sensors' rows, in order
        self._in_columns: set[str] = set()  # facilities whose state the columns hold
        self._frames: dict[str, dict[tuple[str, ...], _FrameRows | None]] = {}
        self.in_columns = 0  # frames judged in the columns (the rest: one reading at a time)

    def derive(self, subject: str, seq: int, arrived: int, data: bytes) -> Derived:
        """Message `seq` of READINGS on `subject`, stored at `arrived` (ms, the
        stream's timestamp, the same on every replay), applied to its facility."""
        facility_name, message, refused = _decode(subject, seq, arrived, data)
        if refused is not None:
            return refused
        return self._derive(facility_name, seq, arrived, message)

    def derive_batch(self, messages: list[tuple[str, int, int, bytes]]) -> list[Derived]:
        """(subject, seq, arrived, data) of consecutive messages in, their Derived out:
        the same as `derive` of each in turn. Facilities are independent, so each is
        taken on its own, in its own order: round k judges the k-th message of every
        facility in columns, and a message that is not a frame the columns can take,
        or a frame that causes something, then goes through `derive`'s path, before
        the facility's next message is judged in round k + 1."""
        return derive_batches([(self, messages)])[0]

    def release(self) -> None:
        """Give this derivation's rows back to its columns, for a derivation that is
        being replaced (a lane restored or restarted) while its columns live on."""
        if self._columns is not None:
            for rows in self._rows.values():
                self._columns.release(rows)
        self._rows, self._in_columns, self._frames = {}, set(), {}

    def settle(self, facility: str | None = None) -> None:
        """Copy the columns' state back into the facility's objects (every facility's
        when None), which from then on hold it alone."""
        names = list(self._in_columns) if facility is None else [facility]
        for name in names:
            if name in self._in_columns:
                self._columns.scatter(self.facilities[name], self._rows[name])
                self._in_columns.discard(name)

    def _derive(self, facility_name: str, seq: int, arrived: int, message) -> Derived:
        if isinstance(message, IDENTITY_COMMANDS):  # no facility's: recorded as it is
            return Derived(_wrap([(message.time, record(message))], seq), None,
                           {"commands": 1})
        self.settle(facility_name)
        facility = self.facilities.get(facility_name)
        if facility is None:
            facility = self.facilities[facility_name] = FacilityActor(facility_name, self.config)
        rejected, counts = None, {}
        match message:
            case Manifest():
                caused = [(message.time or arrived, e) for e in facility.register(message)]
                self._frames.pop(facility_name, None)  # sensors added: rows anew
            case Frame():
                caused, rejected = facility.observe(message, arrived, seq)
                refused = len(rejected.reasons) if rejected else 0
                counts = {"frames": 1, "readings": len(message.values) - refused}
            case _:  # an operator's command, in order with the facility's frames
                caused = facility.command(message)
                counts = {"commands": 1}
                if isinstance(message, SENSOR_COMMANDS):  # a sensor's role or standing
                    self._frames.pop(facility_name, None)
        deadletter = None
        if rejected is not None:
            counts["rejected"] = len(rejected.reasons)
            refused_frame = Frame(facility=facility_name, sensors=rejected.sensors,
                                  times=rejected.times, values=rejected.values)
            deadletter = ("; ".join(sorted(set(rejected.reasons))), encode_wire(refused_frame))
            caused.append((arrived, ReadingsRejected(
                facility=facility_name, count=len(rejected.reasons), reasons=rejected.counts()
            )))
        return Derived(_wrap(caused, seq), deadletter, counts, rejected)

    def _quiet_candidate(self, name: str, message) -> _FrameRows | None:
        """The rows of a frame the columns may judge (a frame of a known facility with
        an open window, naming only sensors it knows, a sensor's readings in time
        order), its facility's state then in the columns; None for anything else."""
        facility = self.facilities.get(name)
        if facility is None or not isinstance(message, Frame) or not message.sensors:
            return None
        if facility.balance.start < 0:
            return None
        key = tuple(message.sensors)
        rows = self._frames.get(name, {}).get(key, _UNSEEN)
        if rows is None:
            return None
        if name not in self._in_columns:
            self._gather(name)
        if rows is _UNSEEN:
            frames = self._frames.setdefault(name, {})
            if len(frames) >= 256:  # frames of ever-changing sensor sets
                frames.clear()
            rows = frames[key] = _frame_rows(facility, self._rows[name], key)
            if rows is None:
                return None
        if rows.layers > 1 and message.times != sorted(message.times):
            return None  # a sensor's readings would be taken out of their order
        return rows

    def _gather(self, name: str) -> None:
        facility = self.facilities[name]
        if self._columns is None:
            self._columns = SensorColumns(self.config)
        rows = self._rows.get(name, np.empty(0, dtype=np.int64))
        if len(rows) < len(facility.sensors):  # sensors registered since
            rows = self._rows[name] = np.concatenate(
                [rows, self._columns.add_rows(len(facility.sensors) - len(rows))])
        self._columns.gather(facility, rows)
        self._in_columns.add(name)

    def _scan_in_frame(self, name: str, watch, fr: _FrameRows, t: np.ndarray, due: np.ndarray,
                       before: dict[str, np.ndarray]) -> int | None:
        """The watch's due after a frame in which its time reaches its due, when the
        one scan this brings finds no sensor quiet; None when it finds one, or when a
        second scan would follow (the frame then goes through `observe`).

        `StaleWatch.seen` scans at the first reading that moves the facility's time on
        from a time at or past the due: with every reading before it applied, and
        none after. `t`, `due` and `before` are the frame's readings, the due each
        gives its sensor, and its rows' silence state before the frame."""
        stale = self.config.stale_after_ms
        order = np.argsort(t, kind="stable")
        ts, ds = t[order].astype(np.float64), due[order].astype(np.float64)
        local, occurrence = fr.local[order], fr.occurrence[order]
        now_before = np.maximum.accumulate(np.concatenate(([watch.now], ts[:-1])))
        due_before = np.minimum.accumulate(np.concatenate(([float(watch.due)], ds[:-1])))
        scans = (ts > now_before) & (now_before >= due_before)
        if not scans.any():
            return min(watch.due, int(ds.min()))
        i = int(np.argmax(scans))
        now = now_before[i]
        # when each sensor of the facility turns quiet, as the scan finds them
        c, rows = self._columns.cols, self._rows[name]
        grade = c["grade"][rows]
        turned = c["st_last"][rows] + np.where((grade == 0) & (c["after"][rows] != 0),
                                               c["after"][rows], stale)
        turned[fr.local] = before["st_last"] + np.where(
            (before["grade"] == 0) & (before["after"] != 0), before["after"], stale)
        for layer in range(fr.layers):  # the readings before the scan, in their order
            at = occurrence[:i] == layer
            turned[local[:i][at]] = ds[:i][at]
        heard = (c["seen"][rows] != 0) & (grade < 2)
        if (turned[heard] <= now).any():
            return None  # a sensor found quiet: an alert
        after_scan = int(turned[heard].min()) if heard.any() else 2**63
        rest = np.minimum.accumulate(np.concatenate(([float(after_scan)], ds[i:-1])))
        if ((ts[i + 1:] > now_before[i + 1:]) & (now_before[i + 1:] >= rest[1:])).any():
            return None
        return min(after_scan, int(ds[i:].min()))

    def _quiet_frame(self, name: str, facility: FacilityActor, frame: Frame, fr: _FrameRows,
                     seq: int) -> Derived:
        """What `FacilityActor.observe` does besides the sensors' state for a frame
        whose readings caused nothing: the seal's leaf, the balance's flows, and the
        facility model's step."""
        times = frame.times
        readings = list(zip(frame.sensors, times, map(float, frame.values)))
        ordered = times == sorted(times)
        if not ordered:
            readings.sort(key=_time_of)
        balance = facility.balance
        balance.seal_readings(readings, seq)
        if fr.flows:
            flows = fr.flows if ordered else sorted(fr.flows, key=times.__getitem__)
            for k in flows:
                balance.add_flow(frame.sensors[k], fr.roles[k], times[k], float(frame.values[k]),
                                 seq)
        caused: list = []
        if facility.model is not None and (now := facility.staleness.now) >= 0:
            rows = self._rows[name]
            found = facility.model.step(now, lambda: self._columns.latest(facility, rows))
            for event in facility.alerts.admit(found, now):
                facility.apply(event, now)
                caused.append((now, event))
        return Derived(_wrap(caused, seq) if caused else [], None,
                       {"frames": 1, "readings": len(times)})


def derive_batches(batches: list[tuple[Derivation, list[tuple[str, int, int, bytes]]]]
                   ) -> list[list[Derived]]:
    """`derive_batch` of each (derivation, messages) pair, and the same Derived each
    gives alone; the derivations that share their columns are judged together, round
    k taking the k-th message of every facility of all of them (each derivation's
    facilities have rows of their own, so nothing of one reaches another)."""
    outs: list[list[Derived | None]] = []
    groups: dict[int, list] = {}  # id of the columns: [(derivation, messages, out, facility, queue)]
    for d, messages in batches:
        out: list[Derived | None] = [None] * len(messages)
        outs.append(out)
        queues: dict[str, list[tuple[int, object]]] = {}
        for i, (subject, seq, arrived, data) in enumerate(messages):
            name, message, refused = _decode(subject, seq, arrived, data)
            if refused is not None:
                out[i] = refused
            else:
                queues.setdefault(name, []).append((i, message))
        if d.config.detector.likelihood:  # its histograms are not in the columns
            for name, queue in queues.items():
                for i, message in queue:
                    out[i] = d._derive(name, messages[i][1], messages[i][2], message)
            continue
        # a derivation without columns yet gets its own at its first gather (_gather)
        shared = d._columns if d._columns is not None else d
        groups.setdefault(id(shared), []).extend(
            (d, messages, out, name, queue) for name, queue in queues.items())
    for live in groups.values():
        k = 0
        while live:
            chosen, alone = [], []
            for d, messages, out, name, queue in live:
                i, message = queue[k]
                rows = d._quiet_candidate(name, message)
                if rows is None:
                    alone.append((d, name, message, messages[i], out, i))
                else:
                    chosen.append((d, name, message, rows, messages[i], out, i))
            if chosen:
                for (d, name, message, _, m, out, i), quiet in zip(chosen, _round(chosen)):
                    if quiet is None:
                        alone.append((d, name, message, m, out, i))
                    else:
                        out[i] = quiet
            # the rest, one reading at a time; their facilities rejoin the next round
            for d, name, message, (_, seq, arrived, _), out, i in alone:
                out[i] = d._derive(name, seq, arrived, message)
            k += 1
            live = [x for x in live if k < len(x[4])]
    return outs  # type: ignore[return-value]


def _round(chosen: list) -> list[Derived | None]:
    """Judge one frame of each chosen facility in columns; commit and derive the
    frames that cause nothing (a Derived each), leave the others (None). `chosen`
    holds (derivation, facility, frame, rows, message, ...), all derivations
    sharing one SensorColumns.

    A frame may hold several readings of a sensor (several steps of the plant):
    its k-th readings of each sensor, in time order, form layer k, judged after
    layer k-1 is committed. A frame found to need `observe` gets its rows back as
    they were before the round."""
    cols = chosen[0][0]._columns
    cfg = cols.config
    lengths = np.array([len(m.sensors) for _, _, m, *_ in chosen])
    starts = np.zeros(len(chosen), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    try:
        t = np.array([v for _, _, m, *_ in chosen for v in m.times], dtype=np.int64)
        x = np.array([v for _, _, m, *_ in chosen for v in m.values], dtype=np.float64)
    except (OverflowError, TypeError, ValueError):
        return [None] * len(chosen)
    rows = np.concatenate([r.rows for _, _, _, r, *_ in chosen])
    emit = np.concatenate([r.emit for _, _, _, r, *_ in chosen])
    layers = max(r.layers for _, _, _, r, *_ in chosen)
    saved = {name: col[rows] for name, col in cols.cols.items()}
    if layers == 1:
        needs, due, new = cols.judge(rows, t, x, emit)
        cols.commit(rows, new)
    else:
        needs = np.zeros(len(rows), dtype=bool)
        due = np.zeros(len(rows), dtype=np.int64)
        occurrence = np.concatenate([r.occurrence for _, _, _, r, *_ in chosen])
        for layer in range(layers):
            at = occurrence == layer
            needs[at], due[at], new = cols.judge(rows[at], t[at], x[at], emit[at])
            cols.commit(rows[at], new)
    # what the facility settles when its time moves on, once per frame
    facilities = [d.facilities[name] for d, name, *_ in chosen]
    first = np.minimum.reduceat(t, starts)
    latest = np.maximum.reduceat(t, starts)
    soonest = np.minimum.reduceat(due, starts)
    f = np.array([(fa.balance.start, fa.balance.end, fa.alerts.next_due, fa.staleness.now,
                   fa.staleness.due, m[2] + cfg.max_future_ms)
                  for (_, _, _, _, m, *_), fa in zip(chosen, facilities)], dtype=np.float64)
    start, end, next_due, now, watch_due, future = f.T
    ok = ~np.logical_or.reduceat(needs, starts)
    ok &= (first >= start) & (latest < end) & (latest < next_due) & (latest <= future)
    # the silence watch's due after the frame: where its time may reach the due
    # it had, it scans the facility's sensors in the frame's midst (StaleWatch.seen)
    watched = np.minimum(watch_due, soonest).tolist()
    for k in np.flatnonzero(ok & (np.maximum(now, latest) >= np.minimum(watch_due, soonest))):
        seg = slice(starts[k], starts[k] + lengths[k])
        d, name, _, fr, *_ = chosen[k]
        watched[k] = d._scan_in_frame(name, facilities[k].staleness, fr, t[seg], due[seg],
                                      {n: saved[n][seg] for n in _WATCHED})
        ok[k] = watched[k] is not None
    if not ok.all():
        back = np.repeat(~ok, lengths)
        undo = rows[back]
        for name, col in cols.cols.items():
            col[undo] = saved[name][back]
    out: list[Derived | None] = []
    for k, ((d, name, frame, fr, m, *_), facility) in enumerate(zip(chosen, facilities)):
        if not ok[k]:
            out.append(None)
            continue
        watch = facility.staleness
        watch.now = max(watch.now, int(latest[k]))
        watch.due = int(watched[k])
        out.append(d._quiet_frame(name, facility, frame, fr, m[1]))
        d.in_columns += 1
    return out


class _FrameRows:
    """A frame's sensors as rows: `rows`, `emit` (watched for hotspots), the positions
    of its flow readings with their roles, and each reading's `occurrence` (how many
    readings of its sensor come before it in the frame) with their number of layers."""

    __slots__ = ("emit", "flows", "layers", "local", "occurrence", "roles", "rows")

    def __init__(self, rows, emit, flows, roles, occurrence, local) -> None:
        self.rows, self.emit, self.flows, self.roles = rows, emit, flows, roles
        self.local = np.array(local, dtype=np.int64)  # the sensors' places in the facility
        self.occurrence = np.array(occurrence, dtype=np.int64)
        self.layers = max(occurrence) + 1


_UNSEEN = object()
_WATCHED = ("st_last", "grade", "after")


def _frame_rows(facility: FacilityActor, rows: np.ndarray, sensors: tuple[str, ...]
                ) -> _FrameRows | None:
    seen: dict[str, int] = {}
    occurrence = []
    for s in sensors:
        k = seen.get(s, 0)
        occurrence.append(k)
        seen[s] = k + 1
    index = {s: k for k, s in enumerate(facility.sensors)}
    positions = [index.get(s) for s in sensors]
    if None in positions or max(positions) >= len(rows):
        return None
    if facility.retired and not facility.retired.isdisjoint(sensors):
        return None  # refused one by one, by `observe`
    flows = [k for k, s in enumerate(sensors) if s in facility._flows]
    roles = {k: facility.sensors[sensors[k]].spec.role for k in flows}
    emit = np.array([s in facility._emitters for s in sensors], dtype=bool)
    return _FrameRows(rows[positions], emit, flows, roles, occurrence, positions)


def _decode(subject: str, seq: int, arrived: int, data: bytes):
    """(facility, message, None), or (facility, None, the Derived of a message refused
    whole). A message on a subject that may not carry it (`misfiled`: a command on a
    readings subject, say) is dead-lettered and causes nothing, as a message on
    another partition's subject is (`ShardHost._misplaced`): it never reached the
    facility, so the facility's record does not show it."""
    found = subject_facility(subject)
    if found is None:
        return subject, None, Derived([], (misfiled(None, subject), None), {"malformed": 1})
    facility_name = found[0]
    try:
        message = decode_wire(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        body = ReadingsRejected(facility=facility_name, count=0,
                                reasons={"malformed frame": 1})
        return facility_name, None, Derived(_wrap([(arrived, body)], seq),
                                            (f"malformed frame: {exc}", None), {"malformed": 1})
    if (reason := misfiled(message, subject)) is not None:
        return facility_name, None, Derived([], (reason, None), {"malformed": 1})
    if (facility_name == IDENTITY) != isinstance(message, IDENTITY_COMMANDS):
        # the reserved name takes identity commands only, and they go nowhere else
        reason = f"{type(message).__name__} on the subject of {facility_name!r}"
    elif message.facility != facility_name:
        reason = f"frame names facility {message.facility!r} on subject of {facility_name!r}"
    else:
        return facility_name, message, None
    body = ReadingsRejected(facility=facility_name, count=0, reasons={reason: 1})
    return facility_name, None, Derived(_wrap([(arrived, body)], seq), (reason, None))


def _wrap(caused: list, seq: int) -> list[Envelope]:
    return [
        Envelope.wrap(event, time=t, causation=Causation(CAUSE, seq, i))
        for i, (t, event) in enumerate(caused)
    ]
