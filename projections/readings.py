"""Raw readings in ClickHouse: the readings of READINGS the actors accept, by facility,
sensor and time, so history, latest values and per-minute roll-ups are one query away.

A projection of READINGS rather than of the ledger (readings are not domain events).
Rows are keyed (facility, sensor, time) in a ReplacingMergeTree, so a frame applied
twice changes nothing; the checkpoint is the last READINGS sequence applied.

A packed frame (frame.v2) is read as views of its bytes and its sensor table mapped to
ids once per table, so no Python runs per reading from the message to the Native
block; a version-1 frame's msgpack lists are read in place where they hold 8-byte
numbers. A frame outside the wire schema's bounds is dropped whole, and a reading the actors
refuse by the stateless rule (events/acceptance.py: a value not finite, a time past
its message's stored time + `max_future_ms`) is dropped, as columns: what the actors
refuse for their state (an unknown sensor, a time not after the sensor's last) is not
judged here.
"""

from __future__ import annotations

import msgspec
import numpy as np

from plumeline.events import (
    EARLIEST_MS,
    LATEST_MS,
    MAX_FUTURE_MS,
    MAX_READINGS,
    Frame,
    Name,
    PackedFrame,
    accepted,
    decode_wire,
)
from plumeline.events.acceptance import MAX_NAME
from plumeline.events.frame_columns import MalformedFrame, columns_of
from plumeline.projections import native
from plumeline.projections.projector import SequenceGap, stored_checkpoint
from plumeline.projections.store import Store

__all__ = ["READINGS_TABLE", "RESOLUTIONS", "ReadingsProjector", "latest_readings", "sensor_history"]

READINGS_TABLE = "readings"
_COLUMNS = ["facility", "sensor", "time", "value", "seq"]
_TYPES = ["LowCardinality(String)", "LowCardinality(String)", "DateTime64(3, 'UTC')",
          "Float64", "UInt64"]
_DDL = f"""
CREATE TABLE IF NOT EXISTS {READINGS_TABLE} (
    facility LowCardinality(String),
    sensor LowCardinality(String),
    time DateTime64(3, 'UTC'),
    value Float64,
    seq UInt64
) ENGINE = ReplacingMergeTree ORDER BY (facility, sensor, time)
"""


class _RawFrame(msgspec.Struct, tag="frame"):
    """A Frame whose columns are left as msgpack bytes, to be read by numpy."""

    facility: Name
    sensors: msgspec.Raw
    times: msgspec.Raw
    values: msgspec.Raw


_packed_frames = msgspec.msgpack.Decoder(PackedFrame)
_raw_frames = msgspec.msgpack.Decoder(_RawFrame)
_names = msgspec.msgpack.Decoder(list[str])
_FLOAT64, _UINT64, _INT64 = 0xCB, 0xCF, 0xD3  # msgpack tags of 8-byte values
# Remembered between batches, and forgotten past these sizes: a facility sends the same
# list of sensors in most of its frames.
_KNOWN_LISTS, _KNOWN_NAMES = 4096, 100_000


