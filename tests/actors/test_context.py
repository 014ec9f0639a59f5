"""The contextual detector: causal, deterministic, bounded, and it sees a broken pattern."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from plumeline.actors.context import ContextConfig, ContextDetector


def _scores(values, config: ContextConfig | None = None) -> list[float]:
    detector = ContextDetector(config)
    return [detector.update(x) for x in values]


def _periodic(n: int, seed: int = 3) -> list[float]:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return (10 + 5 * np.sin(2 * np.pi * t / 50) + 0.2 * rng.standard_normal(n)).tolist()


def test_a_score_depends_on_the_past_only():
    values = _periodic(1200)
    other = values[:700] + (np.asarray(values[700:]) * -3.0 + 40.0).tolist()
    a, b = _scores(values), _scores(other)
    assert a[:700] == b[:700]
    assert a[700:] != b[700:]  # the change is seen, after it happens


def test_the_same_readings_give_the_same_scores_and_a_snapshot_resumes_exactly():
    values = _periodic(900)
    whole = _scores(values)
    assert whole == _scores(values)
    detector = ContextDetector()
    first = [detector.update(x) for x in values[:450]]
    resumed = pickle.loads(pickle.dumps(detector))
    assert first + [resumed.update(x) for x in values[450:]] == whole


def test_memory_stops_growing_at_its_cap():
    rng = np.random.default_rng(7)
    detector = ContextDetector(ContextConfig(max_contexts=300))
    grew = []
    for k, x in enumerate(rng.standard_normal(4000).tolist()):
        score = detector.update(x)
        assert 0.0 <= score <= 1.0
        if k in (2000, 3999):
            grew.append(detector.contexts())
    assert grew == [300, 300]


def test_a_new_situation_scores_at_its_onset_and_the_rest_period_keeps_it_quiet():
    values = _periodic(3000)
    values[2500:2530] = [17.0] * 30  # the wave stops above anything it showed
    scores = _scores(values, ContextConfig(range_after=150))
    assert scores[2500] >= 0.75 > max(scores[1000:2500])
    assert max(scores[2501:2500 + 150]) == 0.0  # one report per anomaly


def test_a_single_reading_outside_the_learnt_range_is_seen():
    values = _periodic(2000)
    values[1800] = 100.0
    scores = _scores(values, ContextConfig(range_after=150))
    assert scores[1800] >= 0.75 > max(scores[1000:1800])


def test_a_reading_that_is_no_number_is_refused_and_changes_nothing():
    detector = ContextDetector()
    for x in _periodic(200):
        detector.update(x)
    before = pickle.dumps(detector)
    with pytest.raises(ValueError, match="finite"):
        detector.update(float("nan"))
    assert pickle.dumps(detector) == before


def test_nonsense_configuration_is_refused():
    with pytest.raises(ValueError):
        ContextConfig(levels_bits=0)
    with pytest.raises(ValueError):
        ContextConfig(max_contexts=0)
    with pytest.raises(ValueError):
        ContextConfig(range_after=0)
