"""A contextual detector: has the sensor been in this situation before?

After the Contextual Anomaly Detector, open-source edition (CAD OSE, Smirnov 2016: second
on the NAB leaderboard with one configuration for every file), written for Plumeline:
causal, deterministic and bounded.

A reading becomes a few facts: the bits of its level, one of 2**`levels_bits` levels of
the sensor's range (one fact per bit: "bit i is 1"), and one more fact when it lies
outside the range. A context pairs a left side (the previous reading's facts and the
contexts that were active then, as "neuron" facts) with a right side (facts that
followed). Every reading

- judges the contexts whose left side matched at the previous reading: each is credited
  with how much of its right side came true, and those fully true are active;
- grows new contexts from the overlap of what was expected and what came (only when the
  plain pair "previous left side → these facts" is itself new, as CAD does);
- predicts the next facts: the right sides of the best-credited matching contexts.

The reading's score, as CAD's, is ½ (1 − share of the judged contexts that were active
+ share of the candidate contexts that were new), and 0 when every fact was predicted.
After a score of `base_threshold` or more, the detector is silent for `rest` readings,
so an anomaly is reported once, at its onset.

Why it transfers: nothing in it is a distance or a threshold fitted to a signal. The
score is the share of the sensor's own patterns that failed, so one configuration serves
spiky, smooth and periodic series alike, and what the sensor has done before is not
surprising again. Where CAD is given the whole series' minimum and maximum in advance,
this detector's levels span the range seen so far; with `range_after` set, the range
of the first readings is kept, and a reading outside it adds the "outside" fact, a
situation never seen. Its memory is capped
at `max_contexts` contexts; past the cap it keeps judging and predicting with the
contexts it has, and learns no new ones, so its state is bounded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["ContextConfig", "ContextDetector"]

VALUE = 1 << 16  # facts 2**16 + 2i + b: bit i of the level is b
NEURON = 1 << 31  # fact 2**31 + c: context c was active at the previous reading


@dataclass(frozen=True, slots=True)
class ContextConfig:
    levels_bits: int = 3  # 2**bits levels of the range (CAD: 3)
    base_threshold: float = 0.75  # a score this high opens a rest period (CAD: 0.75)
    rest: int = 150  # readings of silence after it (CAD: NAB's probation / 5, 150)
    max_left: int = 7  # facts at most in a learnt left side (CAD: 7)
    max_active: int = 15  # active contexts carried to the next reading (CAD: 15)
    # readings whose minimum and maximum set the range; None: it keeps growing (chosen
    # by cross-validation, docs/detection.md: freezing it after 150 scored lower)
    range_after: int | None = None
    max_contexts: int = 20_000  # memory cap: no new context beyond it

    def __post_init__(self) -> None:
        if not 1 <= self.levels_bits <= 8 or min(self.rest, self.max_left) < 0:
            raise ValueError(f"invalid {self}")
        if self.max_contexts < 1 or self.max_active < 0:
            raise ValueError(f"invalid {self}")
        if self.range_after is not None and self.range_after < 1:
            raise ValueError(f"invalid {self}")


class _Sides:
    """One side's semi-contexts (fact sets shared by many contexts), indexed by fact."""

    __slots__ = ("ids", "facts", "by_fact")

    def __init__(self) -> None:
        self.ids: dict[tuple[int, ...], int] = {}
        self.facts: list[tuple[int, ...]] = []
        self.by_fact: dict[int, list[int]] = {}

    def add(self, facts: tuple[int, ...]) -> int:
        i = self.ids.get(facts)
        if i is None:
            i = self.ids[facts] = len(self.facts)
            self.facts.append(facts)
            for f in facts:
                self.by_fact.setdefault(f, []).append(i)
        return i

    def cross(self, facts) -> dict[int, tuple[int, ...]]:
        """Semi-context -> the facts of `facts` it holds, for every one holding any."""
        held: dict[int, list[int]] = {}
        for f in facts:
            for i in self.by_fact.get(f, ()):
                held.setdefault(i, []).append(f)
        return {i: tuple(h) for i, h in held.items()}