class ReadingsProjector:
    name = "readings"

    def __init__(self, store: Store, max_future_ms: int = MAX_FUTURE_MS) -> None:
        self.store = store
        self.max_future_ms = max_future_ms  # the actors' FacilityConfig.max_future_ms
        self._checkpoint: int | None = None
        self._ids: dict[str, int] = {}  # sensor name -> id, for arrays of names
        self._names: list[str] = []  # id -> sensor name
        # a msgpack list of names (version 1), or a packed frame's table -> their ids
        self._lists: dict[bytes | tuple[str, ...], np.ndarray] = {}

    def ensure_schema(self) -> None:
        self.store.command(_DDL)

    def checkpoint(self) -> int:
        if self._checkpoint is None:
            self._checkpoint = stored_checkpoint(self.store, self.name)
        return self._checkpoint

    def apply(self, messages: list[tuple[int, bytes]], stored: list[int] | None = None,
              subjects: list[str] | None = None) -> int:
        """(READINGS seq, payload) in seq order; frames become one Native insert.
        `stored` holds each message's JetStream timestamp in ms, the "now" of the
        acceptance rule (None: no time is judged in the future, for callers that have
        no stream), `subjects` each message's subject: a frame naming a facility other
        than its subject's is refused, as the actors refuse it (None: not judged).
        Malformed messages, manifests and refused readings are not readings to keep
        (the shard hosts dead-letter them)."""
        if len(self._lists) > _KNOWN_LISTS or len(self._names) > _KNOWN_NAMES:
            self._ids, self._names, self._lists = {}, [], {}
        frames: list[tuple[int, str, np.ndarray, np.ndarray, np.ndarray]] = []
        futures: list[int] = []
        last = start = self.checkpoint()
        for k, (s, payload) in enumerate(messages):
            if s <= last:
                continue
            if s != last + 1:  # READINGS keeps every message: a gap is a lost delivery
                raise SequenceGap(expected=last + 1, got=s)
            last = s
            if (columns := self._columns(payload)) is not None and (
                    subjects is None or subjects[k].split(".", 2)[-1] == columns[0]):
                frames.append((s, *columns))
                futures.append(LATEST_MS if stored is None else stored[k] + self.max_future_ms)
        if last == start:
            return 0
        if block := self._block(frames, futures):
            # The block is sorted by the table's key and holds one row per key, so the
            # engine has nothing to sort or replace on insert (optimize_on_insert).
            self.store.insert_native(READINGS_TABLE, _COLUMNS, block, {"optimize_on_insert": 0})
        self.store.insert_columns("checkpoints", [[self.name], [last]],
                                  ["projection", "seq"], ["String", "UInt64"])
        self._checkpoint = last
        return last - start

    def skip(self, seq: int) -> None:
        """Move past message `seq`, which cannot be applied (the runner dead-letters it)."""
        if seq == self.checkpoint() + 1:
            self.store.insert_columns("checkpoints", [[self.name], [seq]],
                                      ["projection", "seq"], ["String", "UInt64"])
            self._checkpoint = seq

    def _columns(self, payload: bytes) -> tuple[str, np.ndarray, np.ndarray, np.ndarray] | None:
        """A frame as (facility, sensor ids, times, values), or None if it is not one.
        A packed frame's columns are views of its bytes. Of a version-1 frame, columns
        of 8-byte msgpack numbers, which msgspec wrote for epoch milliseconds and
        floats, are read by numpy in place; anything else takes the full decoder."""
        try:
            packed = _packed_frames.decode(payload)
        except (msgspec.DecodeError, msgspec.ValidationError):
            packed = None
        if packed is not None:
            try:
                columns = columns_of(packed)
            except MalformedFrame:
                return None  # the actors find the frame malformed
            table = tuple(packed.names)
            if (ids := self._lists.get(table)) is None:
                ids = self._lists[table] = self._sensor_ids(packed.names)
            return packed.facility, ids[columns.index], columns.times, columns.values
        try:
            raw = _raw_frames.decode(payload)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raw = None
        if raw is not None:
            ids = self._list_ids(raw.sensors)
            times = _eight_byte(raw.times, ">i8", (_INT64, _UINT64))
            values = _eight_byte(raw.values, ">f8", (_FLOAT64,))
            if ids is not None and times is not None and values is not None \
                    and len(ids) == len(times) == len(values):
                if not _in_schema(times):
                    return None  # the actors find the frame malformed
                return raw.facility, ids, times, values
        try:
            message = decode_wire(payload)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        if not isinstance(message, Frame):
            return None
        return (message.facility, self._sensor_ids(message.sensors),
                np.array(message.times, np.int64), np.array(message.values, np.float64))

    def _list_ids(self, raw: msgspec.Raw) -> np.ndarray | None:
        key = bytes(raw)
        if (ids := self._lists.get(key)) is None:
            try:
                names = _names.decode(raw)
            except (msgspec.DecodeError, msgspec.ValidationError):
                return None
            if len(names) > MAX_READINGS or any(len(n) > MAX_NAME for n in names):
                return None  # outside the schema; the full decoder refuses it too
            ids = self._lists[key] = self._sensor_ids(names)
        return ids

    def _sensor_ids(self, names: list[str]) -> np.ndarray:
        ids = self._ids
        for n in names:
            if n not in ids:
                ids[n] = len(self._names)
                self._names.append(n)
        return np.fromiter(map(ids.__getitem__, names), np.intp, len(names))

    def _block(self, frames: list[tuple[int, str, np.ndarray, np.ndarray, np.ndarray]],
               futures: list[int]) -> bytes:
        """One Native block of the frames' accepted readings, sorted by (facility,
        sensor, time) with only the last of equal keys kept: the rows
        ReplacingMergeTree's own sort and merge on insert would leave."""
        if not frames:
            return b""
        seqs, facilities, ids, times, values = zip(*frames)
        counts = [len(v) for v in values]
        values = np.concatenate(values)
        time = np.concatenate(times).astype(np.int64)
        keep = accepted(time, values, np.repeat(np.array(futures, np.int64), counts))
        if not keep.any():
            return b""
        facility_keys = sorted(set(facilities))
        where = {f: i for i, f in enumerate(facility_keys)}
        facility = np.repeat(np.fromiter(map(where.__getitem__, facilities), np.intp,
                                         len(facilities)), counts)[keep]
        seq = np.repeat(np.array(seqs, np.uint64), counts)[keep]
        ids = np.concatenate(ids)[keep]
        time = time[keep]
        values = values[keep]
        # Codes in the order of the names, so that sorting codes sorts the strings.
        present = np.flatnonzero(np.bincount(ids))
        sensor_keys = [self._names[i] for i in present.tolist()]
        order = sorted(range(len(sensor_keys)), key=sensor_keys.__getitem__)
        rank = np.empty(len(self._names), np.intp)
        rank[present[order]] = np.arange(len(order))
        sensor = rank[ids]
        sensor_keys = [sensor_keys[i] for i in order]
        rows = _sorted(facility, sensor, len(sensor_keys), time)
        facility, sensor, time = facility[rows], sensor[rows], time[rows]
        last = np.ones(len(rows), bool)  # of equal keys, the last one
        last[:-1] = (facility[1:] != facility[:-1]) | (sensor[1:] != sensor[:-1]) | (
            time[1:] != time[:-1])
        rows = rows[last]
        return native.block(len(rows), [
            ("facility", _TYPES[0], native.low_cardinality(facility_keys, facility[last])),
            ("sensor", _TYPES[1], native.low_cardinality(sensor_keys, sensor[last])),
            ("time", _TYPES[2], native.fixed(time[last], "<i8")),
            ("value", _TYPES[3], native.fixed(values[rows], "<f8")),
            ("seq", _TYPES[4], native.fixed(seq[rows], "<u8")),
        ])

    def reset(self) -> None:
        self.store.command(f"DROP TABLE IF EXISTS {READINGS_TABLE}")
        self._checkpoint = 0
        self.ensure_schema()


