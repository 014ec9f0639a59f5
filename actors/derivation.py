"""Derivation: from one READINGS message to the domain events it causes. No I/O.

This is the whole of what a shard host decides; the host only adds NATS around it
(consume, append to the ledger, acknowledge, dead-letter). Keeping it pure is what
lets `plumeline audit replay` re-run the actors over READINGS in one process, without
NATS consumers or Ray, and compare with the ledger: the same code, the same events.
A message is read in actors/intake.py; batches of quiet frames are judged together in
actors/rounds.py.
"""

from __future__ import annotations

import numpy as np

from plumeline.actors.columns import SensorColumns
from plumeline.actors.facility import FacilityActor, FacilityConfig, time_of
from plumeline.actors.identity import record
from plumeline.actors.intake import (
    CAUSE,
    Derived,
    FrameColumns,
    PackedColumns,
    decode_message,
    wrap,
)
from plumeline.actors.rounds import FrameRows, derive_batches, frame_rows
from plumeline.events import (
    IDENTITY_COMMANDS,
    SENSOR_COMMANDS,
    Frame,
    Manifest,
    ReadingsRejected,
    encode_wire,
)

__all__ = ["CAUSE", "Derivation", "Derived", "derive_batches"]


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
        self.columns = columns
        self.rows: dict[str, np.ndarray] = {}  # facility: its sensors' rows, in order
        self._in_columns: set[str] = set()  # facilities whose state the columns hold
        # facility: frame key (FrameColumns.key): its rows, or None if it has none
        self._frames: dict[str, dict[tuple, FrameRows | None]] = {}
        self.in_columns = 0  # frames judged in the columns (the rest: one reading at a time)

    def derive(self, subject: str, seq: int, arrived: int, data: bytes) -> Derived:
        """Message `seq` of READINGS on `subject`, stored at `arrived` (ms, the
        stream's timestamp, the same on every replay), applied to its facility."""
        facility_name, message, refused = decode_message(subject, seq, arrived, data)
        if refused is not None:
            return refused
        return self.derive_message(facility_name, seq, arrived, message)

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
        if self.columns is not None:
            for rows in self.rows.values():
                self.columns.release(rows)
        self.rows, self._in_columns, self._frames = {}, set(), {}

    def settle(self, facility: str | None = None) -> None:
        """Copy the columns' state back into the facility's objects (every facility's
        when None), which from then on hold it alone."""
        names = list(self._in_columns) if facility is None else [facility]
        for name in names:
            if name in self._in_columns:
                self.columns.scatter(self.facilities[name], self.rows[name])
                self._in_columns.discard(name)

    def derive_message(self, facility_name: str, seq: int, arrived: int, message) -> Derived:
        """A decoded message (`intake.decode_message`) through its facility's actors."""
        if isinstance(message, IDENTITY_COMMANDS):  # no facility's: recorded as it is
            return Derived(wrap([(message.time, record(message))], seq), None,
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
            case FrameColumns():
                packed = message.data if isinstance(message, PackedColumns) else None
                caused, rejected = facility.observe(message.as_frame(), arrived, seq, packed)
                refused = len(rejected.reasons) if rejected else 0
                counts = {"frames": 1, "readings": len(message) - refused}
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
        return Derived(wrap(caused, seq), deadletter, counts, rejected)

    def quiet_rows(self, name: str, message) -> FrameRows | None:
        """The rows of a frame the columns may judge (a frame of a known facility with
        an open window, naming only sensors it knows, a sensor's readings in time
        order), its facility's state then in the columns; None for anything else."""
        facility = self.facilities.get(name)
        if facility is None or not isinstance(message, FrameColumns) or not len(message):
            return None
        if facility.balance.start < 0:
            return None
        key = message.key
        rows = self._frames.get(name, {}).get(key, _UNSEEN)
        if rows is None:
            return None
        if name not in self._in_columns:
            self._gather(name)
        if rows is _UNSEEN:
            frames = self._frames.setdefault(name, {})
            if len(frames) >= 256:  # frames of ever-changing sensor sets
                frames.clear()
            rows = frames[key] = frame_rows(facility, self.rows[name], message)
            if rows is None:
                return None
        if rows.layers > 1 and not _ordered(message.times):
            return None  # a sensor's readings would be taken out of their order
        return rows

    def _gather(self, name: str) -> None:
        facility = self.facilities[name]
        if self.columns is None:
            self.columns = SensorColumns(self.config)
        rows = self.rows.get(name, np.empty(0, dtype=np.int64))
        if len(rows) < len(facility.sensors):  # sensors registered since
            rows = self.rows[name] = np.concatenate(
                [rows, self.columns.add_rows(len(facility.sensors) - len(rows))])
        self.columns.gather(facility, rows)
        self._in_columns.add(name)

    def quiet_frame(self, name: str, facility: FacilityActor, frame: FrameColumns,
                    fr: FrameRows, seq: int) -> Derived:
        """What `FacilityActor.observe` does besides the sensors' state for a frame
        whose readings caused nothing: the seal's leaf, the balance's flows, and the
        facility model's step. The columns take a frame only whole and inside the open
        window, so a packed frame's leaf takes it whole: its bytes and one run, no
        Python per reading."""
        ordered = _ordered(frame.times)
        balance = facility.balance
        if isinstance(frame, PackedColumns):
            balance.seal_frame(frame.data, [(0, len(frame))], seq)
        else:
            readings = frame.readings()
            balance.seal_readings(readings if ordered else sorted(readings, key=time_of), seq)
        if fr.flows:
            flows = fr.flows if ordered else sorted(fr.flows, key=frame.times.__getitem__)
            names, index, times, values = frame.names, frame.index, frame.times, frame.values
            for k in flows:
                balance.add_flow(names[index[k]], fr.roles[k], int(times[k]),
                                 float(values[k]), seq)
        caused: list = []
        if facility.model is not None and (now := facility.staleness.now) >= 0:
            rows = self.rows[name]
            found = facility.model.step(now, lambda: self.columns.latest(facility, rows))
            for event in facility.alerts.admit(found, now):
                facility.apply(event, now)
                caused.append((now, event))
        return Derived(wrap(caused, seq) if caused else [], None,
                       {"frames": 1, "readings": len(frame)})


def _ordered(times: np.ndarray) -> bool:
    return bool((times[1:] >= times[:-1]).all())


_UNSEEN = object()
