"""The likelihood in fixed-width columns: `RobustBaseline`'s method in ~300 bytes a sensor.

`RobustBaseline`'s likelihood (docs/detection.md) reads a sensor through three
statistics, each calibrated against its own history, and scores an episode once, at its
onset. Its state (a value histogram of up to 64 bins keyed by bin, three 41-bin
exceedance histograms, floats in Python objects) is ~2 KB per sensor, judged one reading
at a time. This is the same method held as one row per sensor and judged for many
sensors per numpy call:

- rarity: a histogram of `bins` value bins, `bin_width` long-run scales wide, on a grid
  centred on an anchor; the two end bins hold everything beyond the grid. Its p-value
  is the share of the past spent in bins visited no more often than this reading's;
  −log10 p, smoothed (`rarity_alpha`), is the statistic. The grid moves by whole bins
  when the long-run level leaves its middle half and doubles its bins' width when the
  long-run scale outgrows them (pairs merged): both rare, both per row.
- flatline: log(long-run scale / the alert baseline's scale), when positive.
- shift: |x − long-run level| / long-run scale, smoothed (`shift_alpha`).

Each statistic is calibrated by an exceedance histogram of `per_decade` bins a decade
over `decades` decades from `low` (counts at or above each bin, so a tail is two look-ups
and learning one masked add). The smallest tail, Bonferroni over three, is the surprise
(1 = rarer than `memory` readings can show); the score is the surprise where it tops the
episode envelope, else 0, as in `RobustBaseline`.

Counts are uint16 in eighths of a reading, all of a row's halved every `memory`·ln 2
readings (its n decides when): the decay of `memory` readings, in steps, and a count
never exceeds 8 × 2 × 3466 < 2^16. Sums of counts are exact integers and every other
step is element-wise, so a sensor's score is the same bit for bit whichever batch it
was judged in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from plumeline.actors.detection import DetectorConfig, RobustBaseline

__all__ = ["CompactColumns", "CompactConfig", "CompactLikelihood"]

STATISTICS = 3  # rarity, flatline, shift
UNIT = 8  # one reading's count, in eighths: a single visit outlives three halvings


@dataclass(frozen=True, slots=True)
class CompactConfig:
    memory: int = 5000  # readings that define "usual"
    bins: int = 24  # value bins, the two end ones holding what lies beyond the grid
    bin_width: float = 0.75  # value bins, in long-run scales
    per_decade: int = 6  # calibration bins per decade ...
    low: float = 1e-2  # ... from here ...
    decades: int = 4  # ... over this many decades, one more bin on each side
    rarity_alpha: float = 0.3  # rarity must last a few readings to count fully
    shift_alpha: float = 0.05  # a shift is judged over ~20 readings
    warmup: int = 30  # readings before the statistics count
    calibrate_after: int = 100  # readings before the likelihood speaks
    episode: int = 1000  # half-life of the episode envelope, in readings
    clip: float = 3.0  # Huber clip of the long-run baseline, in scales
    min_scale_ratio: float = 1e-3  # scale floor relative to the level


class CompactColumns:
    """The compact likelihood's state for many sensors, one row each."""

    SCALARS = ("long_level", "long_spread", "anchor", "width", "rarity", "shift", "envelope")

    def __init__(self, config: CompactConfig | None = None, capacity: int = 1) -> None:
        c = self.config = config or CompactConfig()
        self.n = np.zeros(capacity, np.int64)
        self.cols = {name: np.zeros(capacity) for name in self.SCALARS}
        self.top = np.zeros((capacity, STATISTICS))  # each statistic's decayed maximum
        self.values = np.zeros((capacity, c.bins), np.uint16)
        self.ones = np.ones(c.bins, np.float32)
        self.edges = c.low * 10.0 ** (np.arange(c.per_decade * c.decades + 1) / c.per_decade)
        # counts at or above each calibration bin, and a zero column past the last, the
        # three statistics side by side; learning s adds `learn[bin of s]`
        width = len(self.edges) + 2
        self.at_or_above = np.zeros((capacity, STATISTICS * width), np.uint16)
        self.learn = np.tril(np.full((width, width), UNIT, np.uint16))
        self.learn[:, -1] = 0
        self.offsets = np.arange(STATISTICS) * width
        # each bin's edges, below and above, for finding a statistic's bin
        self.below = np.concatenate(([-np.inf], self.edges))
        self.above = np.concatenate((self.edges, [np.inf]))
        self.period = round(c.memory * math.log(2.0))
        self.decay = 0.5 ** (1.0 / c.episode)
        half = c.bins // 2
        inner = np.arange(1, c.bins - 1)
        # where each value bin goes when the grid doubles: pairs merge around the anchor
        self.merge = np.concatenate(
            ([0], np.clip((inner - half) // 2 + half, 1, c.bins - 2), [c.bins - 1]))

    def state_bytes(self) -> int:
        """Bytes of state per sensor."""
        arrays = [self.n, self.top, self.values, self.at_or_above, *self.cols.values()]
        return sum(a.nbytes for a in arrays) // len(self.n)

    def update(self, rows: np.ndarray, x: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """Readings x of distinct `rows`, with the alert baseline's scale before x: each
        reading's score in [0, 1] (the surprise at an episode's onset, else 0)."""
        c, g = self.config, self.cols
        n = self.n[rows]
        level, spread = g["long_level"][rows], g["long_spread"][rows]
        floor = c.min_scale_ratio * np.maximum(np.abs(level), 1.0)
        long_scale = np.maximum(1.25 * spread, floor)
        deviation = x - level
        z = np.minimum(np.abs(deviation) / long_scale, 50.0)
        # the long-run baseline: a plain mean (weight 1/n) settling into an EWMA over
        # `memory` readings, Huber-clipped past warm-up
        bound = c.clip * long_scale
        deviation = np.where(n >= c.warmup, np.clip(deviation, -bound, bound), deviation)
        a = np.maximum(1.0 / (n + 1), 1.0 / c.memory)
        first = n == 0
        g["long_level"][rows] = np.where(first, x, level + a * deviation)
        g["long_spread"][rows] = np.where(first, 0.0, spread + a * (np.abs(deviation) - spread))
        self.n[rows] = n + 1
        halve = rows[(n > 0) & (n % self.period == 0)]
        if len(halve):
            self.values[halve] >>= 1
            self.at_or_above[halve] >>= 1
        out = np.zeros(len(rows))
        judged = np.flatnonzero(n >= c.warmup)
        if len(judged):
            out[judged] = self._judge(rows[judged], x[judged], z[judged],
                                      long_scale[judged], scale[judged], n[judged])
        return out

    def _judge(self, rows, x, z, long_scale, scale, n) -> np.ndarray:
        c, g = self.config, self.cols
        p = self._p_value(rows, x, c.bin_width * long_scale)
        rarity, shift = g["rarity"][rows], g["shift"][rows]
        rarity = g["rarity"][rows] = rarity + c.rarity_alpha * (
            np.minimum(-np.log10(p), 50.0) - rarity)
        shift = g["shift"][rows] = shift + c.shift_alpha * (z - shift)
        flatline = np.maximum(np.log(long_scale / scale), 0.0)
        out = np.zeros(len(rows))
        calibrated = np.flatnonzero(n >= c.calibrate_after)
        if len(calibrated):
            k = calibrated
            stats = np.stack((rarity[k], flatline[k], shift[k]), axis=1)
            out[k] = self._episode(rows[k], self._tail(rows[k], stats))
        return out

    def _p_value(self, rows, x, width) -> np.ndarray:
        """The share of the past spent in value bins visited no more often than x's; then
        x joins the histogram."""
        c, g = self.config, self.cols
        new = g["width"][rows] == 0.0
        if new.any():
            g["anchor"][rows[new]] = g["long_level"][rows[new]]
            g["width"][rows[new]] = width[new]
        while True:
            narrow = width > 2.0 * g["width"][rows]
            if not narrow.any():
                break
            self._widen(rows[narrow])
        anchor, grid = g["anchor"][rows], g["width"][rows]
        drifted = np.abs(g["long_level"][rows] - anchor) > grid * (c.bins / 4)
        if drifted.any():
            self._recentre(rows[drifted])
            anchor = g["anchor"][rows]
        b = np.floor((x - anchor) / grid) + c.bins // 2
        b = np.clip(b, 0, c.bins - 1).astype(np.intp)
        counts = self.values[rows]
        everyone = np.arange(len(rows))
        mine = counts[everyone, b]
        # sums of whole counts below 2^24: exact in float32, in any order
        rarer = (counts * (counts <= mine[:, None])).astype(np.float32) @ self.ones
        total = counts.astype(np.float32) @ self.ones
        # half a pseudo-visit keeps a bin never visited finite
        p = (rarer.astype(np.float64) + 0.5 * UNIT) / (total.astype(np.float64) + 0.5 * UNIT)
        counts[everyone, b] += UNIT
        self.values[rows] = counts
        return p

    def _widen(self, rows) -> None:
        """Double the bins' width of `rows`, merging pairs around the anchor; the end
        bins stay the end bins."""
        old = self.values[rows]
        merged = np.zeros_like(old)
        np.add.at(merged, (np.arange(len(rows))[:, None], self.merge[None, :]), old)
        self.values[rows] = merged
        self.cols["width"][rows] *= 2.0

    def _recentre(self, rows) -> None:
        """Move the grid of `rows` by whole bins to the long-run level; what falls off an
        end joins that end's bin."""
        g, k = self.cols, self.config.bins
        shift = np.rint((g["long_level"][rows] - g["anchor"][rows]) / g["width"][rows])
        inner = np.arange(1, k - 1)[None, :] - shift[:, None].astype(np.intp)
        target = np.concatenate((np.zeros((len(rows), 1), np.intp), np.clip(inner, 0, k - 1),
                                 np.full((len(rows), 1), k - 1, np.intp)), axis=1)
        old = self.values[rows]
        moved = np.zeros_like(old)
        np.add.at(moved, (np.arange(len(rows))[:, None], target), old)
        self.values[rows] = moved
        g["anchor"][rows] += shift * g["width"][rows]

    def _tail(self, rows, stats) -> np.ndarray:
        """Each statistic's P(S >= s) from its past, the smallest of the three; then s
        joins its past."""
        c = self.config
        b = self._bin(stats)  # (m, 3)
        counts = self.at_or_above[rows]
        flat = counts.reshape(-1)
        column = b + self.offsets + (np.arange(len(rows)) * counts.shape[1])[:, None]
        at = flat[column].astype(np.float64)
        upper = flat[column + 1].astype(np.float64)
        above = upper + 0.5 * (at - upper)  # half of s's own bin
        total = counts[:, self.offsets].astype(np.float64)
        tail = (above + UNIT) / (total + UNIT)  # one pseudo-count above
        # beyond the largest value remembered, the tail keeps falling as (top / s)^2
        top = self.top[rows]
        beyond = (stats > top) & (top > 0.0)
        tail = np.where(beyond, tail * (top / np.where(beyond, stats, 1.0)) ** 2, tail)
        counts += self.learn[b].reshape(len(rows), -1)
        self.at_or_above[rows] = counts
        self.top[rows] = np.maximum(stats, top * (1.0 - 1.0 / c.memory))
        return np.minimum(np.minimum(np.minimum(tail[:, 0], tail[:, 1]), tail[:, 2]), 1.0)

    def _bin(self, stats) -> np.ndarray:
        """The calibration bin of each statistic: the number of edges below it (0 at or
        below `low`), from its logarithm, then checked against the edges themselves."""
        c = self.config
        with np.errstate(divide="ignore"):  # a statistic of 0 is in the first bin
            guess = np.floor(np.log10(stats / c.low) * c.per_decade) + 1.0
        b = np.clip(guess, 0, len(self.edges)).astype(np.intp)
        b += stats > self.above[b]
        b -= stats <= self.below[b]
        return b

    def _episode(self, rows, tail) -> np.ndarray:
        """The surprise where it tops the row's episode envelope, else 0."""
        c = self.config
        surprise = np.clip(-np.log(3.0 * tail) / math.log(c.memory), 0.0, 1.0)
        envelope = self.cols["envelope"][rows]
        self.cols["envelope"][rows] = np.maximum(envelope * self.decay, surprise)
        return np.where(surprise > envelope, surprise, 0.0)


class CompactLikelihood:
    """One sensor over its own alert baseline: `update(x)` returns the reading's score."""

    __slots__ = ("baseline", "columns")

    _ROW = np.zeros(1, np.int64)

    def __init__(self, config: CompactConfig | None = None,
                 detector: DetectorConfig | None = None) -> None:
        self.baseline = RobustBaseline(detector or DetectorConfig())
        self.columns = CompactColumns(config)

    def update(self, x: float) -> float:
        scale = self.baseline.scale()  # the scale x is judged by, before x
        self.baseline.update(x)
        return float(self.columns.update(self._ROW, np.array([x]), np.array([scale]))[0])