def _sorted(facility: np.ndarray, sensor: np.ndarray, sensors: int, time: np.ndarray) -> np.ndarray:
    """The order of rows by (facility, sensor, time), equal keys kept in their order.
    One stable argsort of the three packed into an int64 where they fit (a batch spans
    seconds), else lexsort."""
    lo = int(time.min())
    span = int(time.max()) - lo + 1
    if (int(facility.max()) + 1) * sensors * span < 2**63:
        key = (facility * sensors + sensor) * span + (time - lo)
        return np.argsort(key, kind="stable")
    return np.lexsort((time, sensor, facility))


def _in_schema(times: np.ndarray) -> bool:
    """Every time within the wire schema's bounds (events/acceptance.py)."""
    return not len(times) or (int(times.min()) >= EARLIEST_MS and int(times.max()) <= LATEST_MS)


def _eight_byte(raw: msgspec.Raw, dtype: str, tags: tuple[int, ...]) -> np.ndarray | None:
    """The numbers of a msgpack array whose every element is a tag in `tags` and 8 bytes
    big-endian, as a view of `dtype`; None for any other array. Unsigned values must fit
    in int64 (an epoch in milliseconds does)."""
    data = np.frombuffer(raw, np.uint8)
    if not len(data):
        return None
    head = int(data[0])
    if head & 0xF0 == 0x90:
        n, at = head & 0x0F, 1
    elif head in (0xDC, 0xDD):
        at = 3 if head == 0xDC else 5
        n = int.from_bytes(data[1:at].tobytes(), "big")
    else:
        return None
    if len(data) != at + 9 * n:
        return None
    if n == 0:
        return np.empty(0, dtype)
    tag = data[at::9]
    ok = tag == tags[0]
    if len(tags) > 1:
        ok |= (tag == tags[1]) & (data[at + 1::9] < 0x80)
    if not ok.all():
        return None
    return np.ndarray((n,), dtype, data, at + 1, (9,))


def latest_readings(store: Store, facility: str) -> list[dict]:
    """The newest reading of every sensor of a facility."""
    return store.rows(
        f"SELECT sensor, argMax(value, time) AS value, "
        f"toUnixTimestamp64Milli(max(time)) AS time_ms FROM {READINGS_TABLE} "
        "WHERE facility = {facility:String} GROUP BY sensor ORDER BY sensor",
        {"facility": facility},
    )


RESOLUTIONS = {"raw": 0, "1m": 60, "1h": 3600}


def sensor_history(store: Store, facility: str, sensor: str, from_ms: int, to_ms: int,
                   resolution: str = "1m", limit: int = 10_000) -> list[dict]:
    """A sensor's readings in [from_ms, to_ms): raw, or averaged per minute or hour."""
    if resolution not in RESOLUTIONS:
        raise ValueError(f"resolution must be one of {', '.join(RESOLUTIONS)}, got {resolution!r}")
    params = {"f": facility, "s": sensor, "lo": from_ms, "hi": to_ms, "n": limit}
    where = ("facility = {f:String} AND sensor = {s:String} "
             "AND time >= fromUnixTimestamp64Milli({lo:Int64}) "
             "AND time < fromUnixTimestamp64Milli({hi:Int64})")
    if resolution == "raw":
        sql = (f"SELECT toUnixTimestamp64Milli(time) AS time_ms, value FROM {READINGS_TABLE} "
               f"FINAL WHERE {where} ORDER BY time LIMIT {{n:UInt32}}")
    else:
        step = RESOLUTIONS[resolution]
        sql = (f"SELECT toUnixTimestamp(toStartOfInterval(time, INTERVAL {step} SECOND)) * 1000 "
               f"AS time_ms, avg(value) AS mean, min(value) AS min, max(value) AS max, "
               f"count() AS readings FROM {READINGS_TABLE} FINAL WHERE {where} "
               f"GROUP BY time_ms ORDER BY time_ms LIMIT {{n:UInt32}}")
    return store.rows(sql, params)
