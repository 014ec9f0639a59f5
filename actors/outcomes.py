"""OutcomeWatch: what an approved recommendation actually did to the facility's CO2.

When an operator approves a recommendation, the facility's net CO2 rate (emitted −
stored, from its own `EmissionsMeasured` windows) over the `span_ms` before the
approval is the baseline. The watch then collects the whole windows that start after
the approval; once they cover `span_ms`, the facility records
`RecommendationOutcomeMeasured`: baseline and observed rates, their difference, and a
verdict that takes the hour-to-hour noise of both spans into account. Event time only,
so a replay of READINGS measures the same outcome.

Plain Python state (dicts, lists, tuples of numbers), so a snapshot of the facility
pickles it as it is.
"""

from __future__ import annotations

import math

from plumeline.events import (
    EmissionsMeasured,
    Event,
    RecommendationApproved,
    RecommendationIssued,
    RecommendationOutcomeMeasured,
    RecommendationRejected,
)

__all__ = ["OutcomeWatch", "verdict"]

_MS_PER_DAY = 86_400_000


class _Watch:
    __slots__ = ("approved_at", "baseline", "expected", "observed")

    def __init__(self, approved_at: int, baseline: list, expected: float) -> None:
        self.approved_at = approved_at
        self.baseline = baseline  # [(window_start, window_end, net tonnes)]
        self.expected = expected
        self.observed: list[tuple[int, int, float]] = []


class OutcomeWatch:
    def __init__(self, facility: str, span_ms: int) -> None:
        self.facility = facility
        self.span_ms = span_ms
        self.recent: list[tuple[int, int, float]] = []  # windows of the last span_ms
        self.expected: dict[str, float] = {}  # issued, not yet decided
        self.watching: dict[str, _Watch] = {}

    def due(self, measured: EmissionsMeasured, time: int) -> list[RecommendationOutcomeMeasured]:
        """Outcomes that the window `measured`, not yet applied, completes."""
        window = _window(measured)
        out = []
        for rid, w in self.watching.items():
            if window[0] < w.approved_at:
                continue
            observed = [*w.observed, window]
            if window[1] - observed[0][0] >= self.span_ms:
                out.append(self._outcome(rid, w, observed))
        return out

    def _outcome(self, rid: str, w: _Watch, observed: list) -> RecommendationOutcomeMeasured:
        o_rate, o_var = _rate(observed)
        o_span = (observed[0][0], observed[-1][1])
        if not w.baseline:
            return RecommendationOutcomeMeasured(
                facility=self.facility, recommendation_id=rid, approved_at=w.approved_at,
                baseline_start=w.approved_at, baseline_end=w.approved_at,
                baseline_rate_tco2e_per_day=0.0, window_start=o_span[0], window_end=o_span[1],
                observed_rate_tco2e_per_day=round(o_rate, 3), measured_effect_tco2e_per_day=0.0,
                uncertainty_tco2e_per_day=0.0, expected_effect_tco2e_per_day=w.expected,
                verdict="no baseline",
            )
        b_rate, b_var = _rate(w.baseline)
        effect = b_rate - o_rate
        uncertainty = 2 * math.sqrt(b_var + o_var)
        return RecommendationOutcomeMeasured(
            facility=self.facility, recommendation_id=rid, approved_at=w.approved_at,
            baseline_start=w.baseline[0][0], baseline_end=w.baseline[-1][1],
            baseline_rate_tco2e_per_day=round(b_rate, 3), window_start=o_span[0],
            window_end=o_span[1], observed_rate_tco2e_per_day=round(o_rate, 3),
            measured_effect_tco2e_per_day=round(effect, 3),
            uncertainty_tco2e_per_day=round(uncertainty, 3),
            expected_effect_tco2e_per_day=w.expected,
            verdict=verdict(effect, uncertainty, w.expected),
        )

    def apply(self, event: Event, time: int) -> None:
        match event:
            case RecommendationIssued(recommendation_id=r, expected_effect_tco2e_per_day=e):
                self.expected[r] = e
            case RecommendationRejected(recommendation_id=r):
                self.expected.pop(r, None)
            case RecommendationApproved(recommendation_id=r) if r in self.expected:
                baseline = [w for w in self.recent if w[1] <= time]
                self.watching[r] = _Watch(time, baseline, self.expected.pop(r))
            case EmissionsMeasured() as m:
                window = _window(m)
                self.recent = [w for w in self.recent if w[1] > window[1] - self.span_ms]
                self.recent.append(window)
                for w in self.watching.values():
                    if window[0] >= w.approved_at:
                        w.observed.append(window)
            case RecommendationOutcomeMeasured(recommendation_id=r):
                self.watching.pop(r, None)


def verdict(effect: float, uncertainty: float, expected: float) -> str:
    """effective: a reduction beyond the noise and at least half the one expected;
    partial: beyond the noise but less; worse: an increase beyond the noise."""
    if abs(effect) <= uncertainty:
        return "no measurable effect"
    if effect < 0:
        return "worse"
    return "effective" if effect >= 0.5 * expected else "partial"


def _window(m: EmissionsMeasured) -> tuple[int, int, float]:
    return (m.window_start, m.window_end, m.emitted_t - m.stored_t)


def _rate(windows: list[tuple[int, int, float]]) -> tuple[float, float]:
    """Mean net rate in t/day over the windows, and the variance of that mean."""
    rates = [net * _MS_PER_DAY / (end - start) for start, end, net in windows]
    mean = sum(rates) / len(rates)
    if len(rates) < 2:
        return mean, 0.0
    var = sum((r - mean) ** 2 for r in rates) / (len(rates) - 1)
    return mean, var / len(rates)
