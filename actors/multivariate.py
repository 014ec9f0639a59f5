"""FacilityModel: the facility's sensors judged together, for breaks in how they move.

A sensor's own detector sees a value leave that sensor's usual range. Some faults stay
inside every sensor's range and break only the relation between them: capture falls
while the flue gas does not, a wellhead pressure climbs while injection holds. The
facility model learns the relation as a principal-component subspace (scikit-learn's
PCA) of the standardised vector of its sensors' latest values, and scores each new
vector by its squared distance from that subspace (the Q statistic, SPE), against the
distances it saw while learning.

Everything runs on the facility's event time. A sample of the vector is kept every
`sample_ms` in a ring of `samples` rows; the model is refit every `refit_ms` on the
ring (so on the last `samples * sample_ms` of the plant's life), deterministically
(the full SVD, no randomness). The vector is scored every `score_ms`; the alert opens
after `raise_after` scores above the threshold in a row and clears after `clear_after`
below half of it, so it does not flap. It names the sensors whose residuals make up
most of the distance.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.decomposition import PCA

from plumeline.events import AlertCleared, AlertRaised, Event, alert_id

__all__ = ["FacilityModel", "ModelConfig"]

MODEL = "facility-pca"
KIND = "multivariate"


@dataclass(frozen=True, slots=True)
class ModelConfig:
    sample_ms: int = 30_000  # a training sample of the vector every 30 s of event time
    samples: int = 120  # ... the last hour of them (float32: 480 bytes per sensor)
    min_samples: int = 60  # no model before half an hour of samples
    refit_ms: int = 3_600_000  # refit every hour of event time
    score_ms: int = 5_000  # score the vector every 5 s of event time
    variance: float = 0.95  # components that explain this share of the variance
    threshold: float = 4.0  # times the 99th percentile of the training distances
    raise_after: int = 24  # scores in a row: a break that lasts two minutes, not a ramp
    clear_after: int = 6
    min_sensors: int = 3
    # also judge where the vector sits inside the subspace (Hotelling's T^2, against the
    # same multiple of its training 99th percentile): for a model fitted on rows that span
    # the plant's whole normal range. Off in the fleet (a rolling hour of a moving plant
    # is no such range) and in `plumeline score` (cross-validated, docs/detection.md)
    t2: bool = False


class FacilityModel:
    def __init__(self, facility: str, config: ModelConfig = ModelConfig()) -> None:
        self.facility = facility
        self.config = config
        self.sensors: tuple[str, ...] = ()  # the vector's order, fixed at each fit
        self.ring: np.ndarray | None = None
        self.ring_sensors: tuple[str, ...] = ()
        self.filled = 0
        self.next_sample = -1
        self.next_fit = -1
        self.next_score = -1
        self.mean = self.scale = None
        self.pca: PCA | None = None
        self.limit = 0.0  # the alert threshold on the distance
        self.t2_limit = 0.0  # ... and on T^2, with `t2`
        self.last_ratio: float | None = None  # the latest score over its threshold (> 1: above)
        self.above = self.below = 0
        self.open: AlertRaised | None = None

    def step(self, now: int, values: Callable[[], dict[str, float]]) -> list[Event]:
        """The facility's event time is `now` and `values()` its sensors' latest values
        (sensor -> value); the events the model raises or clears (not yet applied)."""
        c = self.config
        if now < self.next_sample and (self.pca is None or now < self.next_score):
            return []
        latest = values()
        if len(latest) < c.min_sensors:
            return []
        if now >= self.next_sample:
            self._sample(latest)
            self.next_sample = now - now % c.sample_ms + c.sample_ms
        if now >= self.next_fit and self.filled >= c.min_samples:
            self._fit()
            self.next_fit = now - now % c.refit_ms + c.refit_ms
        if self.pca is None or now < self.next_score:
            return []
        self.next_score = now - now % c.score_ms + c.score_ms
        return self._score(now, latest)

    def _sample(self, latest: dict[str, float]) -> None:
        names = tuple(sorted(latest))
        if names != self.ring_sensors:  # a sensor joined: start the ring afresh
            self.ring = np.zeros((self.config.samples, len(names)), dtype=np.float32)
            self.ring_sensors, self.filled = names, 0
        self.ring[self.filled % self.config.samples] = [latest[s] for s in names]
        self.filled += 1

    def _fit(self) -> None:
        c = self.config
        rows = self.ring[: min(self.filled, c.samples)].astype(np.float64)
        self.sensors = self.ring_sensors
        self.mean = rows.mean(axis=0)
        spread = rows.std(axis=0)
        self.scale = np.maximum(spread, 1e-3 * np.abs(self.mean) + 1e-9)
        z = (rows - self.mean) / self.scale
        components = min(len(self.sensors) - 1, len(rows) - 1)
        pca = PCA(n_components=components, svd_solver="full").fit(z)
        keep = int(np.searchsorted(np.cumsum(pca.explained_variance_ratio_), c.variance)) + 1
        self.pca = PCA(n_components=min(keep, components), svd_solver="full").fit(z)
        distances = self._residuals(z)
        self.limit = c.threshold * max(float(np.quantile((distances ** 2).sum(axis=1), 0.99)),
                                       1e-6 * len(self.sensors))
        if c.t2:
            t2 = self._t2(z)
            self.t2_limit = c.threshold * max(float(np.quantile(t2, 0.99)), 1e-6)

    def _t2(self, z: np.ndarray) -> np.ndarray:
        scores = _transform(self.pca, z)
        return (scores ** 2 / np.maximum(self.pca.explained_variance_, 1e-12)).sum(axis=1)

    def _residuals(self, z: np.ndarray) -> np.ndarray:
        return z - _inverse(self.pca, _transform(self.pca, z))

    def _score(self, now: int, latest: dict[str, float]) -> list[Event]:
        c = self.config
        if any(s not in latest for s in self.sensors):
            return []
        z = (np.array([latest[s] for s in self.sensors]) - self.mean) / self.scale
        fitted = _inverse(self.pca, _transform(self.pca, z[None, :]))[0]
        residual = z - fitted
        spe = float(residual @ residual)
        ratio, above, calm, inside = spe / self.limit, spe > self.limit, spe < self.limit / 2, 0.0
        if c.t2:
            inside = float(self._t2(z[None, :])[0]) / self.t2_limit
            above, calm = above or inside > 1.0, calm and inside < 0.5
            if inside > ratio:  # off within the subspace: name the sensors furthest out
                ratio, residual, fitted = inside, z, np.zeros_like(z)
        self.last_ratio = ratio
        if self.open is None:
            self.above = self.above + 1 if above else 0
            if self.above < c.raise_after:
                return []
            self.above = 0
            return [self._raise(now, latest, fitted, residual, spe, ratio, inside)]
        self.below = self.below + 1 if calm else 0
        if self.below < c.clear_after:
            return []
        self.below = 0
        a = self.open
        return [AlertCleared(facility=self.facility, alert_id=a.alert_id, sensor=a.sensor,
                             kind=KIND, value=round(spe, 6))]

    def _raise(self, now: int, latest, fitted, residual, spe: float, ratio: float,
               inside: float) -> AlertRaised:
        share = residual ** 2 / max(float(residual @ residual), 1e-300)
        order = np.argsort(-share, kind="stable")[:3]
        top = [(self.sensors[i], float(share[i])) for i in order]
        expected = fitted * self.scale + self.mean  # what fits the others
        where, what = ("is usual", "have left their usual operating region") if (
            inside == ratio) else ("fits the others", "no longer move together")
        named = ", ".join(f"{s} {p:.0%} ({latest[s]:.4g} where {expected[i]:.4g} {where})"
                          for (s, p), i in zip(top, order))
        sensor = top[0][0]
        return AlertRaised(
            facility=self.facility, alert_id=alert_id(self.facility, sensor, KIND, now),
            sensor=sensor, kind=KIND, severity="warning" if spe < 4 * self.limit and inside < 4 else "minor",
            value=round(spe, 6), baseline=round(self.limit, 6),
            score=round(ratio, 3), model=MODEL,
            message=f"the facility's sensors {what}: {named}",
        )

    def apply(self, event: Event) -> None:
        match event:
            case AlertRaised(kind="multivariate"):
                self.open = event
            case AlertCleared(alert_id=cleared) if self.open and self.open.alert_id == cleared:
                self.open = None


# PCA.transform and inverse_transform (not whitened) in scikit-learn's own arithmetic,
# without its checks of the input, which cost more than the product itself at this
# size (two calls a score, a facility scored every 5 s of event time once fitted).
# The same operations in the same order: the same floats, so a replay gives the
# events the ledger holds (tests/actors/test_multivariate.py compares them).
def _transform(pca: PCA, z: np.ndarray) -> np.ndarray:
    scores = z @ pca.components_.T
    scores -= pca.mean_.reshape(1, -1) @ pca.components_.T
    return scores


def _inverse(pca: PCA, scores: np.ndarray) -> np.ndarray:
    return scores @ pca.components_ + pca.mean_
