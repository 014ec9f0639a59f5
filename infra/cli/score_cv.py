"""Leave one group out: how `plumeline score --train-rows` decides, judged on groups it did not see.

The corpus is labelled tables (`simulator.plants`): generated plants, one group per fault
scenario (seeds within a group), and simulator facilities, one group each. Every
candidate (`score.Choices`) scores every table through the same passes as
`score_table`; a table's row counts (true and false positives, false negatives) are
taken after its training rows. For each group, the candidate with the best pooled row
F1 over the other groups is chosen and scored, unchanged, on the held-out group; the
held-out counts summed over the folds give the held-out pooled F1.

    python -m plumeline.infra.cli.score_cv        # the full grid, docs/detection.md

The sensors' own detectors do not depend on any choice: their pass runs once a table,
the model's once a (threshold, raise_after, clear_after), so the grid costs little more
than its largest member.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from plumeline.infra.cli.score import Choices, Table, combine, model_pass, sensor_pass
from plumeline.simulator.plants import SCENARIOS, Case, facility, plant

__all__ = ["CrossValidated", "corpus", "count", "cross_validate", "evaluate", "f1", "grid",
           "groups", "report"]

# what `--train-rows` decided before this cross-validation
BEFORE = Choices(threshold=1.0, raise_after=24, clear_after=6, sensor_alerts=True)
FACILITIES = ((3, 0), (3, 1), (4, 0), (5, 0))  # (seed, facility): capture plants, a factory
Counts = np.ndarray  # [true positives, false positives, false negatives] of rows


def corpus(seeds: Iterable[int] = (0, 1, 2), scenarios: Iterable[str] = SCENARIOS,
           facilities: Iterable[tuple[int, int]] = FACILITIES) -> list[Case]:
    seeds = tuple(seeds)
    return [plant(s, seed) for s in scenarios for seed in seeds] + [
        facility(seed, index) for seed, index in facilities]


def grid(thresholds=(1.0, 1.5, 2.0), raise_after=(1, 3, 6, 12, 24), clear_after=(3, 6, 12),
         sensor_alerts=(True, False), t2=(False,)) -> list[Choices]:
    return [Choices(t, r, c, a, h) for t, r, c, a, h in
            itertools.product(thresholds, raise_after, clear_after, sensor_alerts, t2)]


def count(alert: np.ndarray, labels: np.ndarray) -> Counts:
    alert, labels = alert.astype(bool), labels.astype(bool)
    return np.array([(alert & labels).sum(), (alert & ~labels).sum(), (~alert & labels).sum()])


def f1(c: Counts) -> tuple[float, float, float]:
    """(precision, recall, F1); a score with nothing to find and nothing found is 1."""
    tp, fp, fn = (int(x) for x in c)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall, (2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0)


def evaluate(cases: Sequence[Case], candidates: Sequence[Choices]) -> dict[Choices, dict[str, Counts]]:
    """candidate -> table name -> its row counts after the training rows."""
    out: dict[Choices, dict[str, Counts]] = {c: {} for c in candidates}
    for case in cases:
        table = Table([str(t) for t in case.times_ms], case.times_ms, case.sensors, case.values)
        sensors, after = sensor_pass(table), slice(case.train_rows, None)
        models: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        for c in candidates:
            key = (c.threshold, c.raise_after, c.clear_after, c.t2)
            if key not in models:
                models[key] = model_pass(table, case.train_rows, c)
            _, alert = combine(sensors, models[key], c.sensor_alerts)
            out[c][case.name] = count(alert[after], case.labels[after])
    return out


def groups(cases: Iterable[Case]) -> dict[str, list[str]]:
    """group -> its tables' names, in order of first appearance."""
    out: dict[str, list[str]] = {}
    for case in cases:
        out.setdefault(case.group, []).append(case.name)
    return out


def _pooled(counts: dict[str, Counts], names: Iterable[str]) -> Counts:
    return sum((counts[n] for n in names), np.zeros(3, dtype=np.int64))


@dataclass(frozen=True, slots=True)
class CrossValidated:
    chosen: dict[str, Choices]  # group -> the candidate chosen without it
    held_out: dict[str, Counts]  # group -> its counts under that candidate
    pooled: Counts  # the held-out counts summed over the folds
    in_sample: Choices  # the candidate best over every group
    in_sample_pooled: Counts


