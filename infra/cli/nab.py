"""`plumeline nab`: Plumeline's production detector on the Numenta Anomaly Benchmark.

Each `DATA/<category>/<name>.csv` is one sensor: its values go, in file order, through
the `RobustBaseline` the sensor actors run, with the default `DetectorConfig`, and the
detector's `likelihood` after each reading is that row's anomaly score. Results are
written in NAB's layout, `OUT/plumeline/<category>/plumeline_<name>.csv` with columns
timestamp,value,anomaly_score, so NAB's own scorer can read them too.

With label windows (`--labels`, by default `DATA/../labels/combined_windows.json`) the
run is scored by `simulator.nab` next to every published detector output found in
`DATA/../results/<detector>/` for the same files, and broken down by category: each
category with its own best threshold, and with the threshold the other categories
chose (a threshold tuned on data the category is not part of).

`--detector` picks the score: `likelihood` (the default, above), `context` (the
contextual detector, `actors/context.py`), `max`, the larger of the two per row,
`ensemble` (simple detectors read through anomaly likelihoods, `actors/ensemble.py`) or
`compact` (the likelihood in fixed-width columns, `actors/compact.py`).
The comparisons, cross-validated, are in docs/detection.md.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from plumeline.actors import DetectorConfig, FacilityConfig, RobustBaseline
from plumeline.actors.compact import CompactConfig, CompactLikelihood
from plumeline.actors.context import ContextConfig, ContextDetector
from plumeline.actors.ensemble import EnsembleConfig, LikelihoodEnsemble
from plumeline.infra.cli.nab_cv import by_category, by_file, cross_validate
from plumeline.infra.runtime.errors import ExitStatus, UserError
from plumeline.simulator.nab import (
    Profile,
    load_corpus,
    load_detector_results,
    load_profiles,
    load_windows,
    score_corpus,
    write_results,
)

__all__ = [
    "DETECTOR", "SCORES", "fleet_config", "run_nab", "score_compact", "score_context",
    "score_ensemble", "score_series",
]

DETECTOR = "plumeline"
# NAB's three profiles (config/profiles.json), for label sets that come without them
PROFILES = {
    "standard": Profile("standard", 1.0, 0.11, 1.0),
    "reward_low_FP_rate": Profile("reward_low_FP_rate", 1.0, 0.22, 1.0),
    "reward_low_FN_rate": Profile("reward_low_FN_rate", 1.0, 0.11, 2.0),
}


def fleet_config() -> DetectorConfig:
    """The sensor actors' detector configuration, with the likelihood switched on: every
    other parameter is the fleet's, so a change to the fleet's detector is scored here."""
    return replace(FacilityConfig().detector, likelihood=True)


def score_series(values, config: DetectorConfig | None = None) -> np.ndarray:
    """One series as one sensor: the detector's likelihood after each reading."""
    detector = RobustBaseline(config or fleet_config())
    scores = np.empty(len(values))
    for i, x in enumerate(np.asarray(values, dtype=np.float64).tolist()):
        detector.update(x)
        scores[i] = detector.likelihood
    return scores


def score_context(values, config: ContextConfig | None = None) -> np.ndarray:
    """One series as one sensor: the contextual detector's score after each reading."""
    detector = ContextDetector(config)
    return _each(detector, values)


def _each(detector, values) -> np.ndarray:
    """A one-sensor detector's `update` of every value, in order."""
    return np.array([detector.update(x) for x in np.asarray(values, dtype=np.float64).tolist()])


def score_max(values) -> np.ndarray:
    """The larger of the likelihood and the contextual score, row by row."""
    return np.maximum(score_series(values), score_context(values))


def score_ensemble(values, config: EnsembleConfig | None = None) -> np.ndarray:
    """One series as one sensor: the likelihood ensemble's score after each reading, on
    the fleet's alert baseline."""
    detector = LikelihoodEnsemble(config, FacilityConfig().detector)
    return _each(detector, values)


def score_compact(values, config: CompactConfig | None = None) -> np.ndarray:
    """One series as one sensor: the compact likelihood's score after each reading, on
    the fleet's alert baseline."""
    detector = CompactLikelihood(config, FacilityConfig().detector)
    return _each(detector, values)


SCORES = {"likelihood": score_series, "context": score_context, "max": score_max,
          "ensemble": score_ensemble, "compact": score_compact}


