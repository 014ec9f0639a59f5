"""An approved recommendation's effect is measured from the facility's own CO2 balance."""

import math
import pickle

from plumeline.actors import FacilityActor, FacilityConfig
from plumeline.actors.outcomes import verdict
from plumeline.events import (
    ApproveRecommendation,
    Frame,
    Manifest,
    RecommendationIssued,
    RecommendationOutcomeMeasured,
    RejectRecommendation,
    SensorSpec,
)

T0 = 1_700_000_000_000
HOUR = 3_600_000
STEP_MS = 10_000
SPECS = [
    SensorSpec(sensor="flue_co2", quantity="CO2 flow", unit="t/h", role="emitted"),
    SensorSpec(sensor="injected_co2", quantity="CO2 flow", unit="t/h", role="stored"),
    SensorSpec(sensor="vent_co2", quantity="CO2 flow", unit="t/h", role="vented"),
]
# ten-minute windows, one hour before and after an approval
CONFIG = FacilityConfig(window_ms=600_000, outcome_span_ms=HOUR)


def plant() -> FacilityActor:
    f = FacilityActor("ccs-01", CONFIG)
    f.register(Manifest(facility="ccs-01", name="CCS 1", kind="ccs", sensors=SPECS))
    return f


def run(f: FacilityActor, start_ms: int, end_ms: int, degraded) -> list:
    """Readings every 10 s: 100 t/h emitted; 90 stored and 10 vented, or while
    `degraded(t)` 70 stored and 30 vented (a capture fault)."""
    events = []
    for t in range(start_ms, end_ms, STEP_MS):
        wobble = math.sin(t / 700_000)  # hour-to-hour spread, so the noise is not zero
        stored, vented = (70.0, 30.0) if degraded(t) else (90.0, 10.0)
        frame = Frame(facility="ccs-01", sensors=["flue_co2", "injected_co2", "vent_co2"],
                      times=[t] * 3, values=[100.0 + wobble, stored + wobble, vented])
        caused, _ = f.observe(frame, t)
        events += [e for _, e in caused]
    return events


def issued_after_a_capture_fault():
    f = plant()
    events = run(f, T0, T0 + 2 * HOUR + HOUR // 2, lambda t: t >= T0 + HOUR)
    [rec] = [e for e in events if isinstance(e, RecommendationIssued)]
    assert rec.sensor == "vent_co2" and rec.expected_effect_tco2e_per_day > 0
    # the evidence: the reading, the ratio to its baseline, how long; ~3x is past doubt
    assert rec.reason.startswith("vent_co2 read 30 t/h, 2.89x its baseline of 10.4 t/h, "
                                 "for 3 readings in a row"), rec.reason
    assert rec.confidence == 0.87
    return f, rec


def test_an_approved_fix_is_measured_as_effective_after_the_window():
    f, rec = issued_after_a_capture_fault()
    approved_at = T0 + 2 * HOUR + HOUR // 2
    f.command(ApproveRecommendation(facility="ccs-01", recommendation_id=rec.recommendation_id,
                                    user="ada", time=approved_at))
    # the fix holds from the approval on; the outcome comes once an hour of whole
    # windows after it has closed, and only once
    events = run(f, approved_at, approved_at + 2 * HOUR, lambda t: False)
    [outcome] = [e for e in events if isinstance(e, RecommendationOutcomeMeasured)]
    assert outcome.recommendation_id == rec.recommendation_id
    assert outcome.window_start >= approved_at and outcome.window_end - outcome.window_start == HOUR
    assert outcome.baseline_end <= approved_at
    # net = emitted - stored: 30 t/h before, 10 t/h after, 480 t/day less
    assert abs(outcome.baseline_rate_tco2e_per_day - 720) < 10
    assert abs(outcome.observed_rate_tco2e_per_day - 240) < 10
    assert abs(outcome.measured_effect_tco2e_per_day - 480) < 15
    assert outcome.expected_effect_tco2e_per_day == rec.expected_effect_tco2e_per_day
    assert outcome.verdict == "effective"
    assert f.outcomes.watching == {}


def test_a_rejected_recommendation_gets_no_outcome():
    f, rec = issued_after_a_capture_fault()
    at = T0 + 2 * HOUR + HOUR // 2
    f.command(RejectRecommendation(facility="ccs-01", recommendation_id=rec.recommendation_id,
                                   user="ada", time=at))
    events = run(f, at, at + 2 * HOUR, lambda t: False)
    assert not [e for e in events if isinstance(e, RecommendationOutcomeMeasured)]


def test_the_same_readings_measure_the_same_outcome_and_the_state_pickles():
    outcomes = []
    at = T0 + 2 * HOUR + HOUR // 2
    for _ in range(2):
        f, rec = issued_after_a_capture_fault()
        f.command(ApproveRecommendation(facility="ccs-01",
                                        recommendation_id=rec.recommendation_id,
                                        user="ada", time=at))
        f = pickle.loads(pickle.dumps(f))  # a snapshot taken while the watch is open
        outcomes.append([e for e in run(f, at, at + 2 * HOUR, lambda t: t < at + HOUR)
                         if isinstance(e, RecommendationOutcomeMeasured)])
    assert outcomes[0] == outcomes[1] and len(outcomes[0]) == 1
    assert outcomes[0][0].verdict == "no measurable effect"  # still broken for the hour


def test_verdicts():
    assert verdict(480, 20, 480) == "effective"
    assert verdict(100, 20, 480) == "partial"
    assert verdict(10, 20, 480) == "no measurable effect"
    assert verdict(-100, 20, 480) == "worse"
