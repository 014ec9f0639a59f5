"""Emissions forecasts from the `emissions` projection, refitted once a day of event time.

`Forecasts` belongs to the one process that holds the store (the ProjectionRunner) and
keeps one fitted model per facility and series. The model for a facility is fitted on
the windows that end by the last midnight (UTC) of its history, so it is refitted once
per new day of `EmissionsMeasured` and is a function of the history alone, whenever it
is asked. The forecast itself starts after the latest window, with the latest
residual. Windows with under half the facility's usual readings (the first, partial
one; a stream cut) are left out of the fit.

Under `MIN_HISTORY_H` usable windows there is no model and the answer says so; no
forecast is ever made up.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from plumeline.projections import _params
from plumeline.projections.forecaster import (
    DAY_MS,
    HOUR_MS,
    LEVELS,
    MIN_HISTORY_H,
    Fitted,
    fit,
    predict,
)
from plumeline.projections.store import Store

__all__ = ["HISTORY_H", "MAX_HORIZON_H", "SERIES", "Forecasts", "emissions_history",
           "recent_balance"]

MAX_HORIZON_H = 168
# Twelve weeks are plenty for weekly patterns and keep a refit under a second; older
# hours would only slow the model's following of a plant that changes.
HISTORY_H = 12 * 168
SERIES = ("emitted_t", "net_t")
MODEL = ("ridge on day-of-week, hour-of-day, trend and detected cycles; AR(1) residual; "
         "split-conformal intervals from rolling-origin backtests")


def emissions_history(store: Store, facility: str, as_of_seq: int | None = None,
                      hours: int = HISTORY_H):
    """The facility's last `hours` windows in time order: start/end ms and tonnes."""
    rows = store.rows(
        "SELECT toUnixTimestamp64Milli(window_start) AS start_ms,"
        " toUnixTimestamp64Milli(window_end) AS end_ms, emitted_t, captured_t, stored_t,"
        " vented_t, readings FROM emissions FINAL"
        " WHERE facility = {facility:String} AND seq <= {as_of:UInt64}"
        " ORDER BY window_start DESC LIMIT {hours:UInt32}",
        {"facility": _params.text("facility", facility), "as_of": _params.as_of(as_of_seq),
         "hours": hours},
    )
    return rows[::-1]


def _usable(rows: list[dict]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    if not rows:
        return np.array([], dtype=np.int64), {s: np.array([]) for s in SERIES}
    readings = np.array([r["readings"] for r in rows], dtype=float)
    keep = [r for r, n in zip(rows, readings) if n >= 0.5 * np.median(readings)]
    starts = np.array([r["start_ms"] for r in keep], dtype=np.int64)
    # tonnes per hour, whatever the window: the forecast is hourly
    hours = np.array([(r["end_ms"] - r["start_ms"]) / HOUR_MS for r in keep])
    emitted = np.array([r["emitted_t"] for r in keep]) / hours
    net = emitted - np.array([r["stored_t"] for r in keep]) / hours
    return starts, {"emitted_t": emitted, "net_t": net}


def recent_balance(rows: list[dict], hours: int = 24) -> dict[str, float]:
    """Shares of the balance over the last `hours` windows: captured of emitted, and
    stored of captured (what reaches the well); 0 where nothing was."""
    last = rows[-hours:]
    total = {k: sum(r[k] for r in last) for k in ("emitted_t", "captured_t", "stored_t")}
    return {
        "captured_share": total["captured_t"] / total["emitted_t"] if total["emitted_t"] else 0.0,
        "stored_share": total["stored_t"] / total["captured_t"] if total["captured_t"] else 0.0,
    }


class Forecasts:
    """Fitted models by (facility, series), each with the history cut it was fitted on."""

    def __init__(self) -> None:
        self._models: dict[tuple[str, str], tuple[tuple[int, bytes, bytes], Fitted]] = {}

    def forecast(self, store: Store, facility: str, horizon_h: int = MAX_HORIZON_H,
                 as_of_seq: int | None = None) -> dict[str, Any]:
        """{"facility", "points", …}, or {"facility", "points": None, "reason"} when
        there is no model yet."""
        if not _params.is_int(horizon_h) or not 1 <= horizon_h <= MAX_HORIZON_H:
            raise ValueError(f"horizon_h must be an integer from 1 to {MAX_HORIZON_H}, "
                             f"got {horizon_h!r}")
        rows = emissions_history(store, facility, as_of_seq)
        starts, series = _usable(rows)
        cut = int(starts[-1] + HOUR_MS) // DAY_MS * DAY_MS if len(starts) else 0
        fitted_on = starts + HOUR_MS <= cut
        if fitted_on.sum() < MIN_HISTORY_H:
            return {"facility": facility, "points": None, "history_h": len(starts),
                    "reason": f"{facility} has {int(fitted_on.sum())} hourly windows of "
                              f"emissions up to its last midnight; a forecast needs "
                              f"{MIN_HISTORY_H} (two days)"}
        predictions = {}
        for name, y in series.items():
            model = self._model(facility, name, starts[fitted_on], y[fitted_on], cut)
            predictions[name] = predict(model, starts, y, horizon_h)
        return _render(facility, horizon_h, len(starts), cut, predictions,
                       recent_balance(rows))

    def _model(self, facility: str, name: str, starts, y, cut: int) -> Fitted:
        # the model is a function of what it is fitted on: an `as_of` view of the past,
        # or a history that has grown past HISTORY_H, fits on other windows than the
        # answer before whatever their count
        key, stamp = (facility, name), (cut, starts.tobytes(), y.tobytes())
        cached = self._models.get(key)
        if cached is None or cached[0] != stamp:
            cached = self._models[key] = (stamp, fit(starts, y))
        return cached[1]


def _render(facility, horizon_h, history_h, cut, predictions, balance) -> dict[str, Any]:
    first = next(iter(predictions.values()))
    points = []
    for i, start in enumerate(first.starts.tolist()):
        point: dict[str, Any] = {"window_start_ms": start, "window_start": _params.iso(start)}
        for name, p in predictions.items():
            band = {"mean": round(float(p.mean[i]), 3)}
            for level, (lo, hi) in p.bounds.items():
                pct = int(round(level * 100))
                band[f"lo{pct}"] = round(float(lo[i]), 3)
                band[f"hi{pct}"] = round(float(hi[i]), 3)
            point[name] = band
        points.append(point)
    origin = int(first.starts[0])  # where the history ends
    return {
        "facility": facility, "horizon_h": horizon_h, "history_h": history_h,
        "origin_ms": origin, "origin": _params.iso(origin),
        "fitted_through_ms": cut, "fitted_through": _params.iso(cut),
        "levels": list(LEVELS), "model": MODEL, "recent": balance, "points": points,
    }
