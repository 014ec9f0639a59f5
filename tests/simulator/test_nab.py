"""NAB scoring: published scores of the NAB subset, and hand-made cases that pin each rule.

The published scores come from ../shared/nab (next to the repository): EXPECTED.json holds
each detector's normalised and raw score per profile, with thresholds found by the sweep
and with NAB's stored ones, for the detector outputs in results/.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from plumeline.simulator._nab_windows import probation_length
from plumeline.simulator.nab import (
    Profile,
    load_corpus,
    load_detector_results,
    load_profiles,
    load_windows,
    normalized_scores,
    score_corpus,
    write_results,
)

NAB = Path(__file__).parents[2].parent / "shared" / "nab"
EXPECTED = NAB / "EXPECTED.json"
MISSING = f"NAB subset not found at {NAB} (../shared/nab next to the repository)"
needs_nab = pytest.mark.skipif(not EXPECTED.exists(), reason=MISSING)


# -- published scores ---------------------------------------------------------------------


def _published_cases(by_profile: bool) -> list:
    if not EXPECTED.exists():
        return [pytest.param(None, None, None, marks=pytest.mark.skip(reason=MISSING))]
    detectors = json.loads(EXPECTED.read_text())["detectors"]
    return [
        pytest.param(d, m, p, id="-".join(x for x in (d, m, p) if x))
        for d, modes in detectors.items()
        for m, profiles in modes.items()
        for p in (profiles if by_profile else [None])
    ]


def _decimals(key: str) -> int:
    """The most decimals EXPECTED.json writes for `key`: the precision to reproduce."""
    values = re.findall(rf'"{key}": -?\d+\.(\d+)', EXPECTED.read_text())
    return max(len(v) for v in values)


@functools.cache
def _subset():
    expected = json.loads(EXPECTED.read_text())["detectors"]
    windows = load_windows(NAB / "labels" / "combined_windows.json")
    return expected, windows, load_profiles(NAB / "config" / "profiles.json")


@functools.cache
def _results(detector: str):
    return load_detector_results(NAB / "results", detector)


@pytest.mark.parametrize(("detector", "mode", "profile"), _published_cases(by_profile=True))
def test_reproduces_published_score(detector, mode, profile):
    expected, windows, profiles = _subset()
    want = expected[detector][mode][profile]
    threshold = want["threshold"] if mode == "fixed" else None

    got = score_corpus(_results(detector), windows, profiles[profile], threshold)

    assert got.threshold == want["threshold"]
    assert abs(got.score - want["raw_score"]) <= 0.5 * 10.0 ** -_decimals("raw_score")
    tolerance = 0.5 * 10.0 ** -_decimals("normalized_score")
    assert abs(got.normalized - want["normalized_score"]) <= tolerance


@pytest.mark.parametrize(("detector", "mode", "_"), _published_cases(by_profile=False))
def test_normalized_scores_cover_every_profile(detector, mode, _):
    expected, windows, profiles = _subset()
    want = expected[detector][mode]
    thresholds = {p: w["threshold"] for p, w in want.items()} if mode == "fixed" else None

    got = normalized_scores(_results(detector), windows, profiles, thresholds)

    assert set(got) == set(profiles) == {"standard", "reward_low_FP_rate", "reward_low_FN_rate"}
    tolerance = 0.5 * 10.0 ** -_decimals("normalized_score")
    for name, score in got.items():
        assert abs(score - want[name]["normalized_score"]) <= tolerance, name


@needs_nab
def test_corpus_and_labels_name_the_same_files():
    corpus = load_corpus(NAB / "data")
    windows = load_windows(NAB / "labels" / "combined_windows.json")

    assert [s.relative_path for s in corpus] == sorted(windows)
    assert sum(len(w) for w in windows.values()) == 25
    assert all(len(s.timestamps) == len(s.values) > 0 for s in corpus)
    assert set(_results("numenta")) == set(windows)


# -- hand-made cases ----------------------------------------------------------------------

STANDARD = Profile("standard", tp_weight=1.0, fp_weight=0.11, fn_weight=1.0)
PROFILES = {
    "standard": STANDARD,
    "reward_low_FP_rate": Profile("reward_low_FP_rate", 1.0, 0.22, 1.0),
    "reward_low_FN_rate": Profile("reward_low_FN_rate", 1.0, 0.11, 2.0),
}
START = np.datetime64("2024-01-01T00:00:00", "us")
STEP = np.timedelta64(5, "m")
ROWS = 100  # probation: floor(0.15 x 100) = 15 rows
LEFT, RIGHT = 40, 49  # the window's rows: width 10
PATH = "test/series.csv"


def sigma(y: float) -> float:
    """The scaled sigmoid as NAB's README states it."""
    return 2 / (1 + math.exp(5 * y)) - 1


def one_file(scores=None, fired=(), stamps=None):
    stamps = START + STEP * np.arange(ROWS) if stamps is None else stamps
    if scores is None:
        scores = np.zeros(len(stamps))
        scores[list(fired)] = 1.0
    return {PATH: (stamps, scores)}, {PATH: [(stamps[LEFT], stamps[RIGHT])]}


def score_fired(*fired, profile=STANDARD):
    return score_corpus(*one_file(fired=fired), profile, threshold=0.5)


def test_detection_on_left_edge_earns_full_tp():
    got = score_fired(LEFT)

    assert got.score == pytest.approx(1.0, abs=1e-12)
    assert (got.tp, got.fp) == (1, 0)


def test_detection_later_in_window_earns_less():
    earned = [score_fired(row).score for row in range(LEFT, RIGHT + 1)]

    assert all(a > b > 0 for a, b in itertools.pairwise(earned))
    # NAB places the right edge at -1/width, not 0: the last row still earns a little
    assert earned[-1] == pytest.approx(sigma(-1 / 10) / sigma(-1), abs=1e-12)


