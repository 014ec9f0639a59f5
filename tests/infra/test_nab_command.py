"""`plumeline nab` on the NAB subset next to the repository (../shared/nab)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from plumeline.infra.cli.main import ExitStatus, main
from plumeline.simulator.nab import (
    load_corpus,
    load_detector_results,
    load_profiles,
    load_windows,
    score_corpus,
)

NAB = Path(__file__).parents[2].parent / "shared" / "nab"
_needs_subset = pytest.mark.skipif(
    not (NAB / "data").is_dir(), reason=f"NAB subset not found at {NAB} (../shared/nab)"
)
FEW = [
    "artificialWithAnomaly/art_daily_jumpsup.csv",
    "realKnownCause/ec2_request_latency_system_failure.csv",
    "realKnownCause/rogue_agent_key_hold.csv",
]


def _check_outputs(data: Path, out: Path) -> dict:
    corpus = load_corpus(data)
    results = load_detector_results(out, "plumeline")
    assert sorted(results) == [s.relative_path for s in corpus]
    for series in corpus:
        stamps, scores = results[series.relative_path]
        assert np.array_equal(stamps, series.timestamps)
        assert np.all((scores >= 0.0) & (scores <= 1.0))
    return results


@_needs_subset
def test_whole_subset_scores_well_above_the_null_detector(tmp_path, capsys):
    assert main(["nab", "--data", str(NAB / "data"), "--out", str(tmp_path)]) == ExitStatus.OK
    results = _check_outputs(NAB / "data", tmp_path)
    windows = load_windows(NAB / "labels" / "combined_windows.json")
    profiles = load_profiles(NAB / "config" / "profiles.json")
    for name, profile in profiles.items():
        assert score_corpus(results, windows, profile).normalized > 40, name
    out, err = capsys.readouterr()
    first = out.split("\n\n")[0].splitlines()  # the table; the breakdown follows
    table = {line.split()[0]: line.split()[1:] for line in first}
    assert {"plumeline", "numenta", "null"} <= set(table)
    assert [float(x) for x in table["null"][:3]] == [0.0, 0.0, 0.0]
    assert "[13/13] realKnownCause/rogue_agent_key_updown.csv" in err


@_needs_subset
def test_a_few_files_with_labels_given(tmp_path, capsys):
    data = tmp_path / "data"
    for path in FEW:
        (data / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(NAB / "data" / path, data / path)
    labels = tmp_path / "windows.json"
    every = json.loads((NAB / "labels" / "combined_windows.json").read_text())
    labels.write_text(json.dumps({p: every[p] for p in FEW}))
    argv = ["nab", "--data", str(data), "--out", str(tmp_path / "out"), "--labels", str(labels)]
    assert main(argv) == ExitStatus.OK
    results = _check_outputs(data, tmp_path / "out")
    assert (
        score_corpus(
            results,
            load_windows(labels),
            load_profiles(NAB / "config" / "profiles.json")["standard"],
        ).normalized
        > 0
    )
    assert capsys.readouterr().out.startswith("detector")


@_needs_subset
def test_missing_data_or_labels_is_one_clear_error(tmp_path, capsys):
    assert main(["nab", "--data", str(tmp_path), "--out", str(tmp_path / "o")]) == ExitStatus.ERROR
    assert "no <category>/<name>.csv" in capsys.readouterr().err
    argv = [
        "nab",
        "--data",
        str(NAB / "data"),
        "--out",
        str(tmp_path / "o"),
        "--labels",
        str(tmp_path / "nope.json"),
    ]
    assert main(argv) == ExitStatus.ERROR
    assert "no label file" in capsys.readouterr().err


def _generated_corpus(root: Path) -> None:
    """A NAB-layout dir of generated series: one category with a labelled step, one whose
    file has no anomaly and so no window (as NAB's artificialNoAnomaly)."""
    rng = np.random.default_rng(5)
    stamps = np.datetime64("2024-01-01T00:00:00") + np.arange(1500) * np.timedelta64(5, "m")
    step = 10.0 + rng.normal(0, 1, 1500)
    step[1000:] += 12.0
    quiet = 10.0 + rng.normal(0, 1, 1500)
    texts = [str(t).replace("T", " ") for t in stamps]
    windows = {}
    for path, values, bounds in (
        ("withAnomaly/step.csv", step, [(texts[950], texts[1050])]),
        ("noAnomaly/quiet.csv", quiet, []),
    ):
        (root / "data" / path).parent.mkdir(parents=True, exist_ok=True)
        lines = ["timestamp,value", *(f"{t},{v!r}" for t, v in zip(texts, values.tolist()))]
        (root / "data" / path).write_text("\n".join(lines) + "\n")
        windows[path] = [[f"{a}.000000", f"{b}.000000"] for a, b in bounds]
    (root / "labels").mkdir()
    (root / "labels" / "combined_windows.json").write_text(json.dumps(windows))


def test_a_category_without_windows_scores_n_a(tmp_path, capsys):
    _generated_corpus(tmp_path / "corpus")
    argv = ["nab", "--data", str(tmp_path / "corpus" / "data"), "--out", str(tmp_path / "out")]
    assert main(argv) == ExitStatus.OK
    table, breakdown, held_out, per_file = capsys.readouterr().out.strip().split("\n\n")
    assert table.splitlines()[1].startswith("plumeline")
    assert float(table.splitlines()[1].split()[1]) > 0  # the step is found
    rows = {line.split()[1]: line.split()[2:] for line in breakdown.splitlines()[1:-1]}
    assert rows["noAnomaly"][:2] == ["n/a", "/"]
    assert rows["withAnomaly"][0] != "n/a"
    assert held_out.startswith("plumeline, in-sample / threshold chosen leaving each file out")
    assert held_out.count(" / ") == 2 + 3 * 2  # the heading, then three profiles
    files = {line.split()[0]: line.split()[1:] for line in per_file.splitlines()[1:-1]}
    assert files["noAnomaly/quiet.csv"] == ["0", "n/a", "n/a", "n/a"]
    assert files["withAnomaly/step.csv"][0] == "1" and float(files["withAnomaly/step.csv"][1]) > 0


@pytest.mark.parametrize("detector", ["context", "max", "ensemble", "compact"])
def test_the_contextual_detector_is_scored_on_request(tmp_path, capsys, detector):
    _generated_corpus(tmp_path / "corpus")
    argv = ["nab", "--data", str(tmp_path / "corpus" / "data"), "--out", str(tmp_path / "out"),
            "--detector", detector]
    assert main(argv) == ExitStatus.OK
    table = capsys.readouterr().out.split("\n\n")[0].splitlines()
    assert float(table[1].split()[1]) > 0  # the step is found
    results = load_detector_results(tmp_path / "out", "plumeline")
    scores = results["withAnomaly/step.csv"][1]
    assert 0.75 <= scores.max() <= 1.0 and scores[1000:1010].max() == scores.max()
