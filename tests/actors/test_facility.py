import math

from plumeline.actors import FacilityActor, FacilityConfig
from plumeline.events import (
    AlertCleared,
    AlertRaised,
    FacilityRegistered,
    Frame,
    HotspotDetected,
    Manifest,
    RecommendationIssued,
    SensorRegistered,
    SensorSpec,
)

T0 = 1_700_000_000_000
SPECS = [
    SensorSpec(sensor="flue_co2", quantity="CO2 flow", unit="t/h", role="emitted"),
    SensorSpec(sensor="vent_co2", quantity="CO2 flow", unit="t/h", role="vented"),
    SensorSpec(sensor="solvent_temp", quantity="temperature", unit="degC"),
]


def plant():
    f = FacilityActor("ccs-01", FacilityConfig())
    events = f.register(Manifest(facility="ccs-01", name="CCS 1", kind="ccs", sensors=SPECS))
    return f, events


def frame(step, **values):
    return Frame(
        facility="ccs-01", sensors=list(values), times=[T0 + step * 1000] * len(values),
        values=list(values.values()),
    )


def test_registration_once():
    f, events = plant()
    assert [type(e) for e in events] == [FacilityRegistered] + [SensorRegistered] * 3
    again = f.register(Manifest(facility="ccs-01", name="CCS 1", kind="ccs", sensors=SPECS))
    assert again == []


def test_bad_readings_are_refused_with_reasons_and_do_not_disturb_the_rest():
    f, _ = plant()
    f.observe(frame(0, solvent_temp=40.0), T0)
    fr = Frame(
        facility="ccs-01",
        sensors=["solvent_temp", "nope", "flue_co2", "vent_co2", "flue_co2"],
        times=[T0 - 5, T0 + 1000, T0 + 10**9, T0 + 1000, T0 + 2000],
        values=[40.0, 1.0, 100.0, math.nan, 100.0],
    )
    _, rejected = f.observe(fr, T0 + 1000)
    assert rejected.counts() == {
        "timestamp not after the sensor's last reading": 1,
        "unknown sensor": 1,
        "timestamp in the future": 1,
        "value not finite": 1,
    }
    assert f.sensors["flue_co2"].last_time == T0 + 2000  # the good reading went through


def test_vented_flow_doubling_is_a_hotspot_with_a_recommendation_once_per_episode():
    f, _ = plant()
    for step in range(100):
        f.observe(frame(step, vent_co2=10.0 + 0.01 * (step % 5)), T0 + step * 1000)
    found = []
    for step in range(100, 140):
        events, _ = f.observe(frame(step, vent_co2=25.0), T0 + step * 1000)
        found += [e for _, e in events]
    spots = [e for e in found if isinstance(e, HotspotDetected)]
    recs = [e for e in found if isinstance(e, RecommendationIssued)]
    assert len(spots) == 1 and spots[0].sensor == "vent_co2"
    assert spots[0].excess_ratio > 2
    assert len(recs) == 1 and recs[0].expected_effect_tco2e_per_day > 300


def test_alert_raised_then_cleared_with_the_same_id():
    f, _ = plant()
    for step in range(100):
        f.observe(frame(step, solvent_temp=40.0 + 0.1 * (step % 7)), T0)
    raised = cleared = None
    for step in range(100, 160):
        value = 60.0 if step < 120 else 40.0 + 0.1 * (step % 7)
        for _, e in f.observe(frame(step, solvent_temp=value), T0 + step * 1000)[0]:
            if isinstance(e, AlertRaised):
                raised = e
            if isinstance(e, AlertCleared):
                cleared = e
    assert raised is not None and raised.sensor == "solvent_temp" and raised.value == 60.0
    assert cleared is not None and cleared.alert_id == raised.alert_id
    assert f.sensors["solvent_temp"].open_alert is None
