"""Ledger positions: what one READINGS message caused, and the position at a time.

The HTTP layer publishes a command to READINGS and learns its stream sequence; the
events it caused carry that sequence as their causation, which is how the command's
outcome is found. `seq_at` turns a time into a ledger position for `as_of` views.
"""

from __future__ import annotations

from typing import Any

from plumeline.projections import _params
from plumeline.projections.store import Store

__all__ = ["caused_by", "seq_at", "seq_of"]


def caused_by(store: Store, seq: int, stream: str = "readings") -> list[dict[str, Any]]:
    """The ledger rows caused by message `seq` of `stream`, in ledger order."""
    if not _params.is_int(seq) or seq < 1:
        raise ValueError(f"seq must be a positive integer, got {seq!r}")
    rows = store.rows(
        "SELECT seq, event_id, type, facility, sensor, toUnixTimestamp64Milli(time) AS time_ms,"
        " record FROM ledger FINAL WHERE causation_stream = {stream:String}"
        " AND causation_seq = {seq:UInt64} ORDER BY seq",
        {"stream": stream, "seq": seq},
    )
    return [_params.times(r) for r in rows]


def seq_at(store: Store, time_ms: int) -> int:
    """The last ledger position whose event time is at or before `time_ms` (0: none).

    Event times are not monotonic in the ledger (facilities run at their own clocks),
    so this is the newest record stamped no later than the time, not a cut through
    time: records before it may be stamped later.
    """
    if not _params.is_int(time_ms):
        raise ValueError(f"time must be epoch milliseconds, got {time_ms!r}")
    rows = store.rows(
        "SELECT max(seq) AS seq FROM ledger WHERE time <= fromUnixTimestamp64Milli({t:Int64})",
        {"t": time_ms},
    )
    return int(rows[0]["seq"]) if rows else 0


def seq_of(store: Store, event_id: str) -> int | None:
    """The ledger position of event `event_id`; None if it is not (yet) projected."""
    rows = store.rows(
        "SELECT seq FROM ledger FINAL WHERE event_id = {id:String} LIMIT 1",
        {"id": _params.text("event_id", event_id)},
    )
    return int(rows[0]["seq"]) if rows else None
