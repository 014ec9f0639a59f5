"""The forecaster on a synthetic plant: beats seasonal naive, intervals cover about
their level, and the same history gives the same forecast."""

import numpy as np
import pytest

from plumeline.projections.forecaster import HOUR_MS, MIN_HISTORY_H, fit, predict, seasonal_naive

T0 = 1_767_225_600_000  # a Thursday, midnight UTC


def plant(weeks: int = 4, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Hourly tonnes: a daily load curve, lower at weekends, a 5.3-hour beat, and AR(1)
    noise, as a load-following plant shows."""
    rng = np.random.default_rng(seed)
    starts = T0 + HOUR_MS * np.arange(weeks * 168, dtype=np.int64)
    hour = (starts % 86_400_000) / HOUR_MS
    weekend = ((starts // 86_400_000 + 3) % 7) >= 5
    load = (1 + 0.15 * np.sin(2 * np.pi * (hour - 9) / 24)) * np.where(weekend, 0.85, 1.0)
    noise = np.zeros(len(starts))
    for i in range(1, len(noise)):
        noise[i] = 0.5 * noise[i - 1] + rng.normal(0, 1.0)
    beat = 3 * np.sin(2 * np.pi * np.arange(len(starts)) / 5.3)
    return starts, 400 * load + beat + noise


def test_it_beats_seasonal_naive():
    starts, y = plant()
    ratios = []
    for origin in (14 * 24, 17 * 24, 20 * 24):
        hist_s, hist_y, actual = starts[:origin], y[:origin], y[origin:origin + 168]
        p = predict(fit(hist_s, hist_y), hist_s, hist_y, 168)
        naive = seasonal_naive(hist_s, hist_y, p.starts)
        assert len(p.mean) == 168 and p.starts[0] == starts[origin]
        ratios.append(np.abs(actual - p.mean).mean() / np.abs(actual - naive).mean())
    assert max(ratios) < 0.8, ratios


def test_intervals_cover_about_their_level():
    covered = {0.8: [], 0.95: []}
    for seed in range(4):
        starts, y = plant(seed=seed)
        for origin in (14 * 24, 18 * 24):
            hist_s, hist_y, actual = starts[:origin], y[:origin], y[origin:origin + 168]
            p = predict(fit(hist_s, hist_y), hist_s, hist_y, 168)
            for level, (lo, hi) in p.bounds.items():
                assert (lo <= p.mean).all() and (p.mean <= hi).all()
                covered[level].append(((actual >= lo) & (actual <= hi)).mean())
    assert 0.65 <= np.mean(covered[0.8]) <= 0.95, covered
    assert 0.85 <= np.mean(covered[0.95]) <= 1.0, covered
    assert np.mean(covered[0.95]) > np.mean(covered[0.8])


def test_the_same_history_gives_the_same_forecast():
    starts, y = plant(weeks=2)
    a = predict(fit(starts, y), starts, y, 168)
    b = predict(fit(starts.copy(), y.copy()), starts, y, 168)
    assert np.array_equal(a.mean, b.mean)
    assert all(np.array_equal(a.bounds[k][i], b.bounds[k][i]) for k in a.bounds for i in (0, 1))


def test_too_little_history_is_refused():
    starts, y = plant(weeks=1)
    with pytest.raises(ValueError, match="48 hourly windows"):
        fit(starts[:MIN_HISTORY_H - 1], y[:MIN_HISTORY_H - 1])
    p = predict(fit(starts[:MIN_HISTORY_H], y[:MIN_HISTORY_H]), starts[:MIN_HISTORY_H],
                y[:MIN_HISTORY_H], 24)
    assert np.isfinite(p.mean).all() and len(p.mean) == 24


def test_a_cached_model_is_refitted_when_its_windows_differ_not_only_their_count():
    """Forecasts keeps one model per facility and series: an `as_of` view with the same
    cut and as many windows as the cached fit, but other values, gets its own fit."""
    from plumeline.projections.forecast import Forecasts

    starts, y = plant(weeks=1)
    cut = int(starts[-1] + HOUR_MS)
    forecasts = Forecasts()
    first = forecasts._model("ccs-01", "emitted_t", starts, y, cut)
    again = forecasts._model("ccs-01", "emitted_t", starts, y.copy(), cut)
    other = forecasts._model("ccs-01", "emitted_t", starts, y + 50.0, cut)
    assert again is first  # the same windows: the cached fit
    assert other is not first
    assert predict(other, starts, y + 50.0, 24).mean.mean() > predict(first, starts, y, 24).mean.mean() + 40
