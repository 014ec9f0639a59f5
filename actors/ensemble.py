"""An ensemble of simple detectors, each read through an anomaly likelihood.

A candidate for the score `plumeline nab` reads, built from the parts known to carry a
NAB score from one data set to another (HTM's anomaly likelihood, Ahmad et al. 2017),
rather than from statistics designed while looking at the benchmark's files. It has
not replaced the `RobustBaseline` likelihood: on the 13 files at hand it scores lower
held out (docs/detection.md, "An ensemble read through anomaly likelihoods").

Four raw scores per reading, each a distance in scales, capped and brought into [0, 1]:

- fast: the alert score, |x − level| / scale of the sensor's own `RobustBaseline`;
- step: |x − previous reading| / the usual step (a Huber-clipped EWMA, ~20 readings);
- long: |x − long-run level| / long-run scale (`memory` readings);
- flat: long-run scale / the baseline's scale, beyond 1: the signal gone quiet.

Each raw score goes through the same likelihood: its short mean (an EWMA of weight
`short`, HTM's ten readings) against the long-run mean and variance of that short mean
(weight 1/n at first, then 1/`memory`), as a z-score. The largest of the four z is the
reading's; a z at `red` or beyond right after one that was too shows as `yellow`
(HTM's filter), so an anomaly scores once, at its onset. The score is −log10 of the
Gaussian tail of that z, over 10 (NAB's log-likelihood), in [0, 1]; 0 while the
likelihood learns and wherever z is not positive.

The state is fixed-width columns, one row per sensor (`EnsembleColumns`), and a step is
the same element-wise arithmetic for one sensor or a shard's thousands: only +, −, ×,
÷, square roots, min and max, each correctly rounded, so a sensor's z is the same bit
for bit whichever batch it was judged in. The tail's erfc is applied to the output
alone (`score_of`). `LikelihoodEnsemble` is one sensor, over its `RobustBaseline`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from plumeline.actors.detection import DetectorConfig, RobustBaseline

__all__ = ["EnsembleColumns", "EnsembleConfig", "LikelihoodEnsemble", "score_of"]

RAW_SCORES = 4  # fast, step, long, flat


@dataclass(frozen=True, slots=True)
class EnsembleConfig:
    cap: float = 10.0  # a distance of this many scales is a raw score of 1
    flat_cap: float = 2.0  # long-run scale over 1 + this many baseline scales: raw 1
    short: float = 0.1  # weight of a raw score in its short mean: ~10 readings
    memory: int = 1000  # readings of the long-run level, scale and likelihood
    learn: int = 300  # readings before the likelihood speaks
    warmup: int = 30  # readings before the raw scores count
    step_alpha: float = 0.05  # the usual step's EWMA weight
    floor: float = 1e-4  # variance floor of the short mean
    red: float = 4.265  # z of a 1e-5 tail: HTM's red ...
    yellow: float = 3.09  # ... and yellow (1e-3) levels


def score_of(z: float) -> float:
    """NAB's log-likelihood of a z: −log10 of its Gaussian tail over 10, in [0, 1]."""
    if z <= 0.0:  # no more unusual than usual, or still learning
        return 0.0
    tail = 0.5 * math.erfc(z / math.sqrt(2.0))
    return min(1.0, max(0.0, -math.log10(max(tail, 1e-300)) / 10.0))


class EnsembleColumns:
    """The ensemble's state for many sensors, one row each."""

    FLOATS = ("last", "step", "long_level", "long_spread")

    def __init__(self, config: EnsembleConfig | None = None, capacity: int = 1) -> None:
        self.config = config or EnsembleConfig()
        self.n = np.zeros(capacity, np.int64)
        self.was_red = np.zeros(capacity, bool)
        self.cols = {name: np.zeros(capacity) for name in self.FLOATS}
        for name in ("means", "mus", "variances"):
            self.cols[name] = np.zeros((capacity, RAW_SCORES))

    def update(self, rows: np.ndarray, x: np.ndarray, fast: np.ndarray,
               scale: np.ndarray) -> np.ndarray:
        """Readings x of distinct `rows`, with their alert score `fast` and the alert
        baseline's scale after it learnt x: the z of each reading (after the filter)."""
        c, g = self.config, self.cols
        n = self.n[rows]
        first = n == 0
        last, step = g["last"][rows], g["step"][rows]
        level, spread = g["long_level"][rows], g["long_spread"][rows]
        last = np.where(first, x, last)
        level = np.where(first, x, level)
        # the raw scores, from the statistics before x
        size = np.maximum(np.abs(x), 1.0)
        step_scale = np.maximum(1.25 * step, 1e-3 * size)
        distance = np.abs(x - last)
        long_scale = np.maximum(1.25 * spread, 1e-3 * np.maximum(np.abs(level), 1.0))
        deviation = x - level
        judged = (n > c.warmup)[:, None]
        raws = np.stack((
            np.minimum(fast, c.cap) / c.cap,
            np.minimum(distance / step_scale, c.cap) / c.cap,
            np.minimum(np.abs(deviation) / long_scale, c.cap) / c.cap,
            np.minimum(np.maximum(long_scale / scale - 1.0, 0.0), c.flat_cap) / c.flat_cap,
        ), axis=1)
        raws = np.where(judged, raws, 0.0)
        # x joins the statistics
        g["last"][rows] = x
        g["step"][rows] = step + c.step_alpha * (np.minimum(distance, 3.0 * step_scale) - step)
        bound = 3.0 * long_scale
        deviation = np.where(judged[:, 0], np.clip(deviation, -bound, bound), deviation)
        a = np.maximum(1.0 / (n + 1), 1.0 / c.memory)
        learnt = ~first
        g["long_level"][rows] = np.where(learnt, level + a * deviation, level)
        g["long_spread"][rows] = np.where(
            learnt, spread + a * (np.abs(deviation) - spread), spread)
        # the likelihood of each raw score's short mean, then the largest
        means, mus, variances = g["means"][rows], g["mus"][rows], g["variances"][rows]
        means = np.where(learnt[:, None], means + c.short * (raws - means), means)
        zs = (means - mus) / np.sqrt(variances + c.floor)
        z = np.where(n >= c.learn, np.maximum(zs.max(axis=1), 0.0), 0.0)
        d = means - mus
        a = a[:, None]
        g["means"][rows] = means
        g["mus"][rows] = np.where(learnt[:, None], mus + a * d, mus)
        g["variances"][rows] = np.where(
            learnt[:, None], variances + a * (d * d * (1.0 - a) - variances), variances)
        red = z >= c.red
        z = np.where(red & self.was_red[rows], np.minimum(z, c.yellow), z)
        self.was_red[rows] = red
        self.n[rows] = n + 1
        return z


class LikelihoodEnsemble:
    """One sensor: `update(x)` returns the reading's score in [0, 1]."""

    __slots__ = ("baseline", "columns", "z")

    _ROW = np.zeros(1, np.int64)

    def __init__(self, config: EnsembleConfig | None = None,
                 detector: DetectorConfig | None = None) -> None:
        self.baseline = RobustBaseline(detector or DetectorConfig())
        self.columns = EnsembleColumns(config)
        self.z = 0.0  # the reading's z after the filter

    def update(self, x: float) -> float:
        fast, _ = self.baseline.update(x)
        z = self.columns.update(self._ROW, np.array([x]), np.array([fast]),
                                np.array([self.baseline.scale()]))
        self.z = float(z[0])
        return score_of(self.z)
