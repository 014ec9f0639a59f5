"""How many readings an array operation must cover before vectorising the detector pays.

`python -m plumeline.infra.bench.vector` times `RobustBaseline.update` (one Python call per
reading, as the shard hosts run it) against the same arithmetic over arrays of N
sensors in numpy (the level, spread, slow baseline and usual distance learned, the
score, stuck run, drift and raise counters judged; nothing is raised), per reading,
for N = 10 … 10,000. numpy costs ~1–2 µs per array operation whatever its length, so
a facility's frame of 100 readings gains little and a shard host's fetched batch of
thousands gains much: that decides where the arrays belong (docs/benchmarks.md).
"""

from __future__ import annotations

import random
import sys
import time

import numpy as np

from plumeline.actors.detection import DetectorConfig, RobustBaseline

__all__ = ["run"]


def _frames(n: int, frames: int, seed: int = 1) -> np.ndarray:
    rng = random.Random(seed)
    return np.array([[100 + rng.gauss(0, 1) for _ in range(n)] for _ in range(frames)])


_STATE = ("level", "spread", "slow", "apart", "last", "same", "above", "drifting", "n")


def _arrays(detectors: list[RobustBaseline]) -> dict[str, np.ndarray]:
    return {k: np.array([getattr(d, k) for d in detectors]) for k in _STATE}


def _python(detectors: list[RobustBaseline], frames: list[list[float]]) -> float:
    t = time.process_time()
    for frame in frames:
        for d, x in zip(detectors, frame):
            d.update(x)
    return time.process_time() - t


def _numpy(c: DetectorConfig, s: dict[str, np.ndarray], timed: np.ndarray) -> float:
    """`RobustBaseline.update`'s arithmetic over arrays, for sensors past warm-up with
    no alert open and none raised: the same floats, bit for bit (tests/actors)."""
    level, spread, slow, apart = s["level"], s["spread"], s["slow"], s["apart"]
    last, same, above, drifting, n = s["last"], s["same"], s["above"], s["drifting"], s["n"]
    pace = c.alpha * c.drift_ratio
    t = time.process_time()
    for x in timed:
        same = np.where(x == last, same + 1, 0)
        last = x
        scale = np.maximum(1.25 * spread, c.min_scale_ratio * np.maximum(np.abs(level), 1.0))
        deviation = x - level
        above = np.where(np.abs(deviation) / scale >= c.raise_score, above + 1, 0)
        gap = np.abs(level - slow)
        drifting = np.where(gap / np.maximum(apart, 0.5 * scale) >= c.drift_score,
                            drifting + 1, 0)
        bound = c.clip * scale
        slow = slow + pace * np.clip(x - slow, -bound, bound)
        apart = apart + pace * (np.minimum(gap, 4 * np.maximum(apart, scale)) - apart)
        level = level + c.alpha * np.clip(deviation, -bound, bound)
        spread = spread + c.alpha * (np.minimum(bound, np.abs(deviation)) - spread)
        n = n + 1
        # whether any sensor of the batch needs its reading judged one by one
        bool((above >= c.raise_after).any() | (same >= c.stuck_after).any()
             | (drifting >= c.drift_after).any())
    elapsed = time.process_time() - t
    s.update(level=level, spread=spread, slow=slow, apart=apart, last=last, same=same,
             above=above, drifting=drifting, n=n)
    return elapsed


def run(n: int, readings: int = 200_000) -> tuple[float, float, bool]:
    """(Python CPU s per reading, numpy CPU s per reading over arrays of n, whether the
    two ended in the same state bit for bit), from the same warmed-up detectors."""
    c = DetectorConfig()
    data = _frames(n, 400 + max(readings // n, 3))
    detectors = [RobustBaseline(c) for _ in range(n)]
    _python(detectors, data[:400].tolist())
    state = _arrays(detectors)
    timed = data[400:]
    py = _python(detectors, timed.tolist()) / timed.size
    vec = _numpy(c, state, timed) / timed.size
    after = _arrays(detectors)
    same = all(np.array_equal(after[k], state[k]) for k in _STATE)
    return py, vec, same


def main(argv: list[str] | None = None) -> int:
    sizes = [int(a) for a in (argv if argv is not None else sys.argv[1:])] or [10, 100,
                                                                                1_000, 10_000]
    print(f"{'readings per array op':>22} {'Python µs':>10} {'numpy µs':>9} {'ratio':>6}"
          "  same state")
    for n in sizes:
        py, vec, same = run(n)
        print(f"{n:>22,} {py * 1e6:>10.2f} {vec * 1e6:>9.3f} {py / vec:>6.1f}  {same}",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
