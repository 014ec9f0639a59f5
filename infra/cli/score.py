"""`plumeline score FILE.csv --out OUT.csv`: the production detectors over any table.

The file is one facility and each numeric column one of its sensors. Rows go through,
in event time, each sensor's own `RobustBaseline` (the fleet's `DetectorConfig`) and the
facility model (`actors.multivariate.FacilityModel`), which judges the sensors together.
The facility model keeps its clock in the data's own sampling period (the median
interval between rows): a sample every 30 periods in a ring of 120, a refit every 3600
periods, a score every row. With `--train-rows N` the first N rows are declared
normal: the model is fitted once on exactly those rows and never refits, so a fault
later in the file is never learnt as normal, and decides as `Choices` says (chosen by
leave-one-group-out, infra/cli/score_cv.py).

OUT has one row per input row: timestamp, anomaly_score in [0, 1] (the largest of each
sensor's distance from its baseline, s / (s + raise_score), and the facility model's
distance over its threshold, r / (r + 1): 0.5 is the edge of an alert) and alert (1
while any alert, of a sensor or of the facility model, is open at that row).
A file that cannot be read is one line naming the line and the column, exit 2.
"""

from __future__ import annotations

import csv
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from plumeline.infra.runtime.errors import ExitStatus, UserError

__all__ = ["Choices", "Table", "combine", "model_config", "model_pass", "read_table", "run_score",
           "score_table", "sensor_pass"]

TIME_NAMES = ("timestamp", "time", "datetime", "date")
NEVER = 2**62  # a refit period no data reaches
# A model fitted on declared normal rows alerts past 1x the 99th percentile of their
# distances from the subspace (the fleet's rolling model: 4x), judges no T^2, opens an
# alert after 3 scores above it in a row (the fleet's: 24), clears after 6, and the
# sensors' own alerts count too. All chosen by leave-one-group-out over 11 groups of
# generated plants and simulator facilities (infra/cli/score_cv.py, docs/detection.md).
TRAINED_THRESHOLD = 1.0


@dataclass(frozen=True, slots=True)
class Table:
    stamps: list[str]  # as written, for the output
    times_ms: np.ndarray  # int64 event time per row
    sensors: list[str]
    values: np.ndarray  # rows x sensors, NaN where a cell is empty


def read_table(path: Path, sep: str = ",", time_column: str | None = None) -> Table:
    """Raises UserError naming the line and column of the first bad cell."""
    if len(sep) != 1:
        raise UserError(f"--sep must be one character, not {sep!r}")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f, delimiter=sep))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"cannot read {path}: {exc}") from None
    if not rows or not any(c.strip() for c in rows[0]):
        raise UserError(f"{path}: empty file, no header line")
    header = [c.strip() for c in rows[0]]
    if time_column is None:
        lower = [h.lower() for h in header]
        at = next((lower.index(n) for n in TIME_NAMES if n in lower), 0)
    elif time_column in header:
        at = header.index(time_column)
    else:
        raise UserError(f"{path}: no column {time_column!r} in the header ({', '.join(header)})")
    sensors = [h for k, h in enumerate(header) if k != at]
    if not sensors:
        raise UserError(f"{path}: no column besides the time column {header[at]!r}")
    body = [(line, r) for line, r in enumerate(rows[1:], start=2) if any(c.strip() for c in r)]
    if not body:
        raise UserError(f"{path}: a header and no rows")
    stamps, times = [], np.empty(len(body), dtype=np.int64)
    values = np.full((len(body), len(sensors)), np.nan)
    for i, (line, row) in enumerate(body):
        if len(row) != len(header):
            raise UserError(f"{path}, line {line}: {len(row)} columns where the header has "
                            f"{len(header)} (is the separator {sep!r}?)")
        stamps.append(row[at].strip())
        times[i] = _time_ms(path, line, header[at], stamps[-1])
        if i and times[i] < times[i - 1]:
            raise UserError(f"{path}, line {line}, column {header[at]!r}: time {stamps[-1]} "
                            "is before the row above; rows must be in time order")
        for j, text in enumerate(c for k, c in enumerate(row) if k != at):
            text = text.strip()
            if not text:
                continue  # the sensor said nothing at this time
            try:
                v = float(text)
            except ValueError:
                raise UserError(f"{path}, line {line}, column {sensors[j]!r}: "
                                f"{text!r} is not a number") from None
            if not math.isfinite(v):
                raise UserError(f"{path}, line {line}, column {sensors[j]!r}: {text!r} "
                                "is not a finite number")
            values[i, j] = v
    return Table(stamps, times, sensors, values)


def _time_ms(path: Path, line: int, column: str, text: str) -> int:
    try:
        return int(round(float(text) * 1000))  # epoch seconds
    except ValueError:
        pass
    try:
        return int(np.datetime64(text.replace("Z", ""), "ms").astype(np.int64))
    except ValueError:
        raise UserError(f"{path}, line {line}, column {column!r}: {text!r} is neither a date "
                        "and time (ISO 8601) nor seconds since the epoch") from None


