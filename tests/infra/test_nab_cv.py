"""The cross-validation harness on a corpus small enough to score by hand."""

from __future__ import annotations

import numpy as np
import pytest

from plumeline.infra.cli.nab_cv import by_category, by_file, candidate_results, cross_validate
from plumeline.simulator.nab import Profile, Series

STANDARD = Profile("standard", 1.0, 0.11, 1.0)
ROWS, LEFT, RIGHT, EARLY = 1000, 500, 600, 300  # EARLY: before the window, past probation
STAMPS = np.datetime64("2024-01-01T00:00") + np.arange(ROWS) * np.timedelta64(1, "m")
WINDOWS = {p: [(STAMPS[LEFT], STAMPS[RIGHT])] for p in ("a/one.csv", "b/two.csv")}


def _series(path: str, onset: float, false_alarm: float = 0.0) -> Series:
    """`values` are the scores a detector gives: `onset` at the window's left edge."""
    values = np.zeros(ROWS)
    values[LEFT], values[EARLY] = onset, false_alarm
    return Series(path, STAMPS, values)


CORPUS = [_series("a/one.csv", 0.9), _series("b/two.csv", 0.5, false_alarm=0.6)]


def test_a_threshold_chosen_without_the_file_is_applied_to_it():
    results = candidate_results(CORPUS, {"given": lambda v: v})
    got = cross_validate(results, WINDOWS, STANDARD, by_file(WINDOWS))
    # in-sample, threshold 0.5 catches both windows at one false alarm: 2 - 0.11 of [-2, 2]
    assert got.in_sample == pytest.approx(100 * (2 - 0.11 + 2) / 4)
    # one.csv gets two.csv's threshold (0.5) and is caught; two.csv gets one.csv's (0.9)
    # and is missed: 1 - 1 of [-2, 2]
    assert got.chosen == {"a/one.csv": ("given", 0.5), "b/two.csv": ("given", 0.9)}
    assert got.normalized == pytest.approx(50.0)


def test_a_candidate_is_chosen_on_the_other_files_only():
    candidates = {"silent": lambda v: np.zeros_like(v), "given": lambda v: v}
    results = candidate_results(CORPUS, candidates)
    got = cross_validate(results, WINDOWS, STANDARD, by_category(WINDOWS))
    assert by_category(WINDOWS) == {"a": ["a/one.csv"], "b": ["b/two.csv"]}
    assert {fold: name for fold, (name, _) in got.chosen.items()} == {"a": "given", "b": "given"}
    # the first candidate's in-sample score is reported beside the cross-validated one
    assert got.in_sample == pytest.approx(0.0)
    assert got.normalized == pytest.approx(50.0)
