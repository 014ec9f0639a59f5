"""The likelihood ensemble: causal, deterministic, fixed-size, and an anomaly scores once,
at its onset."""

from __future__ import annotations

import pickle

import numpy as np

from plumeline.actors.ensemble import (
    EnsembleColumns,
    EnsembleConfig,
    LikelihoodEnsemble,
    score_of,
)


def _scores(values, config: EnsembleConfig | None = None) -> list[float]:
    detector = LikelihoodEnsemble(config)
    return [detector.update(x) for x in values]


def _noise(n: int, seed: int = 4) -> list[float]:
    return (20.0 + np.random.default_rng(seed).standard_normal(n)).tolist()


def test_a_score_depends_on_the_past_only():
    values = _noise(2000)
    other = values[:1500] + [v + 8.0 for v in values[1500:]]
    a, b = _scores(values), _scores(other)
    assert a[:1500] == b[:1500]
    assert a[1500:] != b[1500:]


def test_the_same_readings_give_the_same_scores_and_a_snapshot_resumes_exactly():
    values = _noise(1500)
    whole = _scores(values)
    assert whole == _scores(values)
    detector = LikelihoodEnsemble()
    first = [detector.update(x) for x in values[:700]]
    resumed = pickle.loads(pickle.dumps(detector))
    assert first + [resumed.update(x) for x in values[700:]] == whole


def test_the_state_does_not_grow_with_the_readings():
    detector = LikelihoodEnsemble()
    sizes = []
    for chunk in range(3):
        for x in _noise(5000, seed=chunk):
            detector.update(x)
        sizes.append(len(pickle.dumps(detector)))
    assert sizes[0] == sizes[1] == sizes[2]


def test_a_step_scores_at_its_onset_and_not_again_while_it_lasts():
    values = _noise(3000)
    values[2000:] = [v + 10.0 for v in values[2000:]]
    scores = np.array(_scores(values))
    quiet = scores[300:2000].max()
    onset = scores[2000:2010].max()
    assert onset > 0.5 > quiet  # 0.5: a 1e-5 tail, HTM's red
    assert scores[2010:].max() < onset  # the filter keeps the rest of the step quiet


def test_nothing_is_scored_while_the_likelihood_learns():
    values = _noise(400)
    values[100] += 50.0  # a spike during the learning period
    assert max(_scores(values)[: EnsembleConfig().learn]) == 0.0


def test_a_sensor_scores_the_same_whatever_batch_it_is_judged_in():
    rng = np.random.default_rng(9)
    sensors, readings = 12, 900
    x = 50.0 + rng.standard_normal((readings, sensors)) * rng.uniform(0.1, 5.0, sensors)
    x[600:, 3] += 40.0  # one sensor steps
    fast = np.abs(rng.standard_normal((readings, sensors))) * 2.0
    scale = rng.uniform(0.5, 2.0, (readings, sensors))
    together = EnsembleColumns(capacity=sensors)
    z_together = np.array([together.update(np.arange(sensors), x[t], fast[t], scale[t])
                           for t in range(readings)])
    # the same readings, the sensors split into uneven batches in a shuffled order
    apart = EnsembleColumns(capacity=sensors)
    z_apart = np.zeros_like(z_together)
    for t in range(readings):
        order = rng.permutation(sensors)
        for batch in np.split(order, [1, 5]):
            z_apart[t, batch] = apart.update(batch, x[t, batch], fast[t, batch], scale[t, batch])
    assert np.array_equal(z_together, z_apart)
    assert z_together[600:610, 3].max() > EnsembleConfig().red  # the step is seen


def test_one_sensor_is_a_row_of_the_columns():
    values = _noise(1200)
    detector = LikelihoodEnsemble()
    scores = [detector.update(x) for x in values]
    assert scores[-1] == score_of(detector.z)
    assert all(0.0 <= s <= 1.0 for s in scores)
