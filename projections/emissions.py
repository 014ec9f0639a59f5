"""The carbon balance read back: the latest window per facility, totals over a period,
per-minute and per-hour figures, and the auditor's report.

Sealed windows come from `emissions` (one EmissionsMeasured record each, so every
figure names the ledger seq it rests on). The window still open has no ledger record
yet; it is estimated from the raw `readings` projection as each flow sensor's mean rate
(t/h) times the time it has reported in the window, and always marked `"sealed": false`. Per-minute figures
are estimated the same way; per-hour figures are the sealed windows.
"""

from __future__ import annotations

from typing import Any

from plumeline.projections import _params
from plumeline.projections.readings import READINGS_TABLE
from plumeline.projections.store import Store

__all__ = ["FLOWS", "emissions_current", "emissions_recent", "emissions_report", "emissions_summary",
           "facility_metrics"]

FLOWS = ("emitted", "captured", "stored", "vented")
_MS_PER_HOUR = 3_600_000
_MAX_SPAN_MS = 366 * 86_400_000  # a year and a day: enough for an annual report
MAX_RECENT_H = 24 * 31  # hourly windows per facility in one answer of emissions_recent

_WINDOWS = (
    "SELECT facility, toUnixTimestamp64Milli(window_start) AS window_start_ms,"
    " toUnixTimestamp64Milli(window_end) AS window_end_ms, seq, emitted_t, captured_t,"
    " stored_t, vented_t, capture_efficiency, readings, first_seq AS readings_first_seq,"
    " last_seq AS readings_last_seq FROM emissions FINAL WHERE seq <= {as_of:UInt64}"
)

# Each flow sensor's readings since `open_from` of its facility, with the sensor's role.
_OPEN = f"""
SELECT r.facility AS facility, s.role AS role, r.sensor AS sensor,
       avg(r.value) AS rate, count() AS readings,
       toUnixTimestamp64Milli(min(r.time)) AS first_ms,
       toUnixTimestamp64Milli(max(r.time)) AS last_ms
FROM {READINGS_TABLE} AS r FINAL
INNER JOIN (
    SELECT facility, sensor, argMax(role, seq) AS role FROM sensors
    GROUP BY facility, sensor
) AS s ON r.facility = s.facility AND r.sensor = s.sensor
LEFT JOIN (
    SELECT facility, toUnixTimestamp64Milli(max(window_end)) AS open_from
    FROM emissions FINAL GROUP BY facility
) AS e ON r.facility = e.facility
WHERE s.role IN {FLOWS!r} AND toUnixTimestamp64Milli(r.time) >= e.open_from
GROUP BY facility, role, sensor
"""


def _window(r: dict[str, Any]) -> dict[str, Any]:
    return _params.times({**r, "sealed": True})


def _efficiency(captured: float, emitted: float) -> float:
    return round(captured / emitted, 6) if emitted > 0 else 0.0


def _totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out = {f"{flow}_t": round(sum(r[f"{flow}_t"] for r in rows), 6) for flow in FLOWS}
    out["capture_efficiency"] = _efficiency(out["captured_t"], out["emitted_t"])
    out["readings"] = sum(r["readings"] for r in rows)
    out["windows"] = len(rows)
    return out


def _open_windows(store: Store) -> dict[str, dict[str, Any]]:
    """The estimate of each facility's open window, from the raw readings."""
    by_facility: dict[str, list[dict[str, Any]]] = {}
    for r in store.rows(_OPEN):
        by_facility.setdefault(r["facility"], []).append(r)
    out = {}
    for facility, sensors in by_facility.items():
        first = min(s["first_ms"] for s in sensors)
        start = first - first % _MS_PER_HOUR
        last = max(s["last_ms"] for s in sensors)
        tonnes = {flow: 0.0 for flow in FLOWS}
        for s in sensors:  # each sensor over the time it has been reporting
            tonnes[s["role"]] += s["rate"] * (s["last_ms"] - s["first_ms"]) / _MS_PER_HOUR
        out[facility] = _params.times({
            "facility": facility, "window_start_ms": start, "latest_reading_ms": last,
            **{f"{flow}_t": round(tonnes[flow], 6) for flow in FLOWS},
            "capture_efficiency": _efficiency(tonnes["captured"], tonnes["emitted"]),
            "readings": sum(s["readings"] for s in sensors), "sealed": False,
        })
    return out


def emissions_current(store: Store, as_of_seq: int | None = None) -> list[dict[str, Any]]:
    """Per facility, the latest sealed window and (for the present, not for an as_of
    view, since readings have no ledger position) the estimate of the open one."""
    latest = {
        r["facility"]: _window(r)
        for r in store.rows(
            _WINDOWS + " ORDER BY facility, window_start_ms DESC LIMIT 1 BY facility",
            {"as_of": _params.as_of(as_of_seq)},
        )
    }
    open_ = {} if as_of_seq is not None else _open_windows(store)
    return [
        {"facility": f, "sealed": latest.get(f), "open": open_.get(f)}
        for f in sorted(latest.keys() | open_.keys())
    ]


def emissions_recent(store: Store, hours: int = 48,
                     as_of_seq: int | None = None) -> list[dict[str, Any]]:
    """Each facility's latest `hours` sealed windows, oldest first: the recent past
    whatever the clock says (a plant that stopped reporting keeps its last days)."""
    if not _params.is_int(hours) or not 1 <= hours <= MAX_RECENT_H:
        raise ValueError(f"hours must be an integer from 1 to {MAX_RECENT_H}, got {hours!r}")
    rows = store.rows(
        _WINDOWS + " ORDER BY facility, window_start_ms DESC LIMIT {hours:UInt32} BY facility",
        {"as_of": _params.as_of(as_of_seq), "hours": hours},
    )
    return [_window(r) for r in sorted(rows, key=lambda r: (r["facility"], r["window_start_ms"]))]


