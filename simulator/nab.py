"""Scoring detectors with the Numenta Anomaly Benchmark (NAB), as numenta/NAB scores them.

A detector writes one anomaly score per row; a row is a detection when its score is at or
above the threshold. Per file (see `_nab_windows`): probation rows are ignored, each label
window earns the scaled sigmoid of its earliest detection (x A_TP / sigma(-1), so a
detection on the left edge earns A_TP) or costs A_FN if it has none, and every detection
outside the windows costs A_FP times the sigmoid of its distance past the preceding window.

One threshold serves a profile over the whole corpus. NAB's `optimizeThreshold` sweeps every
distinct score, highest first from 1.1 ("nothing fires"), and keeps the first best total;
`score_corpus(threshold=None)` does the same with one sort and running sums. Normalised
score = 100 x (raw - null) / (perfect - null): null is a detector that never fires, perfect
earns A_TP on every labelled window (NAB's `Runner.normalize`).

Files follow NAB's layout: `data/<category>/<name>.csv` (timestamp,value),
`labels/combined_windows.json`, `config/profiles.json` and
`results/<detector>/<category>/<detector>_<name>.csv` (timestamp,value,anomaly_score,...).
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from plumeline.simulator._nab_windows import MAX_TP, CorpusRows, corpus_rows

__all__ = [
    "CorpusScore",
    "Profile",
    "Series",
    "load_corpus",
    "load_detector_results",
    "load_profiles",
    "load_windows",
    "normalized_scores",
    "score_corpus",
    "write_results",
]

NOTHING_FIRES = 1.1  # NAB's first sweep threshold, above every score

Results = dict[str, tuple[np.ndarray, np.ndarray]]  # relative path -> (timestamps, scores)
Windows = dict[str, list[tuple[np.datetime64, np.datetime64]]]  # relative path -> bounds


@dataclass(frozen=True, slots=True)
class Series:
    relative_path: str  # "<category>/<name>.csv", the key of the label windows
    timestamps: np.ndarray  # datetime64[us], in file order (NAB's may repeat or step back)
    values: np.ndarray


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    tp_weight: float  # A_TP
    fp_weight: float  # A_FP
    fn_weight: float  # A_FN


@dataclass(frozen=True, slots=True)
class CorpusScore:
    profile: str
    threshold: float
    score: float  # raw: sum of the files' scores
    null: float  # raw score of a detector that never fires
    perfect: float  # A_TP x labelled windows
    tp: int  # scored rows by kind, as NAB counts them
    fp: int
    tn: int
    fn: int
    files: dict[str, float]  # raw score per relative path

    @property
    def normalized(self) -> float:
        """0 for a detector that never fires, 100 for a perfect one; NaN without a scored
        window (a category of files with no anomaly), where nothing sets the scale."""
        if self.perfect == self.null:
            return math.nan
        return 100.0 * (self.score - self.null) / (self.perfect - self.null)


def _read_columns(path: Path, names: tuple[str, ...]) -> list[list[str]]:
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        missing = [n for n in names if n not in header]
        if missing:
            raise ValueError(f"{path}: no column {', '.join(missing)}")
        at = [header.index(n) for n in names]
        rows = list(reader)
    return [[row[i] for row in rows] for i in at]


def _timestamps(texts) -> np.ndarray:
    return np.array(texts, dtype="datetime64[us]")


def load_corpus(data_dir: Path | str) -> list[Series]:
    """Every `<category>/<name>.csv` under `data_dir`, sorted by relative path."""
    data_dir = Path(data_dir)
    corpus = []
    for path in sorted(data_dir.glob("*/*.csv")):
        stamps, values = _read_columns(path, ("timestamp", "value"))
        relative = path.relative_to(data_dir).as_posix()
        corpus.append(Series(relative, _timestamps(stamps), np.array(values, dtype=np.float64)))
    return corpus


def load_windows(labels_path: Path | str) -> Windows:
    """`combined_windows.json`: relative path -> [(start, end)], bounds inclusive."""
    labels = json.loads(Path(labels_path).read_text())
    return {
        path: [(np.datetime64(s, "us"), np.datetime64(e, "us")) for s, e in bounds]
        for path, bounds in labels.items()
    }


def load_profiles(profiles_path: Path | str) -> dict[str, Profile]:
    """`config/profiles.json`: name -> {"CostMatrix": {tpWeight, fpWeight, fnWeight, ...}}."""
    profiles = json.loads(Path(profiles_path).read_text())
    return {
        name: Profile(name, c["tpWeight"], c["fpWeight"], c["fnWeight"])
        for name, spec in profiles.items()
        for c in [spec["CostMatrix"]]
    }


def load_detector_results(results_dir: Path | str, detector: str) -> Results:
    """`results_dir/<detector>/<category>/<detector>_<name>.csv` -> {"<category>/<name>.csv":
    (timestamps, anomaly scores)}; NAB's `<detector>_<profile>_scores.csv` summaries are skipped.
    """
    root = Path(results_dir) / detector
    results = {}
    for path in sorted(root.glob("*/*.csv")):
        if path.name.endswith("_scores.csv"):
            continue
        if not path.name.startswith(detector + "_"):
            raise ValueError(f"{path}: result files are named {detector}_<name>.csv")
        stamps, scores = _read_columns(path, ("timestamp", "anomaly_score"))
        relative = f"{path.parent.name}/{path.name[len(detector) + 1 :]}"
        results[relative] = (_timestamps(stamps), np.array(scores, dtype=np.float64))
    return results


def write_results(out_dir: Path | str, relative_path: str, timestamps, values, scores) -> Path:
    """Write one detector's output in NAB's layout and return the file's path.

    `out_dir` is `results/<detector>`; the file is `<category>/<detector>_<name>.csv`, so
    `load_detector_results(out_dir.parent, out_dir.name)` reads it back.
    """
    out_dir = Path(out_dir)
    category, name = relative_path.split("/")
    stamps = np.asarray(timestamps, dtype="datetime64[us]")
    whole = bool(np.all(stamps == stamps.astype("datetime64[s]")))
    texts = np.datetime_as_string(stamps, unit="s" if whole else "us")
    if not len(texts) == len(values) == len(scores):
        raise ValueError(f"{relative_path}: timestamps, values and scores differ in length")
    path = out_dir / category / f"{out_dir.name}_{name}"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["timestamp", "value", "anomaly_score"])
        for t, v, s in zip(texts, values, scores, strict=True):
            writer.writerow([t.replace("T", " "), repr(float(v)), repr(float(s))])
    return path


def _values(rows: CorpusRows, profile: Profile) -> np.ndarray:
    """What a detection on each row adds: A_TP x sigma / sigma(-1) inside, A_FP x sigma outside."""
    inside = rows.window >= 0
    return np.where(
        inside, rows.sigmoid * profile.tp_weight / MAX_TP, rows.sigmoid * profile.fp_weight
    )


def _best_threshold(rows: CorpusRows, profile: Profile) -> float:
    """NAB's sweep: the highest threshold whose total is the maximum over all distinct scores.

    Rows are taken highest score first; each adds its value if it is a false positive, or
    lifts its window from -A_FN to its value if it is the window's earliest detection so far.
    The running total after the last row of each distinct score is that threshold's score.
    """
    if len(rows.score) == 0:
        return NOTHING_FIRES
    null = -profile.fn_weight * float(rows.window_scored.sum())
    order = np.argsort(-rows.score, kind="stable")
    score, window, value = rows.score[order], rows.window[order], _values(rows, profile)[order]
    delta = np.where(window < 0, value, 0.0)
    best = np.full(len(rows.window_scored), -profile.fn_weight)
    for k in np.flatnonzero(window >= 0).tolist():  # a window keeps its earliest detection
        w = window[k]
        if value[k] > best[w]:
            delta[k] = value[k] - best[w]
            best[w] = value[k]
    totals = null + np.cumsum(delta)
    last_of_each = np.flatnonzero(np.append(score[1:] != score[:-1], True))
    candidates = np.concatenate(([null], totals[last_of_each]))  # argmax keeps the first
    above = NOTHING_FIRES if score[0] < NOTHING_FIRES else np.nextafter(score[0], np.inf)
    thresholds = np.concatenate(([above], score[last_of_each]))
    return float(thresholds[int(np.argmax(candidates))])


def _score_at(rows: CorpusRows, profile: Profile, threshold: float) -> CorpusScore:
    fired = rows.score >= threshold
    inside = rows.window >= 0
    value = _values(rows, profile)
    false_alarm = fired & ~inside
    earliest = np.full(len(rows.window_scored), -np.inf)  # highest value = earliest detection
    np.maximum.at(earliest, rows.window[fired & inside], value[fired & inside])
    per_window = np.where(np.isfinite(earliest), earliest, -profile.fn_weight)
    per_window = np.where(rows.window_scored, per_window, 0.0)
    n_files = len(rows.paths)
    # float even without a window: numpy counts an empty weighted bincount in int64
    per_file = np.bincount(rows.window_file, weights=per_window, minlength=n_files).astype(float)
    per_file += np.bincount(rows.file[false_alarm], weights=value[false_alarm], minlength=n_files)
    return CorpusScore(
        profile=profile.name,
        threshold=float(threshold),
        score=float(sum(per_file.tolist())),
        null=-profile.fn_weight * float(rows.window_scored.sum()),
        perfect=profile.tp_weight * rows.labelled,
        tp=int((fired & inside).sum()),
        fp=int(false_alarm.sum()),
        tn=int((~fired & ~inside).sum()),
        fn=int((~fired & inside).sum()),
        files=dict(zip(rows.paths, per_file.tolist(), strict=True)),
    )


def score_corpus(
    results: Results, windows: Windows, profile: Profile, threshold: float | None = None
) -> CorpusScore:
    """Score `results` against `windows` for one profile: rows scoring at or above
    `threshold` fire; with None, at the threshold the sweep finds best.

    Raises KeyError if a result file has no label windows, ValueError on malformed input.
    """
    rows = corpus_rows(results, windows)
    if threshold is None:
        threshold = _best_threshold(rows, profile)
    return _score_at(rows, profile, threshold)


def normalized_scores(
    results: Results,
    windows: Windows,
    profiles: dict[str, Profile],
    thresholds: dict[str, float] | None = None,
) -> dict[str, float]:
    """Normalised score per profile; `thresholds` (e.g. NAB's stored ones) skips the sweep."""
    rows = corpus_rows(results, windows)
    scores = {}
    for name, profile in profiles.items():
        threshold = _best_threshold(rows, profile) if thresholds is None else thresholds[name]
        scores[name] = _score_at(rows, profile, threshold).normalized
    return scores
