"""An approved recommendation shows the outcome its facility measured, as of any seq."""

from __future__ import annotations

from plumeline.events import RecommendationApproved, RecommendationOutcomeMeasured
from plumeline.projections import recommendation, recommendations
from tests.projections.conftest import T0, _seal
from tests.projections.test_operator_views import _issued

HOUR = 3_600_000
OUTCOME = RecommendationOutcomeMeasured(
    facility="f1", recommendation_id="r1", approved_at=T0 + 2_000, baseline_start=T0 - 24 * HOUR,
    baseline_end=T0, baseline_rate_tco2e_per_day=720.0, window_start=T0 + HOUR,
    window_end=T0 + 25 * HOUR, observed_rate_tco2e_per_day=240.0,
    measured_effect_tco2e_per_day=480.0, uncertainty_tco2e_per_day=12.5,
    expected_effect_tco2e_per_day=480.0, verdict="effective",
)
STORY = [
    (T0, _issued("r1")),
    (T0 + 1_000, _issued("r2")),
    (T0 + 2_000, RecommendationApproved(facility="f1", recommendation_id="r1", user="olga")),
    (T0 + 25 * HOUR, OUTCOME),
]


def test_the_outcome_appears_with_its_recommendation(projector):
    projector.apply(_seal(STORY, stream="readings"))
    store = projector.store
    r1 = recommendation(store, "r1")
    assert r1["state"] == "approved"
    o = r1["outcome"]
    assert (o["verdict"], o["measured_effect_tco2e_per_day"], o["baseline_rate_tco2e_per_day"],
            o["observed_rate_tco2e_per_day"]) == ("effective", 480.0, 720.0, 240.0)
    assert o["window_start_ms"] == T0 + HOUR and o["window_end"] == "2026-01-02T01:00:00.000Z"
    assert recommendation(store, "r1", as_of_seq=3)["outcome"] is None
    by_id = {r["recommendation_id"]: r for r in recommendations(store)}
    assert by_id["r1"]["outcome"]["verdict"] == "effective" and by_id["r2"]["outcome"] is None
