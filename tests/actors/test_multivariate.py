"""The facility model sees a broken relation between sensors that each stay in range."""

from __future__ import annotations

import numpy as np

from plumeline.actors import FacilityActor, FacilityConfig
from plumeline.actors.multivariate import FacilityModel, ModelConfig
from plumeline.events import AlertCleared, AlertRaised, Frame, Manifest, SensorSpec

T0 = 1_767_225_600_000
SPECS = [SensorSpec("flue_co2", "CO2 flow", "t/h", "emitted"),
         SensorSpec("co2_captured", "CO2 flow", "t/h", "captured"),
         SensorSpec("co2_vented", "CO2 flow", "t/h", "vented"),
         SensorSpec("solvent_temp", "temperature", "degC")]


def plant_values(s: int, rng, broken: bool = False) -> dict[str, float]:
    load = 400 + 60 * np.sin(2 * np.pi * s / 3600)  # the plant's load swings hourly
    vent_share = 800 - load if broken else load  # broken: the vent moves against the load
    return {"flue_co2": float(load + rng.normal(0, 2)),
            "co2_captured": float(0.9 * load + rng.normal(0, 2)),
            "co2_vented": float(0.1 * vent_share + rng.normal(0, 0.5)),
            "solvent_temp": float(40 + rng.normal(0, 0.2))}


def run(f: FacilityActor, seconds: range, rng, broken=False) -> list:
    out = []
    for s in seconds:
        values = plant_values(s, rng, broken)
        frame = Frame(facility="ccs-01", sensors=list(values), times=[T0 + s * 1000] * 4,
                      values=list(values.values()))
        out += [e for _, e in f.observe(frame, T0 + s * 1000, seq=s)[0]]
    return out


def test_a_broken_relation_inside_every_range_raises_a_model_alert_naming_the_sensors():
    rng = np.random.default_rng(5)
    f = FacilityActor("ccs-01", FacilityConfig())
    f.register(Manifest(facility="ccs-01", name="CCS 1", kind="ccs", sensors=SPECS))
    learning = run(f, range(0, 2 * 3600), rng)
    assert f.model.pca is not None
    assert not [e for e in learning if isinstance(e, AlertRaised)]
    # a quarter of an hour in which the vent falls from 40 to 34 t/h while the load
    # climbs to 460: each value, and its pace, stays within what its sensor has shown
    broken = run(f, range(2 * 3600, 2 * 3600 + 900), rng, broken=True)
    per_sensor = [e for e in broken if isinstance(e, AlertRaised) and e.model != "facility-pca"]
    assert not per_sensor  # no sensor's own detector sees anything
    [raised] = [e for e in broken if isinstance(e, AlertRaised)]
    assert raised.kind == "multivariate" and raised.sensor == "co2_vented" and "fits the others" in raised.message
    assert raised.score > 1 and f.model.open == raised
    healed = run(f, range(2 * 3600 + 900, 2 * 3600 + 1500), rng)  # the vent jumps back
    [cleared] = [e for e in healed if isinstance(e, AlertCleared) and e.kind == "multivariate"]
    assert cleared.alert_id == raised.alert_id and f.model.open is None


def test_the_model_is_deterministic_and_waits_for_enough_samples():
    def fit(seed):
        rng = np.random.default_rng(seed)
        m = FacilityModel("ccs-01", ModelConfig())
        for s in range(0, 3600, 5):
            values = plant_values(s, rng)
            m.step(T0 + s * 1000, lambda v=values: v)
        return m

    early = FacilityModel("ccs-01", ModelConfig())
    rng = np.random.default_rng(1)
    for s in range(0, 1500, 5):  # 25 min: 50 samples, fewer than min_samples
        values = plant_values(s, rng)
        early.step(T0 + s * 1000, lambda v=values: v)
    assert early.pca is None
    a, b = fit(2), fit(2)
    assert a.limit == b.limit and np.array_equal(a.pca.components_, b.pca.components_)


def test_t2_sees_the_plant_leave_its_normal_region_with_every_relation_kept():
    """Fitted once on declared normal rows: a load beyond anything seen in them keeps
    every relation, so the distance from the subspace stays small; T^2 sees it."""
    rng = np.random.default_rng(9)
    config = dict(sample_ms=1, samples=400, min_samples=400, refit_ms=2**62, score_ms=1,
                  threshold=1.0)
    plain, with_t2 = FacilityModel("f", ModelConfig(**config)), FacilityModel(
        "f", ModelConfig(**config, t2=True))
    raised = {id(plain): [], id(with_t2): []}
    for s in range(900):
        values = plant_values(s % 400, rng)  # the normal rows cover the swing ...
        if s >= 600:  # ... until the load climbs 120 above its highest, relations kept
            values = {k: v * (1.3 if k != "solvent_temp" else 1.0) for k, v in values.items()}
        for model in (plain, with_t2):
            for event in model.step(T0 + s * 1000, lambda v=values: v):
                model.apply(event)
                raised[id(model)].append((s, event))
    assert raised[id(plain)] == []
    (s, alert), *_ = raised[id(with_t2)]
    assert 600 <= s < 640 and isinstance(alert, AlertRaised)
    assert "left their usual operating region" in alert.message and alert.score > 1


def test_the_projection_is_scikit_learns_to_the_last_bit():
    """The model scores without scikit-learn's input checks (`_transform`,
    `_inverse`); a replay must give the ledger's events, so the floats must be the
    very ones `PCA.transform` and `inverse_transform` give."""
    from sklearn.decomposition import PCA

    from plumeline.actors.multivariate import _inverse, _transform

    rng = np.random.default_rng(3)
    for _ in range(50):
        n, m = int(rng.integers(5, 121)), int(rng.integers(3, 101))
        z = rng.standard_normal((n, m)) * rng.uniform(0.01, 100, m)
        pca = PCA(n_components=int(rng.integers(1, min(n, m))), svd_solver="full").fit(z)
        for x in (z, z[:1], rng.standard_normal((1, m))):
            scores = _transform(pca, x)
            assert np.array_equal(scores, pca.transform(x))
            assert np.array_equal(_inverse(pca, scores), pca.inverse_transform(pca.transform(x)))
