"""The labelled tables: each label is a row its fault changes, and every such row is labelled."""

from __future__ import annotations

import numpy as np
import pytest

from plumeline.simulator import Simulation
from plumeline.simulator.plants import SCENARIOS, TRAIN, facility, plant


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s != "none"])
def test_a_plants_labels_are_the_rows_its_fault_changes(scenario):
    faulty, clean = plant(scenario, 4), plant(scenario, 4, inject=False)
    changed = (faulty.values != clean.values).any(axis=1)
    assert np.array_equal(changed, faulty.labels)
    assert np.flatnonzero(faulty.labels).tolist() == list(range(700, 1000))
    assert faulty.values.shape == (1200, 8) and faulty.train_rows == TRAIN


def test_a_plant_without_a_fault_has_no_label_and_each_scenario_its_own_plant():
    none = plant("none", 4)
    assert not none.labels.any()
    assert np.array_equal(none.values, plant("none", 4, inject=False).values)
    assert not np.allclose(none.values, plant("step", 4, inject=False).values)
    assert np.array_equal(plant("drift", 2).values, plant("drift", 2).values)


def test_a_facilitys_labels_are_its_injected_windows_after_the_training_rows():
    case = facility(3, 0, hours=0.5)
    clean = Simulation(seed=3, facilities=2, sensors_per_facility=9, rate_hz=1.0,
                       start_ms=int(case.times_ms[0]), anomalies=False)
    truth = clean.readings(0, len(case.times_ms)).values[:, :9]
    changed = np.isnan(case.values).any(axis=1) | (case.values != truth).any(axis=1)
    assert not case.labels[:TRAIN].any() and not changed[:TRAIN].any()
    assert case.labels.any()
    # every changed row is labelled (a capture loss reaches the vent a few seconds late)
    late = np.convolve(case.labels, np.ones(31), mode="full")[: len(case.labels)] > 0
    assert not (changed & ~late).any()
    assert changed[case.labels].mean() > 0.5
