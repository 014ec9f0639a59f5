"""What every one-sensor detector over the alert baseline owes: a score depends on the
past only, the same readings give the same scores (after a snapshot too), nothing is
scored while it learns, and a step scores at its onset only. With the helpers the
detectors' own tests share."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from plumeline.actors.compact import CompactConfig, CompactLikelihood
from plumeline.actors.ensemble import EnsembleConfig, LikelihoodEnsemble

DETECTORS = [LikelihoodEnsemble, CompactLikelihood]


def noise(n: int, seed: int = 4) -> list[float]:
    return (20.0 + np.random.default_rng(seed).standard_normal(n)).tolist()


def in_shuffled_batches(update, rng, *columns: np.ndarray) -> np.ndarray:
    """Reading t of each of `columns` (readings × sensors) through `update(rows, *values)`,
    the sensors split into uneven batches in a new order at every reading."""
    readings, sensors = columns[0].shape
    out = np.zeros((readings, sensors))
    for t in range(readings):
        for batch in np.split(rng.permutation(sensors), [1, 5]):
            out[t, batch] = update(batch, *(c[t, batch] for c in columns))
    return out


@pytest.mark.parametrize("detector", DETECTORS)
def test_a_score_depends_on_the_past_only(detector):
    values = noise(2000)
    other = values[:1500] + [v + 8.0 for v in values[1500:]]
    one, two = detector(), detector()
    a, b = [one.update(x) for x in values], [two.update(x) for x in other]
    assert a[:1500] == b[:1500]
    assert a[1500:] != b[1500:]


@pytest.mark.parametrize("detector", DETECTORS)
def test_the_same_readings_give_the_same_scores_and_a_snapshot_resumes_exactly(detector):
    values = noise(1500)
    first_run, second_run = detector(), detector()
    whole = [first_run.update(x) for x in values]
    assert whole == [second_run.update(x) for x in values]
    paused = detector()
    first = [paused.update(x) for x in values[:700]]
    resumed = pickle.loads(pickle.dumps(paused))
    assert first + [resumed.update(x) for x in values[700:]] == whole


@pytest.mark.parametrize(("detector", "level"), [
    (LikelihoodEnsemble, 0.5),  # a 1e-5 tail, HTM's red
    (CompactLikelihood, 0.75),  # a record beyond anything noise showed
])
def test_a_step_scores_at_its_onset_and_not_again_while_it_lasts(detector, level):
    values = noise(3000)
    values[2000:] = [v + 10.0 for v in values[2000:]]
    one = detector()
    scores = np.array([one.update(x) for x in values])
    quiet = scores[300:2000].max()
    onset = scores[2000:2010].max()
    assert onset > level > quiet
    assert scores[2010:].max() < onset  # the rest of the step stays quiet


@pytest.mark.parametrize(("detector", "learning"), [
    (LikelihoodEnsemble, EnsembleConfig().learn),
    (CompactLikelihood, CompactConfig().calibrate_after),
])
def test_nothing_is_scored_while_the_detector_learns(detector, learning):
    values = noise(400)
    values[learning // 3] += 50.0  # a spike while it learns
    one = detector()
    assert max(one.update(x) for x in values[:learning]) == 0.0