@dataclass(frozen=True, slots=True)
class Choices:
    """How a model fitted on declared normal rows decides (`--train-rows`); the defaults
    are the cross-validated ones."""

    threshold: float = TRAINED_THRESHOLD  # times the training rows' 99th percentile
    raise_after: int = 3  # scores above it in a row before an alert opens
    clear_after: int = 6  # ... below half of it before it clears
    sensor_alerts: bool = True  # the sensors' own alerts count too, not the model's alone
    t2: bool = False


def model_config(period_ms: int, train_rows: int | None, choices: Choices = Choices()):
    """The facility model's clock in the data's sampling period."""
    # the actors load late: `plumeline --help` builds this module's parser without them
    from plumeline.actors.multivariate import ModelConfig

    p = max(int(period_ms), 1)
    base = ModelConfig()
    if train_rows:
        # every row of the declared normal ones is a sample (1 ms: each new time), one fit
        return ModelConfig(sample_ms=1, samples=train_rows, min_samples=train_rows,
                           refit_ms=NEVER, score_ms=1, threshold=choices.threshold,
                           raise_after=choices.raise_after, clear_after=choices.clear_after,
                           t2=choices.t2)
    return ModelConfig(sample_ms=30 * p, samples=base.samples, min_samples=base.min_samples,
                       refit_ms=3600 * p, score_ms=1)


def score_table(table: Table, train_rows: int | None = None,
                choices: Choices = Choices()) -> tuple[np.ndarray, np.ndarray]:
    """(anomaly_score, alert) per row: the sensors' detectors and the facility model.
    Without `train_rows` the model is the fleet's rolling one and `choices` is unused."""
    sensors = sensor_pass(table)
    model = model_pass(table, train_rows, choices)
    return combine(sensors, model, choices.sensor_alerts or not train_rows)


def sensor_pass(table: Table) -> tuple[np.ndarray, np.ndarray]:
    """Each row's largest sensor score, s / (s + raise_score), and whether any sensor's
    alert (deviation, stuck, drift) is open; a sensor with nothing in a row keeps an
    alert it has open."""
    from plumeline.actors import FacilityConfig, RobustBaseline

    n, m = table.values.shape
    config = FacilityConfig().detector
    detectors = [RobustBaseline(config) for _ in range(m)]
    score, alert = np.zeros(n), np.zeros(n, dtype=bool)
    raise_score = config.raise_score
    for i in range(n):
        row, top = table.values[i], 0.0
        for j in range(m):
            x = row[j]
            if x != x:  # empty cell
                continue
            s, _ = detectors[j].update(float(x))
            top = max(top, s / (s + raise_score))
        score[i] = top
        alert[i] = any(d.active is not None or d.drift_open for d in detectors)
    return score, alert


def model_pass(table: Table, train_rows: int | None,
               choices: Choices = Choices()) -> tuple[np.ndarray, np.ndarray]:
    """Each row's facility-model score, r / (r + 1) with r its distance over its
    threshold (0 before a fit), and whether its alert is open."""
    from plumeline.actors.multivariate import FacilityModel

    n = len(table.times_ms)
    gaps = np.diff(table.times_ms)
    gaps = gaps[gaps > 0]
    period = int(np.median(gaps)) if len(gaps) else 1000
    model = FacilityModel("file", model_config(period, train_rows, choices))
    latest: dict[str, float] = {}
    score, alert = np.zeros(n), np.zeros(n, dtype=bool)
    for i in range(n):
        for name, x in zip(table.sensors, table.values[i].tolist()):
            if x == x:
                latest[name] = x
        for event in model.step(int(table.times_ms[i]), lambda: latest):
            model.apply(event)
        if model.pca is not None and model.last_ratio is not None:
            r = model.last_ratio
            score[i] = r / (r + 1.0)
        alert[i] = model.open is not None
    return score, alert


def combine(sensors: tuple[np.ndarray, np.ndarray], model: tuple[np.ndarray, np.ndarray],
            sensor_alerts: bool) -> tuple[np.ndarray, np.ndarray]:
    """The row's score is the larger of the two; its alert the model's, or either's."""
    alert = model[1] | sensors[1] if sensor_alerts else model[1]
    return np.maximum(sensors[0], model[0]), alert.astype(np.int8)


def run_score(args) -> int:
    if args.train_rows is not None and args.train_rows < 3:
        raise UserError("--train-rows must be at least 3")
    table = read_table(args.file, args.sep, args.time_column)
    if args.train_rows is not None and args.train_rows > len(table.stamps):
        raise UserError(f"--train-rows {args.train_rows} but {args.file} has "
                        f"{len(table.stamps)} rows")
    score, alert = score_table(table, args.train_rows)
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["timestamp", "anomaly_score", "alert"])
            for t, s, a in zip(table.stamps, score.tolist(), alert.tolist(), strict=True):
                w.writerow([t, f"{s:.6f}", a])
    except OSError as exc:
        raise UserError(f"cannot write {args.out}: {exc}") from None
    print(f"{len(score)} rows, {len(table.sensors)} sensors, {int(alert.sum())} rows under an "
          f"alert; written to {args.out}", file=sys.stderr)
    return ExitStatus.OK