def cross_validate(results: dict[Choices, dict[str, Counts]],
                   folds: dict[str, list[str]]) -> CrossValidated:
    """Each group's candidate is the best pooled F1 over the other groups (ties: the
    first in `results`' order)."""
    def best(names: list[str]) -> Choices:
        return max(results, key=lambda c: f1(_pooled(results[c], names))[2])

    everything = [n for names in folds.values() for n in names]
    chosen, held = {}, {}
    for group, names in folds.items():
        chosen[group] = best([n for n in everything if n not in names])
        held[group] = _pooled(results[chosen[group]], names)
    top = best(everything)
    return CrossValidated(chosen, held, _pooled(held, held), top,
                          _pooled(results[top], everything))


def _label(c: Choices) -> str:
    return (f"{c.threshold:g}, {c.raise_after}, {c.clear_after}, "
            f"{'model and sensors' if c.sensor_alerts else 'model only'}{', T²' if c.t2 else ''}")


def _cell(c: Counts) -> str:
    """A group's F1, or, with nothing to find, its rows under a false alert."""
    tp, fp, fn = (int(x) for x in c)
    if tp + fn:
        return f"{f1(c)[2]:.2f}"
    return f"{fp} false rows"


def report(results: dict[Choices, dict[str, Counts]], folds: dict[str, list[str]],
           before: Choices = BEFORE, rows: int = 12) -> str:
    """The best `rows` candidates in sample, per group and pooled; each fold's choice and
    its held-out score; `before` beside them when the grid holds it."""
    cv = cross_validate(results, folds)
    everything = [n for names in folds.values() for n in names]
    known = before in results

    def line(c: Choices) -> str:
        per = [_cell(_pooled(results[c], names)) for names in folds.values()]
        p, r, f = f1(_pooled(results[c], everything))
        return f"| {_label(c)} | {' | '.join(per)} | {p:.2f} | {r:.2f} | {f:.3f} |"

    order = sorted(results, key=lambda c: -f1(_pooled(results[c], everything))[2])
    shown = list(dict.fromkeys([*order[:rows], *([before] if known else []),
                                *cv.chosen.values()]))
    out = ["| threshold, raise_after, clear_after, alert | " + " | ".join(folds)
           + " | precision | recall | pooled F1 |", "|" + "---|" * (len(folds) + 4)]
    out += [line(c) for c in shown]
    out += ["", f"| held-out group | chosen without it | its F1 |{' before |' if known else ''}",
            f"|---|---|---|{'---|' if known else ''}"]
    for group, names in folds.items():
        was = f" {_cell(_pooled(results[before], names))} |" if known else ""
        out.append(f"| {group} | {_label(cv.chosen[group])} | {_cell(cv.held_out[group])} |{was}")
    p, r, f = f1(cv.pooled)
    ip, ir, i_f = f1(cv.in_sample_pooled)
    distinct = len(set(cv.chosen.values()))
    out += ["", f"held out, pooled: precision {p:.3f}, recall {r:.3f}, F1 {f:.3f}",
            f"in sample, best over all groups ({_label(cv.in_sample)}): "
            f"precision {ip:.3f}, recall {ir:.3f}, F1 {i_f:.3f}"]
    if known:
        bp, br, bf = f1(_pooled(results[before], everything))
        out.append(f"before ({_label(before)}), no choice made: "
                   f"precision {bp:.3f}, recall {br:.3f}, F1 {bf:.3f}")
    out.append(f"folds agree: {'yes' if distinct == 1 else 'no'} ({distinct} distinct choices)")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m plumeline.infra.cli.score_cv",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--threshold", type=float, nargs="+", default=[1.0, 1.5, 2.0])
    ap.add_argument("--raise-after", type=int, nargs="+", default=[1, 3, 6, 12, 24])
    ap.add_argument("--clear-after", type=int, nargs="+", default=[3, 6, 12])
    ap.add_argument("--t2", choices=["off", "on"], nargs="+", default=["off"],
                    help="also judge Hotelling's T^2 (ModelConfig.t2)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--facilities", nargs="+", default=[f"{s}/{i}" for s, i in FACILITIES],
                    help="simulator facilities as SEED/INDEX")
    args = ap.parse_args(argv)
    cases = corpus(args.seeds, facilities=[tuple(map(int, f.split("/"))) for f in args.facilities])
    candidates = grid(args.threshold, args.raise_after, args.clear_after,
                      t2=[t == "on" for t in args.t2])
    print(report(evaluate(cases, candidates), groups(cases)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
