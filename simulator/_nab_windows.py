"""Where NAB's label windows fall on the rows, and what a detection on each row is worth.

This is NAB's `Sweeper.calcSweepScore` (numenta/NAB, nab/sweeper.py), one file at a time:

- the first `probation_length(rows)` rows are "probationary" and never scored;
- a window covers rows left..right (found as below); a detection on row i inside it sits
  at relative position -(right - i + 1) / width: -1 on the left edge, -1/width on the right;
- a row after a window sits at (i - right) / (width - 1) past that window's right edge;
  a row before every window is worth the full false-positive cost;
- the worth is the scaled sigmoid of that position.

Positions count rows, not time. As in NAB (`timestamps.index`, and the labeler's rule that
label bounds "have to exactly match timestamps in corresponding datafiles"), a window runs
from the first row stamped `start` to the first row stamped `end`: NAB data repeat
timestamps (ec2_request_latency_system_failure.csv at a clock change) and even step back
(machine_temperature_system_failure.csv, row 10149), so bounds are looked up, not compared.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "MAX_TP",
    "CorpusRows",
    "FileRows",
    "corpus_rows",
    "probation_length",
    "resolve_rows",
    "scaled_sigmoid",
]

PROBATION_PERCENT = 0.15
PROBATION_CAP = PROBATION_PERCENT * 5000  # NAB caps probation at 750 rows


def probation_length(rows: int) -> int:
    """NAB's `getProbationPeriod`: min(floor(0.15 x rows), 0.15 x 5000)."""
    return int(min(math.floor(PROBATION_PERCENT * rows), PROBATION_CAP))


def scaled_sigmoid(position: np.ndarray) -> np.ndarray:
    """2 / (1 + e^(5 x position)) - 1, and exactly -1 beyond 3 (NAB: "FP well behind window")."""
    position = np.asarray(position, dtype=np.float64)
    near = np.minimum(position, 3.0)  # keeps exp() finite; the far rows take -1 below
    return np.where(position > 3.0, -1.0, 2.0 * (1.0 / (1.0 + np.exp(5.0 * near))) - 1.0)


# The sigmoid at a window's left edge: a detection there earns the full true-positive weight.
MAX_TP = float(scaled_sigmoid(np.array(-1.0)))


@dataclass(frozen=True, slots=True)
class FileRows:
    """Each row's window (index into the sorted windows, -1 outside), sigmoid, and whether
    it is scored (past probation)."""

    window: np.ndarray
    sigmoid: np.ndarray
    scored: np.ndarray
    n_windows: int


def resolve_rows(name: str, timestamps: np.ndarray, windows) -> FileRows:
    """Map `windows` ((start, end) pairs) onto `timestamps` (datetime64, in file order).

    Raises ValueError if a bound is no row's timestamp, a window ends before it starts or
    overlaps the one before, or a one-row window is followed by rows (NAB divides by
    width - 1 there).
    """
    ts = np.asarray(timestamps, dtype="datetime64[us]")
    n = len(ts)
    stamps, first = np.unique(ts, return_index=True)  # each distinct timestamp's first row

    def row_of(bound) -> int:
        bound = np.datetime64(bound, "us")
        at = int(np.searchsorted(stamps, bound))
        if at == len(stamps) or stamps[at] != bound:
            raise ValueError(f"{name}: window bound {bound} is not the timestamp of a row")
        return int(first[at])

    bounds = sorted((row_of(start), row_of(end)) for start, end in windows)
    for k, (left, right) in enumerate(bounds):
        if right < left:
            raise ValueError(f"{name}: window at rows {left}..{right} ends before it starts")
        if k and left <= bounds[k - 1][1]:
            raise ValueError(f"{name}: window at rows {left}..{right} overlaps the one before")

    window = np.full(n, -1, dtype=np.int64)
    sigmoid = np.full(n, -1.0)  # rows before the first window cost the full weight
    rows = np.arange(n)
    for k, (left, right) in enumerate(bounds):
        width = right - left + 1
        inside = rows[left : right + 1]
        window[left : right + 1] = k
        sigmoid[left : right + 1] = scaled_sigmoid(-(right - inside + 1) / float(width))
        stop = bounds[k + 1][0] if k + 1 < len(bounds) else n
        if stop > right + 1:
            if width < 2:
                raise ValueError(f"{name}: one-row window at row {left} is followed by rows")
            after = rows[right + 1 : stop]
            sigmoid[right + 1 : stop] = scaled_sigmoid((after - right) / float(width - 1))
    return FileRows(window, sigmoid, rows >= probation_length(n), len(bounds))


@dataclass(frozen=True, slots=True)
class CorpusRows:
    """The scored rows of a corpus, file after file in path order; windows numbered corpus-wide."""

    paths: list[str]
    file: np.ndarray  # file index per row
    score: np.ndarray  # anomaly score per row
    window: np.ndarray  # window per row, -1 outside every window
    sigmoid: np.ndarray  # scaled sigmoid of the row's position
    window_file: np.ndarray  # file index per window
    window_scored: np.ndarray  # the window has a scored row; NAB ignores it otherwise
    labelled: int  # windows of the scored files


def corpus_rows(results, windows) -> CorpusRows:
    """Drop probation rows from `results` ({path: (timestamps, scores)}) and join the rest.

    Raises KeyError if a path has no entry in `windows`, ValueError on a malformed file.
    """
    paths = sorted(results)
    file, score, window, sigmoid = [], [], [], []
    window_file, window_scored = [], []
    for f, path in enumerate(paths):
        timestamps, scores = results[path]
        if path not in windows:
            raise KeyError(f"no label windows for {path}")
        scores = np.asarray(scores, dtype=np.float64)
        if len(scores) != len(timestamps) or not np.all(np.isfinite(scores)):
            raise ValueError(f"{path}: need one finite anomaly score per timestamp")
        rows = resolve_rows(path, timestamps, windows[path])
        local = rows.window[rows.scored]
        file.append(np.full(len(local), f, dtype=np.int64))
        score.append(scores[rows.scored])
        window.append(np.where(local >= 0, local + len(window_file), -1))
        sigmoid.append(rows.sigmoid[rows.scored])
        window_file += [f] * rows.n_windows
        window_scored += [bool(np.any(local == k)) for k in range(rows.n_windows)]
    return CorpusRows(
        paths=paths,
        file=np.concatenate(file) if paths else np.empty(0, dtype=np.int64),
        score=np.concatenate(score) if paths else np.empty(0),
        window=np.concatenate(window) if paths else np.empty(0, dtype=np.int64),
        sigmoid=np.concatenate(sigmoid) if paths else np.empty(0),
        window_file=np.array(window_file, dtype=np.int64),
        window_scored=np.array(window_scored, dtype=bool),
        labelled=len(window_file),
    )
