"""A facility keeps its CO2 balance per window of event time and seals its readings."""

import pytest

from plumeline.actors import FacilityActor, FacilityConfig
from plumeline.events import (
    EmissionsMeasured,
    Frame,
    Manifest,
    MerkleTree,
    ReadingsSealed,
    SealFrontier,
    SensorSpec,
    leaf_hash,
    readings_leaf,
)

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, a whole minute
MINUTE = 60_000
SPECS = [
    SensorSpec("flue_co2", "CO2 flow", "t/h", "emitted"),
    SensorSpec("captured_co2", "CO2 flow", "t/h", "captured"),
    SensorSpec("injected_co2", "CO2 flow", "t/h", "stored"),
    SensorSpec("vent_co2", "CO2 flow", "t/h", "vented"),
    SensorSpec("solvent_temp", "temperature", "degC"),
]


def plant(**config):
    f = FacilityActor("ccs-01", FacilityConfig(window_ms=MINUTE, **config))
    f.register(Manifest(facility="ccs-01", name="CCS 1", kind="ccs", sensors=SPECS))
    return f


def every_10s(f, seconds: range, seq0: int = 1, **values):
    out = []
    for i, s in enumerate(seconds):
        fr = Frame(facility="ccs-01", sensors=list(values), times=[T0 + s * 1000] * len(values),
                   values=list(values.values()))
        events, rejected = f.observe(fr, T0 + s * 1000, seq=seq0 + i)
        assert rejected is None
        out += [e for _, e in events]
    return out


def test_a_window_closes_when_event_time_crosses_its_end_with_sample_and_hold_totals():
    f = plant()
    flows = dict(flue_co2=360.0, captured_co2=324.0, injected_co2=300.0, vent_co2=36.0,
                 solvent_temp=40.0)
    events = every_10s(f, range(0, 60, 10), **flows)
    assert not [e for e in events if isinstance(e, EmissionsMeasured | ReadingsSealed)]
    events = every_10s(f, range(60, 61), seq0=7, **flows)
    [measured] = [e for e in events if isinstance(e, EmissionsMeasured)]
    # each value holds to the window's end: 360 t/h for one minute is 6 t
    assert (measured.emitted_t, measured.captured_t, measured.stored_t, measured.vented_t) == (
        6.0, 5.4, 5.0, 0.6)
    assert measured.capture_efficiency == 0.9
    assert (measured.window_start, measured.window_end) == (T0, T0 + MINUTE)
    assert (measured.readings, measured.first_seq, measured.last_seq) == (24, 1, 6)


def test_a_held_value_is_split_at_the_window_boundary():
    f = plant()
    every_10s(f, range(30, 31), flue_co2=120.0)  # holds 30 s in this window, 5 min at most
    every_10s(f, range(90, 91), seq0=2, flue_co2=120.0)  # closes the first window
    events = every_10s(f, range(120, 121), seq0=3, flue_co2=120.0)
    [m] = [e for e in events if isinstance(e, EmissionsMeasured)]
    assert (m.window_start, m.emitted_t, m.readings) == (T0 + MINUTE, 2.0, 1)  # 60 s x 120 t/h


def test_a_silent_sensor_holds_its_value_only_for_hold_max():
    f = plant(hold_max_ms=20_000, stale_after_ms=10 * MINUTE)
    every_10s(f, range(0, 1), flue_co2=360.0)
    events = every_10s(f, range(60, 61), seq0=2, solvent_temp=40.0)
    [m] = [e for e in events if isinstance(e, EmissionsMeasured)]
    assert m.emitted_t == 2.0 and m.capture_efficiency == 0.0  # 20 s x 360 t/h


def test_the_seal_is_the_merkle_root_of_a_leaf_per_message_of_its_accepted_readings():
    f = plant()
    every_10s(f, range(0, 30, 10), flue_co2=100.0, solvent_temp=40.0)
    late = Frame(facility="ccs-01", sensors=["solvent_temp", "ghost", "flue_co2"],
                 times=[T0 + 36_000, T0 + 35_000, T0 + 35_000], values=[41.0, 1.0, 90.0])
    f.observe(late, T0 + 36_000, seq=9)
    events = every_10s(f, range(60, 61), seq0=10, flue_co2=100.0)
    [sealed] = [e for e in events if isinstance(e, ReadingsSealed)]
    tree = MerkleTree()
    for i, s in enumerate(range(0, 30, 10)):
        tree.append(leaf_hash(readings_leaf("ccs-01", 1 + i, [
            ("flue_co2", T0 + s * 1000, 100.0), ("solvent_temp", T0 + s * 1000, 40.0)])))
    # in time order, the refused reading left out
    tree.append(leaf_hash(readings_leaf("ccs-01", 9, [
        ("flue_co2", T0 + 35_000, 90.0), ("solvent_temp", T0 + 36_000, 41.0)])))
    assert sealed.root == tree.root().hex()
    assert (sealed.count, sealed.leaves, sealed.first_seq, sealed.last_seq) == (8, 4, 1, 9)


def test_a_frame_across_a_window_boundary_gives_a_leaf_to_each_window():
    f = plant()
    every_10s(f, range(0, 1), seq0=1, flue_co2=100.0)
    across = Frame(facility="ccs-01", sensors=["solvent_temp", "flue_co2", "solvent_temp"],
                   times=[T0 + 50_000, T0 + 70_000, T0 + 80_000], values=[40, 101, 41.5])
    events, _ = f.observe(across, T0 + 80_000, seq=2)
    [sealed] = [e for _, e in events if isinstance(e, ReadingsSealed)]
    first = SealFrontier()
    first.append(readings_leaf("ccs-01", 1, [("flue_co2", T0, 100.0)]))
    first.append(readings_leaf("ccs-01", 2, [("solvent_temp", T0 + 50_000, 40.0)]))
    assert (sealed.root, sealed.count, sealed.leaves) == (first.root().hex(), 2, 2)
    assert (sealed.first_seq, sealed.last_seq) == (1, 2)
    # the open window's leaf: the rest of the frame, ints written as floats
    second = SealFrontier()
    second.append(b'{"facility":"ccs-01","readings":[["flue_co2",1767225670000,101.0],'
                  b'["solvent_temp",1767225680000,41.5]],"seq":2}')
    assert f.balance.seal == second and f.balance.sealed_readings == 2


def test_a_reading_for_a_closed_window_is_refused():
    f = plant()
    every_10s(f, range(0, 61, 60), flue_co2=100.0)
    fr = Frame(facility="ccs-01", sensors=["solvent_temp"], times=[T0 + 50_000], values=[40.0])
    _, rejected = f.observe(fr, T0 + 61_000, seq=3)
    assert rejected.counts() == {"timestamp before the facility's open accounting window": 1}


@pytest.mark.parametrize("flue", [0.0, 5.0])
def test_no_event_carries_nan_or_infinity(flue):
    f = plant()
    events = every_10s(f, range(0, 70, 10), flue_co2=flue, captured_co2=1.0)
    [m] = [e for e in events if isinstance(e, EmissionsMeasured)]
    assert m.capture_efficiency == (0.0 if flue == 0 else 0.2)
