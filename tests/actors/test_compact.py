"""The compact likelihood: fixed-size, the same in any batch, a value the signal only
passes through is rare, one sensor is a row (causality, determinism and the onset:
test_one_sensor_detectors.py)."""

from __future__ import annotations

import numpy as np

from plumeline.actors.compact import CompactColumns, CompactConfig, CompactLikelihood
from tests.actors.test_one_sensor_detectors import in_shuffled_batches, noise


def _scores(values, config: CompactConfig | None = None) -> list[float]:
    detector = CompactLikelihood(config)
    return [detector.update(x) for x in values]


def test_the_state_is_a_fixed_few_hundred_bytes_per_sensor():
    columns = CompactColumns(capacity=3)
    assert columns.state_bytes() <= 300
    rows = np.arange(3)
    rng = np.random.default_rng(2)
    sizes = []
    for _ in range(3):  # past two halvings of the counts (every 3466 readings)
        for _ in range(4000):
            # a level that wanders far and a spread that grows: the grid moves and widens
            columns.update(rows, rng.standard_normal(3) * rng.uniform(1, 50) + 1e3 * rng.random(),
                           np.ones(3))
        sizes.append(sum(a.nbytes for a in (columns.values, columns.at_or_above, columns.top)))
    assert sizes[0] == sizes[1] == sizes[2]
    assert columns.at_or_above.max() < 2**16 - 1 and columns.values.max() < 2**16 - 1


def test_a_value_the_signal_only_passes_through_is_rare():
    # a square wave between 0 and 10, then stuck half-way: inside the usual range and
    # the usual distance from the long-run level, but where the signal never stays
    t = np.arange(6000)
    noise = 0.1 * np.random.default_rng(3).standard_normal(6000)
    values = np.where((t // 50) % 2 == 0, 0.0, 10.0) + noise
    values[5000:5100] = 5.0 + 0.1 * np.random.default_rng(4).standard_normal(100)
    scores = np.array(_scores(values.tolist()))
    assert scores[5000:5020].max() > 0.75 > scores[1000:5000].max()


def test_a_sensor_scores_the_same_whatever_batch_it_is_judged_in():
    rng = np.random.default_rng(9)
    sensors, readings = 12, 1500
    x = 50.0 + rng.standard_normal((readings, sensors)) * rng.uniform(0.1, 5.0, sensors)
    x[:, 7] += np.linspace(0.0, 400.0, readings)  # one drifts away: its grid moves
    x[800:, 5] *= 30.0  # one grows noisy: its bins widen
    x[1000:, 3] += 40.0  # one steps
    scale = rng.uniform(0.5, 2.0, (readings, sensors))
    config = CompactConfig(memory=200)  # counts halved every 139 readings
    together = CompactColumns(config, capacity=sensors)
    s_together, anchors, widths = [], set(), set()
    for t in range(readings):
        s_together.append(together.update(np.arange(sensors), x[t], scale[t]))
        anchors.add(together.cols["anchor"][7])
        widths.add(together.cols["width"][5])
    s_together = np.array(s_together)
    assert len(anchors) >= 3 and len(widths) >= 3  # set, then moved / widened
    # the same readings, the sensors split into uneven batches in a shuffled order
    apart = CompactColumns(config, capacity=sensors)
    s_apart = in_shuffled_batches(apart.update, rng, x, scale)
    assert np.array_equal(s_together, s_apart)
    assert s_together[1000:1010, 3].max() > 0.75  # the step is seen


def test_one_sensor_is_a_row_of_the_columns():
    values = noise(1200)
    detector = CompactLikelihood()
    scores = [detector.update(x) for x in values]
    columns = CompactColumns()
    baseline = CompactLikelihood().baseline
    rows = []
    for x in values:
        scale = baseline.scale()
        baseline.update(x)
        row = columns.update(np.zeros(1, np.int64), np.array([x]), np.array([scale]))
        rows.append(float(row[0]))
    assert scores == rows
    assert all(0.0 <= s <= 1.0 for s in scores)
