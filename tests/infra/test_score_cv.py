"""The leave-one-group-out harness: a group is judged only by a choice made without it."""

from __future__ import annotations

import numpy as np

from plumeline.infra.cli.score import Choices, Table, score_table
from plumeline.infra.cli.score_cv import count, cross_validate, evaluate, f1, groups
from plumeline.simulator.plants import plant

A, B, C = Choices(raise_after=1), Choices(raise_after=12), Choices(raise_after=3, sensor_alerts=False)


def _tiny():
    return [plant(s, seed, rows=500, train=150, fault=(300, 420))
            for s in ("relation", "step", "none") for seed in (0, 1)]


def test_held_out_choices_are_made_without_the_held_out_group():
    cases = _tiny()
    results, folds = evaluate(cases, [A, B, C]), groups(cases)
    assert list(folds) == ["relation", "step", "none"] and folds["step"] == ["step/0", "step/1"]
    cv = cross_validate(results, folds)
    for group, names in folds.items():
        others = [n for n in results[A] if n not in names]

        def pooled(c, among):
            return f1(sum(results[c][n] for n in among))[2]

        best = max((A, B, C), key=lambda c: pooled(c, others))
        assert cv.chosen[group] == best
        assert np.array_equal(cv.held_out[group], sum(results[best][n] for n in names))
    assert np.array_equal(cv.pooled, sum(cv.held_out.values()))


def test_a_group_whose_own_best_differs_is_scored_with_the_others_choice():
    right, wrong = np.array([10, 0, 0]), np.array([0, 10, 10])
    results = {A: {"a": right // 5, "b": wrong, "c": wrong},  # A is best for a alone
               B: {"a": wrong // 5, "b": right, "c": right}}
    cv = cross_validate(results, {"a": ["a"], "b": ["b"], "c": ["c"]})
    assert cv.chosen == {"a": B, "b": B, "c": B}
    assert f1(cv.held_out["a"])[2] == 0.0  # A's perfect score on a is never used
    assert cv.in_sample == B and np.array_equal(cv.pooled, [20, 2, 2])


def test_the_harness_counts_what_score_table_alerts():
    case = _tiny()[0]
    table = Table([str(t) for t in case.times_ms], case.times_ms, case.sensors, case.values)
    results = evaluate([case], [A, C])
    for c in (A, C):
        _, alert = score_table(table, case.train_rows, c)
        after = slice(case.train_rows, None)
        assert np.array_equal(results[c][case.name], count(alert[after], case.labels[after]))
    assert results[A][case.name][0] > 0  # the broken relation is found


def test_train_rows_carries_the_cross_validated_choices_and_the_fleet_keeps_its_own():
    from plumeline.actors.multivariate import ModelConfig
    from plumeline.infra.cli.score import model_config

    trained = model_config(1000, 400)
    assert (trained.threshold, trained.raise_after, trained.clear_after, trained.t2) == (
        1.0, 3, 6, False)
    assert Choices().sensor_alerts
    fleet = ModelConfig()
    assert (fleet.threshold, fleet.raise_after, fleet.clear_after) == (4.0, 24, 6)
    rolling = model_config(1000, None)
    assert (rolling.threshold, rolling.raise_after) == (4.0, 24)
