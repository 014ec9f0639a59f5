"""`plumeline forecast-backtest`: the emissions forecaster against seasonal naive.

Days of a facility's history are simulated at one reading a minute (anomalies
included) and integrated into hourly windows by the facility's own `CarbonBalance`,
so the series is the quantity `EmissionsMeasured` reports. From rolling origins, one
a day once `--warmup` days are known, the forecaster (refitted at each origin, as the
projections refit once a simulated day) forecasts 168 h; so does seasonal naive (the
same hour a week before). MASE scales the mean absolute error by the in-sample
one-week seasonal-naive error; coverage is the share of actual hours inside each
interval.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np

from plumeline.actors.accounting import FLOW_ROLES, CarbonBalance
from plumeline.infra.runtime.progress import Progress
from plumeline.projections.forecaster import LEVELS, fit, predict, seasonal_naive
from plumeline.simulator import Simulation

__all__ = ["backtest", "hourly_history", "run_forecast_backtest"]

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, a Thursday
HOUR_MS = 3_600_000
WEEK_H = 168


def hourly_history(seed: int, days: int, facilities: int = 2, mean_gap_s: float = 3600.0,
                   on_day: Callable[[int], None] | None = None
                   ) -> dict[str, dict[str, np.ndarray]]:
    """Per facility: `start` (ms), `emitted` and `net` (= emitted − stored) tonnes per
    hourly window, as the facility's CarbonBalance closes them. `on_day` is told the
    days simulated so far."""
    sim = Simulation(seed=seed, facilities=facilities, sensors_per_facility=9,
                     rate_hz=1 / 60, start_ms=T0, mean_gap_s=mean_gap_s,
                     first_anomaly_after_s=3600.0)
    n = sim.sensors_per_facility
    flows = [[(j, s.sensor, s.role) for j, s in enumerate(sensors) if s.role in FLOW_ROLES]
             for sensors in sim.sensors]
    balances = [CarbonBalance(f, HOUR_MS, 5 * 60_000) for f in sim.facilities]
    windows: list[list] = [[] for _ in sim.facilities]
    steps = days * 24 * 60
    for lo in range(0, steps + 1, 1440):
        r = sim.readings(lo, min(lo + 1440, steps + 1))
        for i, t in enumerate(r.times.tolist()):
            for f, balance in enumerate(balances):
                for _, event in balance.advance(t):
                    if event.__struct_config__.tag == "emissions.measured":
                        windows[f].append((event.window_start, event.emitted_t,
                                           event.emitted_t - event.stored_t))
                for j, sensor, role in flows[f]:
                    if r.present is None or r.present[i, f * n + j]:
                        balance.add(sensor, role, t, float(r.values[i, f * n + j]), 0)
        if on_day is not None:
            on_day(min(lo + 1440, steps) // 1440)
    return {
        facility: {"start": np.array([w[0] for w in ws], dtype=np.int64),
                   "emitted": np.array([w[1] for w in ws]), "net": np.array([w[2] for w in ws])}
        for facility, ws in zip(sim.facilities, windows)
    }


def backtest(starts: np.ndarray, y: np.ndarray, warmup_days: int = 14) -> dict:
    """MASE of the forecaster and of seasonal naive, and interval coverage, over
    168-hour forecasts from a rolling origin each day after `warmup_days`."""
    model_err, naive_err, scales, inside = [], [], [], {lv: [] for lv in LEVELS}
    for origin in range(warmup_days * 24, len(y) - WEEK_H + 1, 24):
        hist_s, hist_y = starts[:origin], y[:origin]
        actual = y[origin:origin + WEEK_H]
        p = predict(fit(hist_s, hist_y), hist_s, hist_y, WEEK_H)
        naive = seasonal_naive(hist_s, hist_y, p.starts)
        scale = np.mean(np.abs(hist_y[WEEK_H:] - hist_y[:-WEEK_H]))
        model_err.append(np.mean(np.abs(actual - p.mean)) / scale)
        naive_err.append(np.mean(np.abs(actual - naive)) / scale)
        scales.append(scale)
        for lv, (lo, hi) in p.bounds.items():
            inside[lv].append(np.mean((actual >= lo) & (actual <= hi)))
    return {
        "origins": len(model_err),
        "mase": float(np.mean(model_err)),
        "mase_seasonal_naive": float(np.mean(naive_err)),
        "coverage": {f"{int(lv * 100)}%": float(np.mean(v)) for lv, v in inside.items()},
    }


def table(results: dict) -> str:
    lines = [f"{'facility':<14}{'series':<9}{'origins':>8}{'MASE':>8}{'naive MASE':>12}"
             f"{'80% cover':>11}{'95% cover':>11}"]
    for facility, by_series in results.items():
        for series, r in by_series.items():
            lines.append(f"{facility:<14}{series:<9}{r['origins']:>8}{r['mase']:>8.3f}"
                         f"{r['mase_seasonal_naive']:>12.3f}{r['coverage']['80%']:>11.2f}"
                         f"{r['coverage']['95%']:>11.2f}")
    return "\n".join(lines)


def run_forecast_backtest(args) -> int:
    from plumeline.infra.runtime.errors import UserError

    if args.days < args.warmup + 7:
        raise UserError(f"--days must be at least --warmup + 7 ({args.warmup + 7}), "
                        f"got {args.days}")
    print(f"  simulating {args.days} days of {args.facilities} facilities ...",
          file=sys.stderr, flush=True)
    with Progress("forecast-backtest: simulating", args.days, unit="days") as progress:
        history = hourly_history(args.seed, args.days, args.facilities, on_day=progress.update)
    results = {f: {s: backtest(h["start"], h[s], args.warmup) for s in ("emitted", "net")}
               for f, h in history.items()}
    print(table(results))
    if args.json:
        import msgspec

        args.json.write_bytes(msgspec.json.format(msgspec.json.encode(results)))
    return 0