def run_nab(args) -> int:
    data, out = Path(args.data), Path(args.out)
    corpus = load_corpus(data) if data.is_dir() else []
    if not corpus:
        raise UserError(f"no <category>/<name>.csv under {data}")
    score = SCORES[getattr(args, "detector", None) or "likelihood"]
    results, readings, spent = {}, 0, 0.0
    for k, series in enumerate(corpus, 1):
        started = time.perf_counter()
        scores = score(series.values)
        took = time.perf_counter() - started
        write_results(
            out / DETECTOR, series.relative_path, series.timestamps, series.values, scores
        )
        results[series.relative_path] = (series.timestamps, scores)
        readings, spent = readings + len(scores), spent + took
        print(
            f"[{k}/{len(corpus)}] {series.relative_path}: {len(scores)} rows, {took:.2f} s",
            file=sys.stderr,
        )
    print(
        f"{readings} readings in {spent:.1f} s ({readings / spent:,.0f}/s); "
        f"results in {out / DETECTOR}",
        file=sys.stderr,
    )

    labels = Path(args.labels) if args.labels else data.parent / "labels" / "combined_windows.json"
    if not labels.exists():
        if args.labels:
            raise UserError(f"no label file {labels}")
        print(f"no labels at {labels}: not scored", file=sys.stderr)
        return ExitStatus.OK
    windows = load_windows(labels)
    missing = sorted(set(results) - set(windows))
    if missing:
        raise UserError(f"{labels} has no windows for {', '.join(missing)}")
    profiles_path = labels.parent.parent / "config" / "profiles.json"
    profiles = load_profiles(profiles_path) if profiles_path.exists() else PROFILES
    detectors = {DETECTOR: results} | _published(data.parent / "results", set(results))
    print(_table(detectors, windows, profiles))
    print()
    print(_breakdown(detectors, windows, profiles))
    print()
    print(_held_out(results, windows, profiles))
    print()
    print(_per_file(results, windows, profiles))
    return ExitStatus.OK


def _per_file(results, windows, profiles: dict[str, Profile]) -> str:
    """Each file's normalised score at the run's threshold; n/a for a file with no window."""
    names = list(profiles)
    thresholds = {n: score_corpus(results, windows, profiles[n]).threshold for n in names}
    lines = [f"{'file':<64}{'windows':>8}" + "".join(f"{n:>20}" for n in names)]
    for path in sorted(results):
        one = {path: results[path]}
        cells = [score_corpus(one, windows, profiles[n], threshold=thresholds[n]).normalized
                 for n in names]
        lines.append(f"{path:<64}{len(windows[path]):>8}"
                     + "".join(f"{_cell(c):>20}" for c in cells))
    lines.append(f"{DETECTOR} per file, at the thresholds swept over the whole run")
    return "\n".join(lines)


def _held_out(results, windows, profiles: dict[str, Profile]) -> str:
    """The run's score with each file's threshold swept on the other files only: closer to
    what the detector scores on files nobody has looked at than the in-sample sweep."""
    cells = []
    for name, profile in profiles.items():
        files = cross_validate({DETECTOR: results}, windows, profile, by_file(results))
        categories = cross_validate({DETECTOR: results}, windows, profile, by_category(results))
        cells.append(f"{name} {_cell(files.in_sample)} / {_cell(files.normalized)}"
                     f" / {_cell(categories.normalized)}")
    return (f"{DETECTOR}, in-sample / threshold chosen leaving each file out / leaving each "
            "category out: " + ", ".join(cells))


def _published(root: Path, paths: set[str]) -> dict:
    """Published outputs under `root` that cover every file of the run, by detector."""
    found = {}
    for folder in sorted(p for p in root.glob("*") if p.is_dir()) if root.is_dir() else []:
        if folder.name == DETECTOR:
            continue
        results = load_detector_results(root, folder.name)
        if paths <= set(results):
            found[folder.name] = {p: results[p] for p in sorted(paths)}
        else:
            print(f"{folder.name}: results miss some files, not compared", file=sys.stderr)
    return found


def _table(detectors: dict, windows, profiles: dict[str, Profile]) -> str:
    names = list(profiles)
    lines = [f"{'detector':<18}" + "".join(f"{n:>20}" for n in names)]
    for detector, results in detectors.items():
        scores = [score_corpus(results, windows, profiles[n]) for n in names]
        lines.append(f"{detector:<18}" + "".join(f"{_cell(s.normalized):>20}" for s in scores))
    files = len(next(iter(detectors.values())))
    count = sum(len(windows[p]) for p in next(iter(detectors.values())))
    lines.append(
        f"normalised NAB scores, {files} files, {count} windows, threshold swept "
        "per profile over the whole run"
    )
    return "\n".join(lines)


def _breakdown(detectors: dict, windows, profiles: dict[str, Profile]) -> str:
    """Per category: own threshold / threshold chosen on the other categories."""
    categories = sorted({p.split("/")[0] for p in next(iter(detectors.values()))})
    if len(categories) < 2:
        return "one category: no breakdown"
    names = list(profiles)
    lines = [f"{'detector':<18}{'category':<24}" + "".join(f"{n:>20}" for n in names)]
    for detector, results in detectors.items():
        for category in categories:
            inside = {p: r for p, r in results.items() if p.startswith(category + "/")}
            rest = {p: r for p, r in results.items() if not p.startswith(category + "/")}
            cells = []
            for n in names:
                own = score_corpus(inside, windows, profiles[n]).normalized
                chosen = score_corpus(rest, windows, profiles[n]).threshold
                other = score_corpus(inside, windows, profiles[n], threshold=chosen).normalized
                cells.append(f"{_cell(own):>9} /{_cell(other):>8}")
            lines.append(f"{detector:<18}{category:<24}" + "".join(f"{c:>20}" for c in cells))
    lines.append(
        "per category: threshold swept on the category / threshold swept on the other categories"
        "; n/a: no labelled window to score"
    )
    return "\n".join(lines)


def _cell(normalized: float) -> str:
    """A normalised score, or n/a where there is no labelled window to set its scale."""
    return "n/a" if math.isnan(normalized) else f"{normalized:.2f}"
