"""The likelihood ensemble: fixed-size, the same in any batch, one sensor is a row
(causality, determinism and the onset: test_one_sensor_detectors.py)."""

from __future__ import annotations

import pickle

import numpy as np

from plumeline.actors.ensemble import (
    EnsembleColumns,
    EnsembleConfig,
    LikelihoodEnsemble,
    score_of,
)
from tests.actors.test_one_sensor_detectors import in_shuffled_batches, noise


def _scores(values, config: EnsembleConfig | None = None) -> list[float]:
    detector = LikelihoodEnsemble(config)
    return [detector.update(x) for x in values]


def test_the_state_does_not_grow_with_the_readings():
    detector = LikelihoodEnsemble()
    sizes = []
    for chunk in range(3):
        for x in noise(5000, seed=chunk):
            detector.update(x)
        sizes.append(len(pickle.dumps(detector)))
    assert sizes[0] == sizes[1] == sizes[2]


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
    z_apart = in_shuffled_batches(apart.update, rng, x, fast, scale)
    assert np.array_equal(z_together, z_apart)
    assert z_together[600:610, 3].max() > EnsembleConfig().red  # the step is seen


def test_one_sensor_is_a_row_of_the_columns():
    values = noise(1200)
    detector = LikelihoodEnsemble()
    scores = [detector.update(x) for x in values]
    assert scores[-1] == score_of(detector.z)
    assert all(0.0 <= s <= 1.0 for s in scores)
