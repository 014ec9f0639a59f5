"""What operators and auditors read: plain dicts and lists, ready for JSON.

Current state is derived here, at query time, from the fact rows; so every view can
also be asked "as of ledger position n" (`as_of_seq`), which keeps only rows with
seq <= n. Readers tolerate rows not yet merged: simple tables are read with FINAL,
lifecycles with GROUP BY and duplicate-insensitive aggregates (max, argMax).

Times come as ISO-8601 UTC (`..._at`, `time`) and epoch ms (`..._ms`). Every value
from a caller is bound as a `{name:Type}` parameter; the SQL text is constant. The
alert view lives in `alerts.py` and is re-exported here, so this module is the one
place to look a query up.
"""

from __future__ import annotations

from typing import Any

from plumeline.projections import _params
from plumeline.projections._params import MAX_LIMIT
from plumeline.projections.alerts import ALERT_STATES, SEVERITIES, alert, alerts
from plumeline.projections.projector import ledger_checkpoint
from plumeline.projections.schema import TABLES
from plumeline.projections.store import Store

__all__ = [
    "ALERT_STATES",
    "MAX_LIMIT",
    "SEVERITIES",
    "alert",
    "alerts",
    "facilities",
    "hotspots",
    "ledger_events",
    "projection_status",
    "rejections_summary",
]


def hotspots(
    store: Store, facility: str | None = None, limit: int = 100, as_of_seq: int | None = None
) -> list[dict[str, Any]]:
    """Hotspots, newest first."""
    rows = store.rows(
        "SELECT event_id, seq, facility, sensor, quantity, unit,"
        " toUnixTimestamp64Milli(time) AS time_ms, value, baseline, excess_ratio"
        " FROM hotspots FINAL WHERE seq <= {as_of:UInt64}"
        " AND ({facility:String} = '' OR facility = {facility:String})"
        " ORDER BY seq DESC LIMIT {limit:UInt32}",
        {
            "facility": _params.text("facility", facility),
            "limit": _params.limit(limit),
            "as_of": _params.as_of(as_of_seq),
        },
    )
    return [_params.times(r) for r in rows]


def ledger_events(store: Store, from_seq: int, to_seq: int) -> list[dict[str, Any]]:
    """Ledger records from_seq..to_seq inclusive, with their exact canonical JSON."""
    if not (_params.is_int(from_seq) and _params.is_int(to_seq) and 1 <= from_seq <= to_seq):
        raise ValueError(f"need integers 1 <= from_seq <= to_seq, got {from_seq!r}, {to_seq!r}")
    if to_seq - from_seq >= MAX_LIMIT:
        raise ValueError(f"at most {MAX_LIMIT} ledger records per request")
    rows = store.rows(
        "SELECT seq, event_id, type, facility, sensor, toUnixTimestamp64Milli(time) AS time_ms,"
        " causation_stream, causation_seq, causation_index, leaf_hash, record"
        " FROM ledger FINAL WHERE seq BETWEEN {lo:UInt64} AND {hi:UInt64} ORDER BY seq",
        {"lo": from_seq, "hi": to_seq},
    )
    out = []
    for r in rows:
        r = _params.times(r)
        r["causation"] = {
            "stream": r.pop("causation_stream"),
            "seq": r.pop("causation_seq"),
            "index": r.pop("causation_index"),
        }
        out.append(r)
    return out


def facilities(store: Store, as_of_seq: int | None = None) -> list[dict[str, Any]]:
    """Registered facilities, each with its registered sensors (not the retired:
    `roster.sensors` lists those too)."""
    params = {"as_of": _params.as_of(as_of_seq)}
    found = {
        f["facility"]: {**_params.times(f), "sensors": []}
        for f in store.rows(
            "SELECT facility, argMax(name, seq) AS name, argMax(kind, seq) AS kind,"
            " toUnixTimestamp64Milli(min(time)) AS registered_at_ms FROM facilities"
            " WHERE seq <= {as_of:UInt64} GROUP BY facility ORDER BY facility",
            params,
        )
    }
    for s in store.rows(
        "SELECT facility, sensor, argMax(quantity, seq) AS quantity, argMax(unit, seq) AS unit,"
        " argMax(role, seq) AS role FROM sensors WHERE seq <= {as_of:UInt64}"
        " GROUP BY facility, sensor HAVING argMax(retired, seq) = 0"
        " ORDER BY facility, sensor",
        params,
    ):
        # A sensor registered before its facility still shows, under a nameless facility.
        owner = found.setdefault(
            s["facility"],
            {
                "facility": s["facility"],
                "name": None,
                "kind": None,
                "registered_at": None,
                "registered_at_ms": None,
                "sensors": [],
            },
        )
        owner["sensors"].append({k: s[k] for k in ("sensor", "quantity", "unit", "role")})
    return sorted(found.values(), key=lambda f: f["facility"])


def rejections_summary(store: Store, as_of_seq: int | None = None) -> dict[str, Any]:
    """Refused readings per facility and reason (the readings are in DEADLETTER)."""
    rows = store.rows(
        "SELECT facility, count() AS frames, sum(count) AS readings, sumMap(reasons) AS reasons,"
        " toUnixTimestamp64Milli(max(time)) AS last_at_ms FROM rejections FINAL"
        " WHERE seq <= {as_of:UInt64} GROUP BY facility ORDER BY facility",
        {"as_of": _params.as_of(as_of_seq)},
    )
    reasons: dict[str, int] = {}
    for r in rows:
        for reason, n in r["reasons"].items():
            reasons[reason] = reasons.get(reason, 0) + n
    return {
        "readings": sum(r["readings"] for r in rows),
        "frames": sum(r["frames"] for r in rows),
        "reasons": dict(sorted(reasons.items())),
        "facilities": [_params.times(r) for r in rows],
    }


def projection_status(store: Store) -> dict[str, Any]:
    """How far the projection of the ledger has got and how many rows each table holds."""
    # Table names come from the schema, never from a caller.
    counts = store.rows(
        " UNION ALL ".join(f"SELECT '{t}' AS t, count() AS n FROM {t} FINAL" for t in TABLES)
    )
    return {
        "projection": "ledger",
        "store": store.where,
        "checkpoint": ledger_checkpoint(store),
        "rows": {r["t"]: int(r["n"]) for r in sorted(counts, key=lambda r: TABLES.index(r["t"]))},
    }
