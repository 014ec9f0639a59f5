"""Silences in force: SilenceStarted records read from the ledger table.

A silence holds for (facility, sensor) until the latest `until_ms` any SilenceStarted
gave it (the alert book keeps the maximum, actors/alerts.py); sensor "" silences the
whole facility. Whether it is still in force is judged at a time the caller gives,
since a silence ends by the clock, not by a record.
"""

from __future__ import annotations

from typing import Any

from plumeline.projections import _params
from plumeline.projections.store import Store

__all__ = ["silences"]

_SQL = """
SELECT facility, sensor, max(until) AS until_ms,
       argMax(reason, until) AS reason, argMax(user, until) AS user,
       argMax(seq, until) AS seq, toUnixTimestamp64Milli(argMax(time, until)) AS started_at_ms
FROM (
    SELECT facility, sensor, seq, time,
           JSONExtractInt(record, 'event', 'body', 'until_ms') AS until,
           JSONExtractString(record, 'event', 'body', 'reason') AS reason,
           JSONExtractString(record, 'event', 'body', 'user') AS user
    FROM ledger FINAL
    WHERE type = 'silence.started' AND seq <= {as_of:UInt64}
      AND ({facility:String} = '' OR facility = {facility:String})
)
GROUP BY facility, sensor
HAVING until_ms > {at:Int64}
ORDER BY facility, sensor
"""


def silences(store: Store, at_ms: int, facility: str | None = None,
             as_of_seq: int | None = None) -> list[dict[str, Any]]:
    """Silences in force at `at_ms` (epoch ms), by facility and sensor."""
    if not _params.is_int(at_ms) or not 0 <= at_ms < 2**62:
        raise ValueError(f"at must be epoch milliseconds, got {at_ms!r}")
    rows = store.rows(_SQL, {"at": at_ms, "facility": _params.text("facility", facility),
                             "as_of": _params.as_of(as_of_seq)})
    return [_params.times(r) for r in rows]
