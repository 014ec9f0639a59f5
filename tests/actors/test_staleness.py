"""A sensor silent for stale_after_ms of the facility's event time raises a stale alert."""

from actors import FacilityActor, FacilityConfig
from events import AlertCleared, AlertRaised, Frame, Manifest, SensorSpec

T0 = 1_767_225_600_000
SPECS = [SensorSpec("flue_co2", "CO2 flow", "t/h", "emitted"),
         SensorSpec("solvent_temp", "temperature", "degC")]


def plant():
    f = FacilityActor("ccs-01", FacilityConfig(stale_after_ms=30_000))
    f.register(Manifest(facility="ccs-01", name="CCS 1", kind="ccs", sensors=SPECS))
    return f


def second(f, s, seq, **values):
    fr = Frame(facility="ccs-01", sensors=list(values), times=[T0 + s * 1000] * len(values),
               values=list(values.values()))
    events, _ = f.observe(fr, T0 + s * 1000, seq=seq)
    return events


def test_a_quiet_sensor_goes_stale_and_its_return_clears_the_alert():
    f = plant()
    out = []
    for s in range(0, 10):
        out += second(f, s, s, flue_co2=10.0, solvent_temp=40.0)
    for s in range(10, 45):  # solvent_temp last spoke at 9 s
        out += second(f, s, s, flue_co2=10.0)
    raised = [(t, e) for t, e in out if isinstance(e, AlertRaised)]
    assert [(t, e.sensor, e.kind) for t, e in raised] == [(T0 + 39_000, "solvent_temp", "stale")]
    assert f.sensors["solvent_temp"].open_alert is None  # the detector's slot is untouched
    back = second(f, 45, 45, flue_co2=10.0, solvent_temp=41.0)
    [(t, cleared)] = [(t, e) for t, e in back if isinstance(e, AlertCleared)]
    assert (t, cleared.alert_id, cleared.kind) == (T0 + 45_000, raised[0][1].alert_id, "stale")
    assert ("solvent_temp", "stale") not in f.alerts.by_key


def test_a_pause_of_the_whole_facility_is_not_staleness():
    f = plant()
    out = []
    for s in [0, 1, 2, 500, 501]:
        out += second(f, s, s, flue_co2=10.0, solvent_temp=40.0)
    assert not [e for _, e in out if isinstance(e, AlertRaised)]
