"""Streaming detectors: causal, deterministic, O(1) memory and time per reading.

`RobustBaseline` looks at a sensor in two ways, from the same readings.

Alerts. A Huber-clipped EWMA of the level and of the absolute deviation; `score` is
the distance of a reading from that level in scales. Clipping is what makes it robust:
a spike moves the baseline by at most `clip` scales, so the anomaly does not become the
new normal before it is reported. While an alert is open the baseline learns ten times
slower for the same reason; a lasting level shift still becomes the new normal in the
end, and its alert clears. The decision adds hysteresis (raise above `raise_score`,
clear below `clear_score`) and a minimum duration on both edges, so alerts do not flap.

Likelihood. How unusual the sensor is now, against its last `memory` readings, from
three statistics that each see a different fault:

- rarity: how seldom the sensor has been at this value. A decayed histogram of values
  (bins a quarter of the long-run scale wide) gives a p-value, the share of the past
  spent in bins visited no more often than this one. It sees values outside the usual
  range and values the signal only ever passes through.
- flatline: the short-term spread collapsing below the long-run spread, as when a
  signal freezes or a gap is filled by interpolation.
- shift: the distance of the level from its long-run baseline, in long-run scales,
  smoothed over ~20 readings: a sustained shift or excursion.

Each statistic is calibrated against its own history (a decayed exceedance histogram
on a log grid), so a sensor that is always spiky is not always surprising. The smallest
of the three tail probabilities, Bonferroni-corrected, is the `surprise`, scaled to
[0, 1] so that 1 is rarer than anything `memory` readings can show. `likelihood` is the
surprise when it tops the episode envelope (the largest recent surprise, halving every
`episode` readings) and 0 otherwise: an anomaly scores once, at its onset, and an
episode that goes on does not score again unless it gets worse. This is the score the
NAB benchmark sees (infra/cli/nab.py, docs/detection.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["DetectorConfig", "RobustBaseline", "severity_of"]


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    alpha: float = 0.05  # EWMA weight of a new reading; ~20 readings of memory
    warmup: int = 30  # readings before any score counts
    clip: float = 3.0  # a reading moves the baseline by at most this many scales
    raise_score: float = 6.0
    clear_score: float = 3.0
    raise_after: int = 3  # consecutive readings above raise_score
    clear_after: int = 5  # consecutive readings below clear_score
    stuck_after: int = 60  # identical consecutive readings that make a sensor "stuck"
    stuck_quick: int = 10  # ... or this many, from a sensor that has never repeated itself
    # drift: the baseline (above) against a slower one, ~10x its memory. A ramp too slow
    # for the baseline's score pulls the two apart further than they usually are apart.
    drift_ratio: float = 0.1  # the slow baseline's alpha, relative to `alpha`
    drift_warmup: int = 300  # readings before drift is judged
    drift_score: float = 3.0  # |baseline - slow baseline| in its usual distances ...
    drift_after: int = 10  # ... for this many readings in a row
    drift_clear: float = 2.0
    min_scale_ratio: float = 1e-3  # scale floor relative to the level, for flat signals
    # the likelihood: a ranking score for NAB and dashboards, not for paging anyone
    # (docs/detection.md). It costs ~9x the alert path per reading and ~2 KB of state
    # per sensor, so a fleet turns it on only where someone reads it.
    likelihood: bool = False
    memory: int = 5000  # readings that define "usual": long-run baseline, histograms
    bin_width: float = 0.25  # value-histogram bins, in long-run scales
    max_bins: int = 64  # value-histogram bins kept; the least visited goes first
    rarity_alpha: float = 0.3  # rarity must last a few readings to count fully
    shift_alpha: float = 0.05  # a shift is judged over ~20 readings
    calibrate_after: int = 100  # readings before the likelihood speaks
    episode: int = 1000  # half-life, in readings, of the episode envelope


def severity_of(score: float) -> str:
    if score >= 24:
        return "critical"
    if score >= 12:
        return "major"
    if score >= 8:
        return "minor"
    return "warning"


class _Exceedance:
    """P(S >= s) for a statistic S >= 0, from a decayed histogram of its past values.

    Bins are eight per decade from 1e-2 to 1e3. Beyond the largest value remembered the
    tail keeps falling as (top / s)^2, so "far beyond anything seen" outranks "just
    beyond". Counts decay by (1 - 1/memory) per reading, done by growing the weight of
    new counts instead of shrinking the old ones.
    """

    __slots__ = ("counts", "total", "weight", "growth", "top", "keep")
    LOW, STEP, BINS = 1e-2, math.log(1e5) / 39, 40

    def __init__(self, memory: int) -> None:
        self.counts = [0.0] * (self.BINS + 1)
        self.total = 0.0
        self.weight = 1.0
        self.growth = 1.0 / (1.0 - 1.0 / memory)
        self.keep = 1.0 - 1.0 / memory
        self.top = 0.0

    def observe(self, s: float) -> float:
        """P(S >= s) from the past, then s joins the past."""
        b = 0 if s <= self.LOW else min(self.BINS, 1 + int(math.log(s / self.LOW) / self.STEP))
        c = self.counts
        weight = self.weight
        total = self.total
        # most values sit in the low bins: summing below is the shorter walk
        above = total - sum(c[:b]) - 0.5 * c[b] if b < 20 else sum(c[b + 1 :]) + 0.5 * c[b]
        t = (max(above, 0.0) + weight) / (total + weight)  # one pseudo-count above
        if s > self.top > 0.0:
            t *= (self.top / s) ** 2
        weight *= self.growth
        c[b] += weight
        self.total = total + weight
        self.weight = weight
        self.top = max(s, self.top * self.keep)
        if weight > 1e50:
            self.counts = [v / weight for v in c]
            self.total /= weight
            self.weight = 1.0
        return min(t, 1.0)


class _ValueHistogram:
    """Decayed visits per value bin; bins keep their anchor and double in width when the
    long-run scale outgrows them, and at most `max_bins` are kept."""

    __slots__ = ("counts", "total", "weight", "growth", "anchor", "width", "max_bins")

    def __init__(self, memory: int, max_bins: int) -> None:
        self.counts: dict[int, float] = {}
        self.total = 0.0
        self.weight = 1.0
        self.growth = 1.0 / (1.0 - 1.0 / memory)
        self.anchor = math.nan
        self.width = 0.0
        self.max_bins = max_bins

    def p_value(self, x: float, width: float) -> tuple[float, int]:
        """The share of the past spent in bins visited no more often than x's bin."""
        if self.width == 0.0:
            self.anchor, self.width = x, width
        while width > 2.0 * self.width:
            self.width *= 2.0
            merged: dict[int, float] = {}
            for k, v in self.counts.items():
                merged[k // 2] = merged.get(k // 2, 0.0) + v
            self.counts = merged
        b = math.floor((x - self.anchor) / self.width)
        mine = self.counts.get(b, 0.0)
        rarer = sum(filter(mine.__ge__, self.counts.values()))
        # half a pseudo-visit keeps a never-seen value finite
        return (rarer + 0.5 * self.weight) / (self.total + 0.5 * self.weight), b

    def learn(self, b: int) -> None:
        self.weight *= self.growth
        counts = self.counts
        counts[b] = counts.get(b, 0.0) + self.weight
        self.total += self.weight
        if len(counts) > self.max_bins:
            self.total -= counts.pop(min(counts, key=counts.get))
        if self.weight > 1e50:
            for k in counts:
                counts[k] /= self.weight
            self.total /= self.weight
            self.weight = 1.0


class RobustBaseline:
    """State of one sensor's detector; `update` returns (score, decision) and sets
    `surprise` and `likelihood` (both in [0, 1])."""

    __slots__ = (
        "config", "level", "spread", "n", "above", "below", "active", "last", "same",
        "long_level", "long_spread", "values", "calibration", "rarity", "shift",
        "envelope", "decay", "surprise", "likelihood", "longest_same", "slow", "apart",
        "drift", "drifting", "drift_open", "drift_below", "drift_decision",
    )  # fmt: skip

    def __init__(self, config: DetectorConfig) -> None:
        self.config = config
        self.level = 0.0
        self.spread = 0.0
        self.n = 0
        self.above = 0
        self.below = 0
        self.active: str | None = None  # "deviation" or "stuck" while an alert is open
        self.last = math.nan
        self.same = 0
        self.long_level = 0.0
        self.long_spread = 0.0
        self.values = _ValueHistogram(config.memory, config.max_bins) if config.likelihood else None
        self.calibration = (
            tuple(_Exceedance(config.memory) for _ in range(3)) if config.likelihood else ()
        )
        self.rarity = 0.0
        self.shift = 0.0
        self.envelope = 0.0
        self.decay = 0.5 ** (1.0 / config.episode)
        self.surprise = 0.0  # how unusual the recent readings are, 1 = beyond memory
        self.likelihood = 0.0  # the surprise at the onset of an episode, 0 elsewhere
        self.longest_same = 0  # the longest run of repeats seen outside an alert
        self.slow = 0.0  # the slow baseline
        self.apart = 0.0  # the usual |level - slow|, learned at the slow pace
        self.drift = 0.0  # |level - slow| / apart
        self.drifting = 0  # consecutive readings with drift >= drift_score
        self.drift_below = 0
        self.drift_open = False  # a drift alert is open (beside any other)
        self.drift_decision: str | None = None  # "raise" or "clear", of the last update

    def _floor(self) -> float:
        return self.config.min_scale_ratio * max(abs(self.level), 1.0)

    def scale(self) -> float:
        # 1.25 * mean absolute deviation estimates sigma for Gaussian noise
        return max(1.25 * self.spread, self._floor())

    def update(self, x: float) -> tuple[float, str | None]:
        """Score x against the past only, then learn from it; `surprise` and
        `likelihood` are x's too, afterwards.

        decision: "raise:<kind>" when an alert should open, "clear" when the open one
        should close, None otherwise.

        The hottest code of the loop, one call per reading: the alert decision and the
        drift judgement are written out here rather than called, with the state read
        once into locals. `b if b < a else a` stands for min(a, b) and `b if b > a else
        a` for max(a, b) (both keep the first argument on a tie, as min and max do), so
        every float is the one the plain formulas give, bit for bit.
        """
        c = self.config
        same, active = self.same, self.active
        if x == self.last:
            same += 1
        else:
            if active is None and same > self.longest_same:
                self.longest_same = same
            same = 0
        self.same = same
        self.last = x
        n = self.n
        if n == 0:
            self.level = self.long_level = self.slow = x
            self.n = 1
            return 0.0, None
        level = self.level
        floor = abs(level)
        floor = c.min_scale_ratio * (1.0 if floor < 1.0 else floor)  # self._floor()
        scale = 1.25 * self.spread
        scale = floor if floor > scale else scale  # self.scale()
        if c.likelihood:
            self._likelihood(x, scale, max(1.25 * self.long_spread, floor))
        deviation = x - level
        score = abs(deviation) / scale if n >= c.warmup else 0.0
        # the decision, with hysteresis and a minimum duration on both edges
        decision = None
        if active is None:
            stuck_after = c.stuck_quick if self.longest_same == 0 else c.stuck_after
            if n >= c.warmup and same >= stuck_after:
                active = self.active = "stuck"
                decision = "raise:stuck"
            else:
                above = self.above + 1 if score >= c.raise_score else 0
                if above >= c.raise_after:
                    above = 0
                    active = self.active = "deviation"
                    decision = "raise:deviation"
                self.above = above
        elif active == "stuck":
            if same == 0:
                self.below = 0
                active = self.active = None
                decision = "clear"
        else:
            below = self.below + 1 if score < c.clear_score else 0
            if below >= c.clear_after:
                below = 0
                active = self.active = None
                decision = "clear"
            self.below = below
        # drift: judge, then learn, the slow baseline (against the level before x)
        slow, usual_apart = self.slow, self.apart
        apart = level - slow
        apart = apart if apart >= 0 else -apart
        half = 0.5 * scale
        usual = usual_apart if usual_apart > half else half
        drift = self.drift = apart / usual if n >= c.drift_warmup else 0.0
        drift_decision = None
        drift_open = self.drift_open
        if not drift_open:
            drifting = self.drifting + 1 if drift >= c.drift_score else 0
            if drifting >= c.drift_after and active is None:
                drifting, drift_open, drift_decision = 0, True, "raise"
                self.drift_open = True
            self.drifting = drifting
        else:
            drift_below = self.drift_below + 1 if drift < c.drift_clear else 0
            if drift_below >= c.clear_after:
                drift_below, drift_open, drift_decision = 0, False, "clear"
                self.drift_open = False
            self.drift_below = drift_below
        self.drift_decision = drift_decision
        # while anything is open the slow baseline keeps the memory of before
        pace = c.alpha * c.drift_ratio
        if drift_open or active is not None:
            pace *= 0.1
        bound = c.clip * scale
        step = x - slow
        self.slow = slow + pace * (bound if step > bound else -bound if step < -bound else step)
        if not drift_open:
            cap = 4 * (usual_apart if usual_apart > scale else scale)
            self.apart = usual_apart + pace * ((apart if apart < cap else cap) - usual_apart)
        # learn, Huber-clipped, ten times slower while an alert is open
        alpha = c.alpha if active is None else c.alpha / 10
        clipped = deviation if deviation < bound else bound
        clipped = clipped if clipped > -bound else -bound
        self.level = level + alpha * clipped
        distance = abs(deviation)
        spread = self.spread
        self.spread = spread + alpha * ((bound if bound < distance else distance) - spread)
        self.n = n + 1
        return score, decision

    def _likelihood(self, x: float, scale: float, long_scale: float) -> None:
        """Score x on the three statistics, set surprise and likelihood, then learn.

        Each calibration learns the statistic at once, so one that keeps climbing is
        judged against its own climb: the onset of an episode is its most surprising
        reading, which is the point of the likelihood.
        """
        c = self.config
        n = self.n
        # the long-run baseline starts as a plain mean (weight 1/n) and settles into an
        # EWMA over `memory` readings; past warm-up it is Huber-clipped like `level`
        deviation = x - self.long_level
        z = min(abs(deviation) / long_scale, 50.0)
        if n >= c.warmup:
            deviation = max(-c.clip * long_scale, min(c.clip * long_scale, deviation))
        a = max(1.0 / (n + 1), 1.0 / c.memory)
        self.long_level += a * deviation
        self.long_spread += a * (abs(deviation) - self.long_spread)
        if n < c.warmup:
            return
        p, b = self.values.p_value(x, c.bin_width * long_scale)
        self.values.learn(b)
        self.rarity += c.rarity_alpha * (min(-math.log10(max(p, 1e-300)), 50.0) - self.rarity)
        self.shift += c.shift_alpha * (z - self.shift)
        flatline = max(0.0, math.log(long_scale / scale))
        if n < c.calibrate_after:  # the statistics are still settling: not their history
            return
        of_rarity, of_flatline, of_shift = self.calibration
        tail = min(
            of_rarity.observe(self.rarity),
            of_flatline.observe(flatline),
            of_shift.observe(self.shift),
        )
        surprise = min(1.0, max(0.0, -math.log(3.0 * tail) / math.log(c.memory)))
        self.surprise = surprise
        self.likelihood = surprise if surprise > self.envelope else 0.0
        self.envelope = max(self.envelope * self.decay, surprise)
