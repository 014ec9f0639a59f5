"""A sensor silent for stale_after_ms of the facility's event time raises a stale alert."""

from plumeline.actors import FacilityActor, FacilityConfig
from plumeline.events import AlertCleared, AlertRaised, Frame, Manifest, SensorSpec

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
    raised = [(t, e) for t, e in out if isinstance(e, AlertRaised) and e.kind != "stuck"]
    assert [(t, e.sensor, e.kind) for t, e in raised] == [(T0 + 39_000, "solvent_temp", "stale")]
    assert f.sensors["solvent_temp"].open_alert is None  # the detector's slot is untouched
    back = second(f, 45, 45, flue_co2=10.0, solvent_temp=41.0)
    [(t, cleared)] = [(t, e) for t, e in back if isinstance(e, AlertCleared) and e.kind == "stale"]
    assert (t, cleared.alert_id, cleared.kind) == (T0 + 45_000, raised[0][1].alert_id, "stale")
    assert ("solvent_temp", "stale") not in f.alerts.by_key


def test_a_pause_of_the_whole_facility_is_not_staleness():
    f = plant()
    out = []
    for s in [0, 1, 2, 500, 501]:
        out += second(f, s, s, flue_co2=10.0, solvent_temp=40.0)
    assert not [e for _, e in out if isinstance(e, AlertRaised)]


def test_a_gap_in_a_regular_stream_is_a_dropout_long_before_it_is_stale():
    f = plant()
    out = []
    for s in range(0, 60):
        out += second(f, s, s, flue_co2=10.0, solvent_temp=40.0)
    for s in range(60, 100):  # solvent_temp, heard every second, misses 40 s
        out += second(f, s, s, flue_co2=10.0)
    out += second(f, 100, 100, flue_co2=10.0, solvent_temp=40.5)
    quiet = [(t, e) for t, e in out
             if isinstance(e, AlertRaised | AlertCleared) and e.kind in ("dropout", "stale")]
    kinds = [(t - T0, type(e).__name__, e.kind) for t, e in quiet]
    # last heard at 59 s: a dropout 10 s later (10 x 1 s, the floor), stale at 30 s
    assert kinds == [(69_000, "AlertRaised", "dropout"), (89_000, "AlertRaised", "stale"),
                     (100_000, "AlertCleared", "dropout"), (100_000, "AlertCleared", "stale")]
    assert quiet[0][1].severity == "warning" and "usually reports every 1 s" in quiet[0][1].message
    assert not {k for k in f.alerts.by_key if k[1] in ("dropout", "stale")}


def test_a_slow_sensor_gets_a_longer_leash_and_a_jittery_one_no_false_dropout():
    f = plant()
    out = []
    for s in range(0, 400):
        values = {"flue_co2": 10.0}
        if s % 3 == 0 or s % 7 == 0:  # irregular, ~every 2 s, gaps up to 3 s
            values["solvent_temp"] = 40.0
        out += second(f, s, s, **values)
    assert not [e for _, e in out if isinstance(e, AlertRaised) and e.kind == "dropout"]
    slow = FacilityActor("ccs-01", FacilityConfig(stale_after_ms=600_000))
    slow.register(Manifest(facility="ccs-01", name="CCS 1", kind="ccs", sensors=SPECS))
    out = []
    for s in range(0, 1000):
        values = {"flue_co2": 10.0}
        if s % 5 == 0 and not 500 <= s < 540:  # every 5 s; 45 s missing < 10 x 5 s
            values["solvent_temp"] = 40.0
        out += second(slow, s, s, **values)
    assert not [e for _, e in out if isinstance(e, AlertRaised) and e.kind == "dropout"]
    for s in range(1000, 1060):  # now 60 s: a dropout
        out += second(slow, s, s, flue_co2=10.0)
    [raised] = [e for _, e in out if isinstance(e, AlertRaised) and e.kind == "dropout"]
    assert raised.kind == "dropout" and 50.0 <= raised.value < 51.0
