"""An hourly emissions forecaster: calendar terms, detected cycles, a ridge, an AR(1)
residual, and intervals calibrated on its own rolling-origin errors. Pure: arrays in,
arrays out.

Industrial CO2 follows the plant's load, which repeats by hour of day and by day of
week (weekends run lower, with a different daily shape). The mean is a ridge
regression (scikit-learn, closed-form Cholesky solve, so deterministic) on
day-of-week indicators, Fourier terms of the hour of day, the same terms for weekends,
a linear trend once two weeks of history can support one, and the cycles the
residuals show that also forecast a held-out stretch (`_cycles`, `_held_out`). What is
left (a capture fault under way) persists for a while; an AR(1) on the residuals
carries the last one forward, decaying by φ per hour.

Intervals are split-conformal: the model is refitted at each of the last day
boundaries of the history (at most `ORIGINS`) and forecasts the rest of the history
from there; the quantiles of those out-of-sample errors, pooled over horizons, are the
bounds. They are as wide as the model has actually been wrong, not a Gaussian guess.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import Ridge

__all__ = [
    "DAY_MS",
    "HOUR_MS",
    "LEVELS",
    "MIN_HISTORY_H",
    "Fitted",
    "Prediction",
    "fit",
    "predict",
    "seasonal_naive",
]

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS
MIN_HISTORY_H = 48  # below two days nothing is fitted: no forecast, never a guess
LEVELS = (0.8, 0.95)
ORIGINS = 4
ALPHA = 1.0
CYCLE_POWER = 30.0
CYCLE_GAIN = 0.02


@dataclass(frozen=True, slots=True)
class Fitted:
    mean: _Mean  # the ridge and how to build its inputs
    phi: float  # AR(1) of the hourly residuals, in [0, 0.9]
    errors: np.ndarray  # out-of-sample errors (actual − forecast) of the backtests
    through_ms: int  # end of the last window fitted


@dataclass(frozen=True, slots=True)
class Prediction:
    starts: np.ndarray  # window starts, ms
    mean: np.ndarray
    bounds: dict[float, tuple[np.ndarray, np.ndarray]]  # level -> (lower, upper)


def _calendar(starts: np.ndarray, first_ms: int, trend: bool) -> list[np.ndarray]:
    hour = ((starts % DAY_MS) + HOUR_MS / 2) / HOUR_MS  # the window's middle
    weekday = (starts // DAY_MS + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    weekend = (weekday >= 5).astype(float)
    cols = [(weekday == d).astype(float) for d in range(7)]
    for k in (1, 2, 3):
        w = 2 * np.pi * k * hour / 24
        cols += [np.sin(w), np.cos(w)]
    for k in (1, 2):
        w = 2 * np.pi * k * hour / 24
        cols += [weekend * np.sin(w), weekend * np.cos(w)]
    if trend:
        cols.append((starts - first_ms) / WEEK_MS)
    return cols


class _Mean:
    """The calendar ridge, plus the cycles its residuals show that also forecast."""

    def __init__(self, starts: np.ndarray, y: np.ndarray,
                 cycles: tuple[float, ...] | None = None) -> None:
        self.first = int(starts[0])
        self.trend = bool(starts[-1] - self.first >= 2 * WEEK_MS)
        self.cycles: tuple[float, ...] = ()
        self.ridge = _ridge(self.design(starts), y)
        if cycles is None and len(starts) >= 3 * 24:
            cycles = _held_out(starts, y, _cycles(starts, y - self(starts)))
        if cycles:
            self.cycles = cycles
            self.ridge = _ridge(self.design(starts), y)

    def design(self, at: np.ndarray) -> np.ndarray:
        cols = _calendar(at, self.first, self.trend)
        hours = (at - self.first) / HOUR_MS
        for f in self.cycles:
            cols += [np.sin(2 * np.pi * f * hours), np.cos(2 * np.pi * f * hours)]
        return np.column_stack(cols)

    def __call__(self, at: np.ndarray) -> np.ndarray:
        return self.ridge.predict(self.design(at))


def _held_out(starts: np.ndarray, y: np.ndarray, candidates: tuple[float, ...]):
    """The candidate cycles that forecast: added one by one, strongest first, each kept
    only if it cuts the error on the last part of the history (a week at most, a third
    at least) by `CYCLE_GAIN`, fitted on the part before. A cycle found in noise fits
    the past and fails this."""
    if not candidates:
        return ()
    split = len(starts) - min(7 * 24, len(starts) // 3)
    train, test = slice(0, split), slice(split, None)

    def error(cycles: tuple[float, ...]) -> float:
        m = _Mean(starts[train], y[train], cycles)
        return float(np.abs(y[test] - m(starts[test])).mean())

    kept: tuple[float, ...] = ()
    best = error(())
    for f in candidates:
        e = error((*kept, f))
        if e < best * (1 - CYCLE_GAIN):
            kept, best = (*kept, f), e
    return kept


def _ridge(x: np.ndarray, y: np.ndarray) -> Ridge:
    return Ridge(alpha=ALPHA, solver="cholesky").fit(x, y)


def _cycles(starts: np.ndarray, resid: np.ndarray, most: int = 5) -> tuple[float, ...]:
    """Frequencies (cycles per hour) of the strongest sinusoids in the residuals, each
    at least `CYCLE_POWER` times the median of the periodogram. Plants have cycles the
    calendar does not know: batch processes, grid dispatch; averaged into hourly windows
    a cycle of 20 to 90 minutes shows as a slow beat, which persists and so forecasts.
    Each peak of an 8-fold zero-padded periodogram is refined by least squares."""
    hours = (starts - starts[0]) // HOUR_MS
    n = int(hours[-1]) + 1
    x = np.zeros(n)
    x[hours] = resid
    found: list[float] = []
    pad = 8 * n
    freqs = np.fft.rfftfreq(pad)
    for _ in range(most):
        power = np.abs(np.fft.rfft(x, pad)) ** 2
        power[freqs < 2.0 / n] = 0.0  # slower than half the history: a trend, not a cycle
        peak = int(np.argmax(power))
        if power[peak] < CYCLE_POWER * np.median(power[power > 0]):
            break
        t = np.arange(n)
        best = min(np.linspace(freqs[peak] - 1 / n, freqs[peak] + 1 / n, 81),
                   key=lambda f: _sinusoid(x, t, f)[1])
        x = x - _sinusoid(x, t, best)[0]
        found.append(float(best))
    return tuple(found)


def _sinusoid(x: np.ndarray, t: np.ndarray, f: float) -> tuple[np.ndarray, float]:
    basis = np.column_stack([np.sin(2 * np.pi * f * t), np.cos(2 * np.pi * f * t)])
    coef = np.linalg.lstsq(basis, x, rcond=None)[0]
    fitted = basis @ coef
    return fitted, float(((x - fitted) ** 2).sum())


def _phi(starts: np.ndarray, resid: np.ndarray) -> float:
    consecutive = np.diff(starts) == HOUR_MS
    a, b = resid[:-1][consecutive], resid[1:][consecutive]
    if len(a) < 24 or not (a.std() > 0 and b.std() > 0):
        return 0.0
    return float(np.clip(np.corrcoef(a, b)[0, 1], 0.0, 0.9))


def _ahead(mean: _Mean, phi: float, starts, y, at) -> np.ndarray:
    last_resid = y[-1] - mean(starts[-1:])[0]
    steps = (at - starts[-1]) / HOUR_MS
    return mean(at) + last_resid * phi**steps


def fit(starts: np.ndarray, y: np.ndarray) -> Fitted:
    """Fit on hourly windows starting at `starts` (ms, increasing) with values `y`."""
    starts, y = np.asarray(starts, dtype=np.int64), np.asarray(y, dtype=float)
    if len(starts) < MIN_HISTORY_H:
        raise ValueError(f"a forecast needs {MIN_HISTORY_H} hourly windows, got {len(starts)}")
    mean = _Mean(starts, y)
    resid = y - mean(starts)
    phi = _phi(starts, resid)
    errors = []
    days = np.unique(starts // DAY_MS * DAY_MS)
    for origin in days[1:][-ORIGINS:]:
        before = starts < origin
        if before.sum() < 24:
            continue
        b_s, b_y = starts[before], y[before]
        b_mean = _Mean(b_s, b_y)
        b_phi = _phi(b_s, b_y - b_mean(b_s))
        after = ~before & (starts < origin + WEEK_MS)
        errors.append(y[after] - _ahead(b_mean, b_phi, b_s, b_y, starts[after]))
    pooled = np.concatenate(errors) if errors else np.array([])
    if len(pooled) < 24:  # too little to backtest: in-sample residuals, widened for the fit
        dof = max(1, len(y) - mean.ridge.n_features_in_)
        pooled = resid * np.sqrt(len(y) / dof)
    return Fitted(mean, phi, pooled, int(starts[-1]) + HOUR_MS)


def predict(model: Fitted, starts: np.ndarray, y: np.ndarray, horizon_h: int) -> Prediction:
    """`horizon_h` hours after the last window of `starts`/`y` (the history, which may
    run past what the model was fitted on)."""
    starts, y = np.asarray(starts, dtype=np.int64), np.asarray(y, dtype=float)
    ahead = int(starts[-1]) + HOUR_MS * np.arange(1, horizon_h + 1, dtype=np.int64)
    mean = _ahead(model.mean, model.phi, starts, y, ahead)
    bounds = {}
    for level in LEVELS:
        lo = np.quantile(model.errors, (1 - level) / 2, method="lower")
        hi = np.quantile(model.errors, (1 + level) / 2, method="higher")
        bounds[level] = (mean + lo, mean + hi)
    return Prediction(ahead, mean, bounds)


def seasonal_naive(starts: np.ndarray, y: np.ndarray, ahead: np.ndarray) -> np.ndarray:
    """The value a week before (a day before while the history is shorter than a week),
    repeated: the benchmark a forecaster has to beat."""
    starts = np.asarray(starts, dtype=np.int64)
    season = WEEK_MS if starts[-1] - starts[0] >= WEEK_MS else DAY_MS
    by_start = dict(zip(starts.tolist(), np.asarray(y, dtype=float).tolist()))
    last = int(starts[-1])
    out = []
    for t in np.asarray(ahead, dtype=np.int64).tolist():
        back = t - season * -(-(t - last) // season)  # the latest same slot in the history
        out.append(by_start.get(back, np.nan))
    return np.array(out)
