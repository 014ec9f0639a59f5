"""Injected anomalies change what they claim to change, where they claim, and nothing else.

Each check compares a simulation with its twin run with anomalies off: the seed fixes
the plants and the noise, so every difference between the two is an injected one.
"""

import itertools

import numpy as np
import pytest

from plumeline.simulator import (
    KINDS,
    AnomalyWindow,
    Simulation,
    read_ground_truth,
    write_ground_truth,
)

START = 1_763_856_000_000
STEPS = 2 * 3600  # an hour at 2 Hz


def fleet(anomalies=True, **kw):
    return Simulation(21, 6, 12, 2.0, START, anomalies, mean_gap_s=25.0, **kw)


@pytest.fixture(scope="module")
def twins():
    on, off = fleet(), fleet(anomalies=False)
    return on, on.readings(0, STEPS), off.readings(0, STEPS)


def column(sim, facility, sensor):
    f = sim.facilities.index(facility)
    return f * sim.sensors_per_facility + [s.sensor for s in sim.sensors[f]].index(sensor)


def inside(sim, r, w):
    return (r.times >= w.start_ms) & (r.times < w.end_ms)


def changed(on, off):
    present = np.ones(on.values.shape, bool) if on.present is None else on.present
    return (on.values != off.values) | ~present


def test_the_hour_holds_every_kind(twins):
    sim, _, _ = twins
    assert {w.kind for w in sim.ground_truth} == set(KINDS)


def test_every_anomaly_changes_its_sensor_inside_its_window(twins):
    sim, on, off = twins
    diff = changed(on, off)
    for w in sim.ground_truth:
        assert w.sensor in w.affected
        for sensor in w.affected:
            rows = diff[inside(sim, on, w), column(sim, w.facility, sensor)]
            assert rows.any(), f"{w.kind} left {sensor} of {w.facility} untouched"


def test_nothing_changes_outside_the_windows(twins):
    sim, on, off = twins
    allowed = np.zeros(on.values.shape, bool)
    for w in sim.ground_truth:
        for sensor in w.affected:
            allowed[inside(sim, on, w), column(sim, w.facility, sensor)] = True
    stray = changed(on, off) & ~allowed
    assert not stray.any(), f"{stray.sum()} readings changed outside any window"


def test_stuck_repeats_the_last_good_reading(twins):
    sim, on, off = twins
    for w in (w for w in sim.ground_truth if w.kind == "stuck"):
        col, rows = column(sim, w.facility, w.sensor), np.flatnonzero(inside(sim, on, w))
        assert np.all(on.values[rows, col] == off.values[rows[0] - 1, col])


def test_dropout_leaves_readings_out_of_the_frames(twins):
    sim, _, _ = twins
    w = next(w for w in sim.ground_truth if w.kind == "dropout")
    step_from, step_to = sim.step_of(w.start_ms), sim.step_of(w.end_ms)
    frames = fleet().frames(step_from - 5, step_to + 5)
    mine = next(f for f in frames if f.facility == w.facility)
    seen = {t for s, t in zip(mine.sensors, mine.times) if s == w.sensor}
    assert seen.isdisjoint(range(w.start_ms, w.end_ms))
    assert len(seen) == 10  # five steps either side


def test_capture_loss_lowers_capture_and_raises_vented(twins):
    sim, on, off = twins
    for w in (w for w in sim.ground_truth if w.kind == "capture_loss"):
        # the first half of the window: the fault acts, its lagged effects have begun
        rows = np.flatnonzero(inside(sim, on, w))[: int((w.end_ms - w.start_ms) / 1000)]
        delta = {
            s: on.values[rows, column(sim, w.facility, s)].mean()
            - off.values[rows, column(sim, w.facility, s)].mean()
            for s in ("flue_gas_co2", "co2_captured", "co2_vented", "capture_rate")
        }
        assert delta["flue_gas_co2"] == 0  # the load does not change
        assert delta["co2_captured"] < 0 < delta["co2_vented"]
        assert np.isclose(-delta["co2_captured"], delta["co2_vented"], rtol=0.05)
        assert delta["capture_rate"] < -w.magnitude * 80  # e.g. 90 % loses 30 % → 63 %


def test_slow_leak_grows_vented_and_drains_well_pressure(twins):
    sim, on, off = twins
    for w in (w for w in sim.ground_truth if w.kind == "slow_leak"):
        rows = np.flatnonzero(inside(sim, on, w))
        early, late = rows[: len(rows) // 4], rows[-len(rows) // 4 :]

        def excess(sensor, part, facility=w.facility):
            col = column(sim, facility, sensor)
            return (on.values[part, col] - off.values[part, col]).mean()

        assert excess("co2_vented", late) > excess("co2_vented", early) > 0
        assert excess("wellhead_pressure", late) < excess("wellhead_pressure", early) < 0
        assert excess("co2_injected", late) < 0


def test_first_anomaly_comes_45_seconds_after_start():
    sim = fleet()
    assert sim.ground_truth == []  # the truth covers only readings generated so far
    sim.readings(0, 200)
    first = sim.ground_truth[0]
    assert first.start_ms == START + 45_000
    assert first.kind in {"capture_loss", "level_shift", "spike"}


def test_windows_on_one_facility_never_overlap(twins):
    sim, _, _ = twins
    by_facility = {}
    for w in sim.ground_truth:
        by_facility.setdefault(w.facility, []).append(w)
    for windows in by_facility.values():
        for a, b in itertools.pairwise(windows):
            assert a.end_ms < b.start_ms


def test_schedule_does_not_depend_on_how_far_it_was_drawn():
    ahead = fleet()
    ahead.readings(0, STEPS)
    stepwise = fleet()
    for step in range(600):
        stepwise.readings(step, step + 1)
    assert stepwise.ground_truth == ahead.ground_truth[: len(stepwise.ground_truth)]
    assert stepwise.ground_truth
    assert fleet().ground_truth_until(STEPS) == ahead.ground_truth


def test_no_anomalies_no_ground_truth():
    sim = fleet(anomalies=False)
    sim.readings(0, STEPS)
    assert sim.ground_truth == []


def test_ground_truth_round_trips_through_json_lines(twins, tmp_path):
    sim, _, _ = twins
    path = tmp_path / "truth.jsonl"
    write_ground_truth(path, sim.ground_truth)
    lines = path.read_text().splitlines()
    assert len(lines) == len(sim.ground_truth)
    assert lines[0].startswith('{"facility":')
    back = read_ground_truth(path)
    assert back == sim.ground_truth
    assert all(isinstance(w, AnomalyWindow) for w in back)
