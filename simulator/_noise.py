"""Measurement noise as a pure function of (seed, step, sensor).

Steps are cut into fixed blocks and each block draws from its own generator, keyed by
the seed and the block number. Any range of steps therefore gets the same numbers
whether it is generated tick by tick, in one large batch, or after a restart, and the
cost stays that of numpy's vectorised normal sampler.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

__all__ = ["MeasurementNoise"]

# Keeps the noise stream apart from the other uses of the seed (parameters, schedule).
NOISE_STREAM = 2
# Smooth sensors see noise filtered by an exponential moving average of this many
# taps: lag-1 autocorrelation PHI, variance kept at 1.
PHI, TAPS = 0.7, 10
_WEIGHTS = PHI ** np.arange(TAPS)
_WEIGHTS /= np.sqrt(np.sum(_WEIGHTS**2))


def _block_steps(width: int) -> int:
    """About 2**18 numbers a block: big enough to amortise a generator, small to cache."""
    steps = 1 << max(0, (2**18 // max(width, 1)).bit_length() - 1)
    return int(min(1024, max(16, steps)))


class MeasurementNoise:
    """Standard normal noise for `width` sensors; `smooth` marks autocorrelated ones."""

    def __init__(self, seed: int, width: int, smooth: np.ndarray, cache_blocks: int = 4):
        self.seed = seed
        self.width = width
        self.block = _block_steps(width)
        self._smooth = np.flatnonzero(smooth)
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_blocks = cache_blocks

    def _draw(self, block: int) -> np.ndarray:
        cached = self._cache.get(block)
        if cached is not None:
            self._cache.move_to_end(block)
            return cached
        # SeedSequence wants non-negative keys; steps before 0 (the smoothing window of
        # step 0) map to distinct large ones
        key = block % (1 << 63)
        seq = np.random.SeedSequence(self.seed, spawn_key=(NOISE_STREAM, key))
        drawn = np.random.Generator(np.random.PCG64(seq)).standard_normal((self.block, self.width))
        self._cache[block] = drawn
        if len(self._cache) > self._cache_blocks:
            self._cache.popitem(last=False)
        return drawn

    def _white(self, step_from: int, step_to: int) -> np.ndarray:
        first, last = step_from // self.block, (step_to - 1) // self.block
        parts = []
        for b in range(first, last + 1):
            lo = max(step_from, b * self.block) - b * self.block
            hi = min(step_to, (b + 1) * self.block) - b * self.block
            parts.append(self._draw(b)[lo:hi])
        return parts[0].copy() if len(parts) == 1 else np.concatenate(parts)

    def sample(self, step_from: int, step_to: int) -> np.ndarray:
        """Noise of steps [step_from, step_to), shape (steps, width)."""
        if not len(self._smooth):
            return self._white(step_from, step_to)
        steps = step_to - step_from
        wide = self._white(step_from - TAPS + 1, step_to)
        out = wide[TAPS - 1 :].copy()
        hist = wide[:, self._smooth]
        smooth = np.zeros((steps, len(self._smooth)))
        for j, w in enumerate(_WEIGHTS):
            smooth += w * hist[TAPS - 1 - j : TAPS - 1 - j + steps]
        out[:, self._smooth] = smooth
        return out
