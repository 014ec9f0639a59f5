"""`plumeline score` on generated tables: a broken relation found, bad files refused."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from plumeline.infra.cli.main import ExitStatus, main

BREAK = 3000


def _plant(path, rows: int = 4000, sep: str = ",") -> None:
    """Four sensors at 1 Hz: three follow one slow process, one is its own noise. From
    BREAK on, `flow` stops following the process and holds its level: every value stays
    inside what the sensor has shown, only the relation breaks."""
    rng = np.random.default_rng(3)
    t = np.arange(rows)
    process = 5.0 * np.sin(2 * np.pi * t / 700.0) + 2.0 * np.sin(2 * np.pi * t / 290.0)
    flow = 2.0 * process + 40.0
    flow[BREAK:] = flow[min(BREAK, rows) - 1]
    columns = {
        "load": process + 100.0 + rng.normal(0, 0.1, rows),
        "flow": flow + rng.normal(0, 0.1, rows),
        "vent": -process + 20.0 + rng.normal(0, 0.1, rows),
        "ambient": 15.0 + rng.normal(0, 0.5, rows),
    }
    stamps = np.datetime64("2024-03-01T00:00:00") + t.astype("timedelta64[s]")
    with open(path, "w", newline="") as f:
        w = csv.writer(f, delimiter=sep)
        w.writerow(["time", *columns])
        for i in range(rows):
            w.writerow([str(stamps[i]), *(f"{c[i]:.4f}" for c in columns.values())])


def _read(path) -> tuple[list[str], np.ndarray, np.ndarray]:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["timestamp", "anomaly_score", "alert"]
    body = rows[1:]
    return ([r[0] for r in body], np.array([float(r[1]) for r in body]),
            np.array([int(r[2]) for r in body]))


@pytest.mark.parametrize("train", [None, 1000])
def test_a_broken_relation_is_found_by_the_facility_model(tmp_path, train):
    data, out = tmp_path / "plant.csv", tmp_path / "out.csv"
    _plant(data, sep=";")
    argv = ["score", str(data), "--out", str(out), "--sep", ";"]
    argv += [] if train is None else ["--train-rows", str(train)]
    assert main(argv) == ExitStatus.OK
    stamps, score, alert = _read(out)
    assert len(stamps) == 4000 and stamps[0] == "2024-03-01T00:00:00"
    assert np.all((score >= 0) & (score <= 1))
    assert alert[1200:BREAK].sum() == 0  # the healthy plant raises nothing
    assert alert[BREAK:BREAK + 200].any()  # the break is found within minutes
    if train:  # fitted on the declared normal rows only: the break stays found
        assert alert[BREAK + 200:].mean() > 0.9 and np.median(score[BREAK:]) > 0.9
    else:  # refitted on the last hour, which comes to hold the broken relation too
        assert alert[BREAK:BREAK + 600].mean() > 0.5
    assert np.quantile(score[1200:BREAK], 0.95) < 0.5 < score[BREAK:BREAK + 200].max()


def test_the_output_is_causal(tmp_path):
    """A row's score does not depend on the rows after it."""
    data, cut, out, out_cut = (tmp_path / n for n in ("a.csv", "b.csv", "a.out", "b.out"))
    _plant(data)
    lines = data.read_text().splitlines(keepends=True)
    cut.write_text("".join(lines[:2501]))
    for src, dst in ((data, out), (cut, out_cut)):
        assert main(["score", str(src), "--out", str(dst)]) == ExitStatus.OK
    whole, part = _read(out), _read(out_cut)
    assert np.array_equal(whole[1][:2500], part[1]) and np.array_equal(whole[2][:2500], part[2])


@pytest.mark.parametrize(
    ("body", "args", "said"),
    [
        ("time,a,b\n2024-01-01T00:00:00,1,2\n2024-01-01T00:00:01,1,x\n", [],
         "line 3, column 'b': 'x' is not a number"),
        ("time,a,b\n2024-01-01T00:00:00,1,2\n2024-01-01T00:00:01,1\n", [],
         "line 3: 2 columns where the header has 3"),
        ("time,a\nyesterday,1\n", [], "line 2, column 'time': 'yesterday' is neither"),
        ("time,a\n2024-01-01T00:00:05,1\n2024-01-01T00:00:01,2\n", [],
         "line 3, column 'time'"),
        ("time,a\n2024-01-01T00:00:00,1\n", ["--time-column", "when"], "no column 'when'"),
        ("time,a\n2024-01-01T00:00:00,inf\n", [], "is not a finite number"),
        ("time\n2024-01-01T00:00:00\n", [], "no column besides the time column"),
        ("", [], "empty file"),
        ("time,a\n2024-01-01T00:00:00,1\n", ["--train-rows", "5"], "but"),
    ],
)
def test_a_bad_file_is_one_clear_error(tmp_path, capsys, body, args, said):
    data = tmp_path / "bad.csv"
    data.write_text(body)
    argv = ["score", str(data), "--out", str(tmp_path / "o.csv"), *args]
    assert main(argv) == ExitStatus.ERROR
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err
    assert not (tmp_path / "o.csv").exists()


def test_a_missing_file_is_one_clear_error(tmp_path, capsys):
    argv = ["score", str(tmp_path / "none.csv"), "--out", str(tmp_path / "o.csv")]
    assert main(argv) == ExitStatus.ERROR
    assert "cannot read" in capsys.readouterr().err


def test_an_empty_cell_is_a_sensor_that_said_nothing(tmp_path):
    data, out = tmp_path / "gaps.csv", tmp_path / "o.csv"
    _plant(data, rows=1500)
    lines = data.read_text().splitlines()
    for k in range(900, 920):  # the flow says nothing for 20 s: not an error, not a fault
        cells = lines[k].split(",")
        cells[2] = ""
        lines[k] = ",".join(cells)
    data.write_text("\n".join(lines) + "\n")
    assert main(["score", str(data), "--out", str(out), "--time-column", "time"]) == 0
    stamps, score, alert = _read(out)
    assert len(stamps) == 1500 and alert[700:].sum() == 0
