"""Cross-validated NAB scores: what a detector is likely to score on files it has not seen.

NAB's own figure sweeps the threshold over the very files it scores, and a detector
whose parameters were chosen on those files is scored in-sample twice over. Here every
choice is made without the files it is judged on. The corpus is split into folds
(leave one file out, or leave one category out); for each fold, the candidate
configurations are scored on the other files, each with its own best threshold, and the
best candidate with its threshold is applied, unchanged, to the held-out files. The
held-out files' raw scores, summed over the folds, are normalised like NAB's total
(the null and perfect detectors of the whole corpus). With a single candidate this is
the cross-validated threshold alone.

Raw scores are computed once per candidate and file (`candidate_results`); the folds
only re-sweep thresholds, so a grid of a few dozen candidates runs in one process in
well under a minute on the 13-file subset.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from plumeline.simulator.nab import Profile, Results, Series, Windows, score_corpus

__all__ = ["CrossValidated", "by_category", "by_file", "candidate_results", "cross_validate"]


@dataclass(frozen=True, slots=True)
class CrossValidated:
    normalized: float  # the held-out files' scores, summed over folds, normalised
    in_sample: float  # the first candidate, its threshold swept on every file
    chosen: dict[str, tuple[str, float]]  # fold -> (candidate, threshold) it was given


def candidate_results(
    corpus: Iterable[Series], candidates: dict[str, Callable[[np.ndarray], np.ndarray]]
) -> dict[str, Results]:
    """Each candidate's scores for each file: candidate -> {path: (timestamps, scores)}."""
    corpus = list(corpus)
    return {
        name: {s.relative_path: (s.timestamps, score(s.values)) for s in corpus}
        for name, score in candidates.items()
    }


def by_file(paths: Iterable[str]) -> dict[str, list[str]]:
    return {p: [p] for p in sorted(paths)}


def by_category(paths: Iterable[str]) -> dict[str, list[str]]:
    folds: dict[str, list[str]] = {}
    for p in sorted(paths):
        folds.setdefault(p.split("/")[0], []).append(p)
    return folds


def cross_validate(
    results: dict[str, Results], windows: Windows, profile: Profile, folds: dict[str, list[str]]
) -> CrossValidated:
    """`results` as `candidate_results` gives; `folds` name -> held-out paths (a partition
    of the files). Ties between candidates go to the one listed first."""
    first = next(iter(results.values()))
    whole = score_corpus(first, windows, profile)
    held_raw, chosen = 0.0, {}
    for fold, held in folds.items():
        held_set = set(held)
        best = None
        for name, res in results.items():
            train = {p: r for p, r in res.items() if p not in held_set}
            if not train:
                continue
            fit = score_corpus(train, windows, profile)
            if best is None or fit.score - fit.null > best[0]:
                best = (fit.score - fit.null, name, fit.threshold)
        _, name, threshold = best if best else (0.0, next(iter(results)), 1.1)
        test = {p: results[name][p] for p in held}
        held_raw += sum(score_corpus(test, windows, profile, threshold=threshold).files.values())
        chosen[fold] = (name, threshold)
    span = whole.perfect - whole.null
    normalized = 100.0 * (held_raw - whole.null) / span if span else float("nan")
    return CrossValidated(normalized, whole.normalized, chosen)