def _span(from_ms: int, to_ms: int) -> dict[str, int]:
    if not (_params.is_int(from_ms) and _params.is_int(to_ms)):
        raise ValueError(f"from and to must be epoch milliseconds, got {from_ms!r}, {to_ms!r}")
    if not 0 <= from_ms < to_ms < 2**53:
        raise ValueError("need 0 <= from < to")
    if to_ms - from_ms > _MAX_SPAN_MS:
        raise ValueError("a period spans at most 366 days")
    return {"lo": from_ms, "hi": to_ms}


def _period(store: Store, from_ms: int, to_ms: int, facility: str | None,
            as_of_seq: int | None) -> list[dict[str, Any]]:
    """Sealed windows that start in [from_ms, to_ms), oldest first."""
    return [_window(r) for r in store.rows(
        _WINDOWS + " AND window_start >= fromUnixTimestamp64Milli({lo:Int64})"
        " AND window_start < fromUnixTimestamp64Milli({hi:Int64})"
        " AND ({facility:String} = '' OR facility = {facility:String})"
        " ORDER BY facility, window_start_ms, seq",
        {**_span(from_ms, to_ms), "facility": _params.text("facility", facility),
         "as_of": _params.as_of(as_of_seq)},
    )]


def emissions_summary(store: Store, from_ms: int, to_ms: int, facility: str | None = None,
                      as_of_seq: int | None = None) -> dict[str, Any]:
    """Totals of the sealed windows that start in [from_ms, to_ms), per facility and overall."""
    windows = _period(store, from_ms, to_ms, facility, as_of_seq)
    per: dict[str, list[dict[str, Any]]] = {}
    for w in windows:
        per.setdefault(w["facility"], []).append(w)
    return _params.times({
        "from_ms": from_ms, "to_ms": to_ms,
        "facilities": [{"facility": f, **_totals(rows)} for f, rows in sorted(per.items())],
        "total": _totals(windows),
    })


def emissions_report(store: Store, from_ms: int, to_ms: int,
                     as_of_seq: int | None = None) -> dict[str, Any]:
    """What `emissions_summary` totals, with every window it adds up: each window is
    one EmissionsMeasured record, named by its ledger seq (and the READINGS messages
    its readings came in), so each figure can be checked against the log."""
    windows = _period(store, from_ms, to_ms, None, as_of_seq)
    seqs = {w["seq"] for w in windows}
    ids = {r["seq"]: r["event_id"] for r in store.rows(
        "SELECT seq, event_id FROM ledger FINAL WHERE seq IN {seqs:Array(UInt64)}",
        {"seqs": sorted(seqs)},
    )} if seqs else {}
    per: dict[str, list[dict[str, Any]]] = {}
    for w in windows:
        per.setdefault(w["facility"], []).append({**w, "event_id": ids.get(w["seq"])})
    return _params.times({
        "from_ms": from_ms, "to_ms": to_ms,
        "facilities": [
            {"facility": f, **_totals(rows), "ledger_seqs": [w["seq"] for w in rows],
             "windows": rows}
            for f, rows in sorted(per.items())
        ],
    })


_STEPS = {"minute": 60_000, "hour": _MS_PER_HOUR}

_MINUTES = f"""
SELECT intDiv(toUnixTimestamp64Milli(r.time), 60000) * 60000 AS time_ms, s.role AS role,
       r.sensor AS sensor, avg(r.value) AS rate, count() AS readings
FROM {READINGS_TABLE} AS r FINAL
INNER JOIN (
    SELECT sensor, argMax(role, seq) AS role FROM sensors
    WHERE facility = {{facility:String}} GROUP BY sensor
) AS s ON r.sensor = s.sensor
WHERE r.facility = {{facility:String}} AND s.role IN {FLOWS!r}
  AND r.time >= fromUnixTimestamp64Milli({{lo:Int64}})
  AND r.time < fromUnixTimestamp64Milli({{hi:Int64}})
GROUP BY time_ms, role, sensor
ORDER BY time_ms
"""


def facility_metrics(store: Store, facility: str, from_ms: int, to_ms: int,
                     resolution: str = "minute") -> list[dict[str, Any]]:
    """CO2 flows of one facility per minute (estimated from the readings: the mean
    rate of each flow sensor over the minute) or per hour (the sealed windows)."""
    _params.choice("resolution", resolution, tuple(_STEPS))
    params = {**_span(from_ms, to_ms), "facility": _params.text("facility", facility)}
    if resolution == "hour":
        return [
            {**r, "time_ms": r["window_start_ms"], "time": _params.iso(r["window_start_ms"])}
            for r in _period(store, from_ms, to_ms, facility, None)
        ]
    if (to_ms - from_ms) // _STEPS["minute"] > _params.MAX_LIMIT:
        raise ValueError(f"at most {_params.MAX_LIMIT} minutes per request")
    buckets: dict[int, dict[str, Any]] = {}
    for r in store.rows(_MINUTES, params):
        b = buckets.setdefault(r["time_ms"], {
            "time_ms": r["time_ms"], **{f"{flow}_t": 0.0 for flow in FLOWS}, "readings": 0})
        b[f"{r['role']}_t"] += r["rate"] / 60
        b["readings"] += r["readings"]
    out = []
    for b in buckets.values():
        for flow in FLOWS:
            b[f"{flow}_t"] = round(b[f"{flow}_t"], 6)
        b["capture_efficiency"] = _efficiency(b["captured_t"], b["emitted_t"])
        b["sealed"] = False
        out.append(_params.times(b))
    return out
