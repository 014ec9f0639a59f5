"""Streaming detectors: causal, deterministic, O(1) memory and time per reading.

`RobustBaseline` keeps a Huber-clipped EWMA of a sensor's level and of its absolute
deviation. Clipping is what makes it robust: a spike moves the baseline by at most
`clip` scales, so the anomaly does not become the new normal before it is reported.
While an alert is open the baseline learns ten times slower for the same reason; a
lasting level shift still becomes the new normal in the end, and its alert clears.

The alert decision adds hysteresis (raise above `raise_score`, clear below
`clear_score`) and a minimum duration on both edges, so alerts do not flap.
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
    min_scale_ratio: float = 1e-3  # scale floor relative to the level, for flat signals


def severity_of(score: float) -> str:
    if score >= 24:
        return "critical"
    if score >= 12:
        return "major"
    if score >= 8:
        return "minor"
    return "warning"


class RobustBaseline:
    """State of one sensor's detector; `update` returns (score, decision)."""

    __slots__ = ("above", "active", "below", "config", "last", "level", "n", "same", "spread")

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

    def scale(self) -> float:
        # 1.25 * mean absolute deviation estimates sigma for Gaussian noise
        floor = self.config.min_scale_ratio * max(abs(self.level), 1.0)
        return max(1.25 * self.spread, floor)

    def update(self, x: float) -> tuple[float, str | None]:
        """Score x against the past only, then learn from it.

        decision: "raise:<kind>" when an alert should open, "clear" when the open one
        should close, None otherwise.
        """
        c = self.config
        self.same = self.same + 1 if x == self.last else 0
        self.last = x
        if self.n == 0:
            self.level, self.n = x, 1
            return 0.0, None
        scale = self.scale()
        deviation = x - self.level
        score = abs(deviation) / scale if self.n >= c.warmup else 0.0
        decision = self._decide(score)
        alpha = c.alpha if self.active is None else c.alpha / 10
        clipped = max(-c.clip * scale, min(c.clip * scale, deviation))
        self.level += alpha * clipped
        self.spread += alpha * (min(abs(deviation), c.clip * scale) - self.spread)
        self.n += 1
        return score, decision

    def _decide(self, score: float) -> str | None:
        c = self.config
        if self.active is None:
            if self.n >= c.warmup and self.same >= c.stuck_after:
                self.active = "stuck"
                return "raise:stuck"
            self.above = self.above + 1 if score >= c.raise_score else 0
            if self.above >= c.raise_after:
                self.above = 0
                self.active = "deviation"
                return "raise:deviation"
            return None
        if self.active == "stuck":
            cleared = self.same == 0
        else:
            self.below = self.below + 1 if score < c.clear_score else 0
            cleared = self.below >= c.clear_after
        if cleared:
            self.below = 0
            self.active = None
            return "clear"
        return None
