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

Causal, deterministic and fixed-size: about twenty floats per sensor, O(1) per reading,
only arithmetic and square roots in the state (the tail's erfc is applied to the
output alone), so it vectorises across a shard's sensors as fixed-width columns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from plumeline.actors.detection import DetectorConfig, RobustBaseline

__all__ = ["EnsembleConfig", "LikelihoodEnsemble"]


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


class LikelihoodEnsemble:
    """One sensor: `update(x)` returns the reading's score in [0, 1]."""

    __slots__ = ("config", "baseline", "n", "last", "step", "long_level", "long_spread",
                 "means", "mus", "variances", "was_red", "z")

    def __init__(self, config: EnsembleConfig | None = None,
                 detector: DetectorConfig | None = None) -> None:
        self.config = config or EnsembleConfig()
        self.baseline = RobustBaseline(detector or DetectorConfig())
        self.n = 0
        self.last = 0.0
        self.step = 0.0  # the usual |step|, Huber-clipped EWMA
        self.long_level = 0.0
        self.long_spread = 0.0
        self.means = [0.0] * 4  # the short mean of each raw score
        self.mus = [0.0] * 4  # ... its long-run mean
        self.variances = [0.0] * 4  # ... and variance
        self.was_red = False
        self.z = 0.0  # the reading's z after the filter

    def update(self, x: float) -> float:
        c = self.config
        fast, _ = self.baseline.update(x)
        n = self.n
        self.n = n + 1
        if n == 0:
            self.last = self.long_level = x
            return 0.0
        raws = self._raw_scores(x, fast, n > c.warmup)
        a = max(1.0 / (n + 1), 1.0 / c.memory)
        z = 0.0
        means, mus, variances = self.means, self.mus, self.variances
        for k, r in enumerate(raws):
            m = means[k] + c.short * (r - means[k])
            means[k] = m
            if n >= c.learn:
                z = max(z, (m - mus[k]) / math.sqrt(variances[k] + c.floor))
            d = m - mus[k]
            mus[k] += a * d
            variances[k] += a * (d * d * (1.0 - a) - variances[k])
        red = z >= c.red
        if red and self.was_red:
            z = min(z, c.yellow)
        self.was_red = red
        self.z = z
        if z <= 0.0:  # no more unusual than usual, or still learning
            return 0.0
        tail = 0.5 * math.erfc(z / math.sqrt(2.0))
        return min(1.0, max(0.0, -math.log10(max(tail, 1e-300)) / 10.0))

    def _raw_scores(self, x: float, fast: float, judged: bool) -> tuple[float, ...]:
        """The four raw scores of x, then x joins the step and long-run statistics."""
        c = self.config
        step_scale = max(1.25 * self.step, 1e-3 * max(abs(x), 1.0))
        distance = abs(x - self.last)
        self.last = x
        self.step += c.step_alpha * (min(distance, 3.0 * step_scale) - self.step)
        long_scale = max(1.25 * self.long_spread, 1e-3 * max(abs(self.long_level), 1.0))
        deviation = x - self.long_level
        raws = (0.0, 0.0, 0.0, 0.0)
        if judged:
            flat = long_scale / self.baseline.scale() - 1.0
            raws = (
                min(fast, c.cap) / c.cap,
                min(distance / step_scale, c.cap) / c.cap,
                min(abs(deviation) / long_scale, c.cap) / c.cap,
                min(max(flat, 0.0), c.flat_cap) / c.flat_cap,
            )
            deviation = max(-3.0 * long_scale, min(3.0 * long_scale, deviation))
        a = max(1.0 / (self.n), 1.0 / c.memory)
        self.long_level += a * deviation
        self.long_spread += a * (abs(deviation) - self.long_spread)
        return raws