class ContextDetector:
    """One sensor's contextual detector: `update(x)` scores x in [0, 1] from the past
    only, then learns it. Plain lists and dicts: it pickles with the sensor's state."""

    __slots__ = (
        "config", "n", "low", "high", "left", "right", "links", "tried", "hits", "wins",
        "zero", "matched", "group", "predicted", "since",
    )  # fmt: skip

    def __init__(self, config: ContextConfig | None = None) -> None:
        self.config = config or ContextConfig()
        self.n = 0
        self.low = self.high = 0.0
        self.left, self.right = _Sides(), _Sides()
        self.links: list[dict[int, int]] = []  # left side -> {right side: context}
        self.tried: list[int] = []  # per context: facts it predicted, judged so far
        self.hits: list[int] = []  # ... of which came true
        self.wins: list[int] = []  # times it came fully true (active)
        self.zero: list[bool] = []  # a plain pair "left side -> facts that followed"
        self.matched: dict[int, tuple[int, ...]] = {}  # left sides the last group held
        self.group: tuple[int, ...] = ()  # the last reading's facts and active contexts
        self.predicted: frozenset[int] = frozenset()
        self.since = 0  # readings since the last score of base_threshold or more

    def contexts(self) -> int:
        return len(self.tried)

    def facts(self, x: float) -> tuple[int, ...]:
        if not math.isfinite(x):  # it would widen the range for good
            raise ValueError(f"a reading must be a finite number, not {x!r}")
        c = self.config
        if c.range_after is None or self.n < c.range_after:  # the range grows until set
            if self.n == 0 or x < self.low:
                self.low = x
            if self.n == 0 or x > self.high:
                self.high = x
        top = (1 << c.levels_bits) - 1
        span = self.high - self.low
        step = (span if span > 0.0 else float(top)) / top
        v = int((x - self.low) / step) if step > 0.0 else 0
        outside = () if 0 <= v <= top else (VALUE + 2 * c.levels_bits + (v > top),)
        v = 0 if v < 0 else top if v > top else v
        # ascending already: bit i's facts sort by i, and the outside fact after them all
        return tuple(VALUE + 2 * i + ((v >> i) & 1) for i in range(c.levels_bits)) + outside

    def _context(self, left: tuple, right: tuple, zero: bool) -> tuple[int | None, bool]:
        """The context left -> right, made if new and memory allows: (id, made)."""
        li = self.left.ids.get(left)
        ri = self.right.ids.get(right)
        found = self.links[li].get(ri) if li is not None and ri is not None else None
        if found is not None:
            if zero:
                self.zero[found] = True
            return found, False
        if len(self.tried) >= self.config.max_contexts:
            return None, False
        li, ri = self.left.add(left), self.right.add(right)
        if li == len(self.links):
            self.links.append({})
        made = self.links[li][ri] = len(self.tried)
        self.tried.append(0)
        self.hits.append(0)
        self.wins.append(0)
        self.zero.append(zero)
        return made, True

    def update(self, x: float) -> float:
        c = self.config
        facts = self.facts(x)
        surprised = any(f not in self.predicted for f in facts)
        candidates: set[tuple[tuple, tuple]] = set()
        fresh = None  # the plain pair "last group -> these facts", when it is new
        if self.group:
            candidates.add((self.group, facts))
            made, new = self._context(self.group, facts, zero=True)
            fresh = made if new else None
        # judge the contexts whose left side the last group held in full
        came = self.right.cross(facts)
        active: list[tuple[int, int, int, int]] = []
        judged = 0
        grown: list[tuple[tuple, tuple]] = []
        for li, held in self.matched.items():
            full = len(held) == len(self.left.facts[li])
            for ri, k in self.links[li].items():
                if k == fresh:
                    continue
                got = came.get(ri, ())
                if full:
                    judged += 1
                    size = len(self.right.facts[ri])
                    self.tried[k] += size
                    if not got:
                        continue
                    self.hits[k] += len(got)
                    if len(got) == size:
                        self.wins[k] += 1
                        active.append((self.wins[k], li, ri, k))
                        continue
                if got and fresh is not None and self.zero[k] and len(held) <= c.max_left:
                    grown.append((held, got))  # what was expected and came, as a context
        candidates.update(grown)
        share_active = len(active) / judged if judged else 0.0
        made = sum(self._context(left, right, zero=False)[1] for left, right in grown)
        made += fresh is not None
        share_new = made / len(candidates) if fresh is not None else 0.0
        active.sort()
        neurons = [NEURON + k for *_, k in active[max(0, len(active) - c.max_active) :]]
        self.group = tuple(sorted(set(facts).union(neurons)))
        self.predicted = self._predict()
        raw = (1.0 - share_active + share_new) / 2.0 if surprised else 0.0
        if self.n == 0:
            raw = 1.0  # as CAD starts: its history holds one score of 1, a rest period
        score = raw if self.since >= c.rest else 0.0
        self.since = 0 if raw >= c.base_threshold else self.since + 1
        self.n += 1
        return score

    def _predict(self) -> frozenset[int]:
        """The right sides of the best-credited contexts the new group holds in full."""
        self.matched = self.left.cross(self.group)
        best, sides = 0.0, []
        for li, held in self.matched.items():
            if len(held) != len(self.left.facts[li]):
                continue
            for ri, k in self.links[li].items():
                credit = self.hits[k] / self.tried[k] if self.tried[k] else 0.0
                if credit > best:
                    best, sides = credit, [ri]
                elif credit == best:
                    sides.append(ri)
        return frozenset(f for ri in sides for f in self.right.facts[ri])