def test_detection_after_window_is_false_positive_weighted_by_sigmoid():
    near = score_fired(RIGHT + 3).score - (-1.0)  # the window itself is missed: -A_FN
    far = score_fired(RIGHT + 28).score - (-1.0)  # more than 3 window widths past it

    assert near == pytest.approx(0.11 * sigma(3 / 9), abs=1e-12)
    assert -0.11 < near < 0
    assert far == pytest.approx(-0.11, abs=1e-15)


def test_detection_before_every_window_costs_full_fp():
    assert score_fired(20).score == pytest.approx(-1.0 - 0.11, abs=1e-15)


def test_a_file_without_windows_pays_for_its_false_positives():
    stamps = START + STEP * np.arange(ROWS)
    scores = np.zeros(ROWS)
    scores[60] = 1.0
    got = score_corpus({PATH: (stamps, scores)}, {PATH: []}, STANDARD, threshold=0.5)
    assert got.files[PATH] == pytest.approx(-0.11, abs=1e-15)


def test_probation_rows_are_ignored():
    ignored = score_fired(*range(15))
    first_scored = score_fired(15)

    assert probation_length(ROWS) == 15 and probation_length(10_000) == 750
    assert ignored.score == -1.0 and (ignored.tp, ignored.fp, ignored.tn) == (0, 0, 75)
    assert first_scored.fp == 1


def test_only_earliest_detection_in_window_counts():
    both = score_fired(LEFT + 2, LEFT + 5)

    assert both.score == score_fired(LEFT + 2).score
    assert both.tp == 2


def test_never_firing_scores_0_and_perfect_scores_100():
    quiet = one_file()
    perfect = one_file(fired=[LEFT])
    at_half = dict.fromkeys(PROFILES, 0.5)

    for thresholds in (None, at_half):
        assert normalized_scores(*quiet, PROFILES, thresholds) == dict.fromkeys(PROFILES, 0.0)
        for score in normalized_scores(*perfect, PROFILES, thresholds).values():
            assert score == pytest.approx(100.0, abs=1e-9)


def test_sweep_trades_false_positives_against_true_positives():
    scores = np.zeros(ROWS)
    scores[LEFT], scores[RIGHT + 21] = 0.9, 0.95  # a late detection, and a louder FP
    results, windows = one_file(scores)
    costly_fp = Profile("costly_fp", tp_weight=1.0, fp_weight=5.0, fn_weight=1.0)

    assert score_corpus(results, windows, STANDARD).threshold == 0.9
    assert score_corpus(results, windows, costly_fp).threshold == 1.1  # nothing fires


def test_sweep_prefers_the_higher_of_equal_thresholds():
    scores = np.zeros(ROWS)
    scores[LEFT], scores[LEFT + 5] = 0.9, 0.8  # 0.8 only adds a later detection

    assert score_corpus(*one_file(scores), STANDARD).threshold == 0.9


def test_sweep_finds_the_best_single_threshold_over_the_corpus():
    rng = np.random.default_rng(7)
    stamps = START + STEP * np.arange(400)
    results = {f"test/{k}.csv": (stamps, rng.random(400).round(2)) for k in range(3)}
    windows = {
        "test/0.csv": [(stamps[100], stamps[139])],
        "test/1.csv": [(stamps[150], stamps[189]), (stamps[300], stamps[339])],
        "test/2.csv": [],
    }
    for profile in PROFILES.values():
        candidates = [1.1, *sorted(set(np.concatenate([s for _, s in results.values()])))[::-1]]
        totals = [score_corpus(results, windows, profile, t).score for t in candidates]
        best = score_corpus(results, windows, profile)

        assert best.threshold == candidates[int(np.argmax(totals))]
        assert best.score == pytest.approx(max(totals), abs=1e-9)
        assert sum(best.files.values()) == pytest.approx(best.score, abs=1e-12)


def test_window_ends_on_first_row_stamped_with_its_end():
    stamps = START + STEP * np.arange(ROWS)
    stamps[RIGHT + 1] = stamps[RIGHT]  # a repeated timestamp, as at a clock change
    scores = np.zeros(ROWS)
    scores[RIGHT + 1] = 1.0
    repeated = score_corpus(*one_file(scores, stamps=stamps), STANDARD, threshold=0.5)

    assert (repeated.tp, repeated.fp) == (0, 1)
    assert repeated.score == pytest.approx(-1.0 + 0.11 * sigma(1 / 9), abs=1e-12)


def test_window_bound_that_is_no_row_timestamp_is_rejected():
    results, windows = one_file()
    windows[PATH] = [(START + STEP * LEFT + np.timedelta64(1, "m"), START + STEP * RIGHT)]

    with pytest.raises(ValueError, match="not the timestamp of a row"):
        score_corpus(results, windows, STANDARD)


def test_written_results_read_back(tmp_path):
    stamps = START + STEP * np.arange(5)
    values, scores = np.array([1.5, 2.0, -3.25, 0.0, 7.0]), np.array([0.0, 0.1, 1.0, 0.5, 0.3])

    path = write_results(
        tmp_path / "plumeline", "realKnownCause/nyc_taxi.csv", stamps, values, scores
    )
    read = load_detector_results(tmp_path, "plumeline")

    assert path == tmp_path / "plumeline" / "realKnownCause" / "plumeline_nyc_taxi.csv"
    lines = path.read_text().splitlines()
    assert lines[:2] == ["timestamp,value,anomaly_score", "2024-01-01 00:00:00,1.5,0.0"]
    got_stamps, got_scores = read["realKnownCause/nyc_taxi.csv"]
    assert np.array_equal(got_stamps, stamps) and np.array_equal(got_scores, scores)
