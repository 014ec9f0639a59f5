"""Raw readings in ClickHouse: every accepted-looking reading of READINGS, by facility,
sensor and time, so history, latest values and per-minute roll-ups are one query away.

A projection of READINGS rather than of the ledger (readings are not domain events).
Rows are keyed (facility, sensor, time) in a ReplacingMergeTree, so a frame applied
twice changes nothing; the checkpoint is the last READINGS sequence applied.
"""

from __future__ import annotations

import math

import msgspec

from events import Frame, decode_wire
from projections.projector import SequenceGap, stored_checkpoint
from projections.store import Store

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


class ReadingsProjector:
    name = "readings"

    def __init__(self, store: Store) -> None:
        self.store = store
        self._checkpoint: int | None = None

    def ensure_schema(self) -> None:
        self.store.command(_DDL)

    def checkpoint(self) -> int:
        if self._checkpoint is None:
            self._checkpoint = stored_checkpoint(self.store, self.name)
        return self._checkpoint

    def apply(self, messages: list[tuple[int, bytes]]) -> int:
        """(READINGS seq, payload) in seq order; frames become one columnar insert.
        Malformed messages, manifests and non-finite values are not readings to keep
        (the shard hosts dead-letter them)."""
        facility, sensor, time, value, seq = [], [], [], [], []
        last = start = self.checkpoint()
        for s, payload in messages:
            if s <= last:
                continue
            if s != last + 1:  # READINGS keeps every message: a gap is a lost delivery
                raise SequenceGap(expected=last + 1, got=s)
            last = s
            try:
                message = decode_wire(payload)
            except (msgspec.DecodeError, msgspec.ValidationError):
                continue
            if not isinstance(message, Frame):
                continue
            n = len(message.values)
            if not all(map(math.isfinite, message.values)):
                keep = [i for i, v in enumerate(message.values) if math.isfinite(v)]
                message = Frame(message.facility, [message.sensors[i] for i in keep],
                                [message.times[i] for i in keep],
                                [message.values[i] for i in keep])
                n = len(keep)
            facility += [message.facility] * n
            sensor += message.sensors
            time += message.times
            value += message.values
            seq += [s] * n
        if last == start:
            return 0
        if value:
            self.store.insert_columns(READINGS_TABLE, [facility, sensor, time, value, seq],
                                      _COLUMNS, _TYPES)
        self.store.insert_columns("checkpoints", [[self.name], [last]],
                                  ["projection", "seq"], ["String", "UInt64"])
        self._checkpoint = last
        return last - start

    def reset(self) -> None:
        self.store.command(f"DROP TABLE IF EXISTS {READINGS_TABLE}")
        self._checkpoint = 0
        self.ensure_schema()


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
