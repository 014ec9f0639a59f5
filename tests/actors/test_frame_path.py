"""A frame derived whole gives what its readings give one by one, in time order.

`FacilityActor.observe` takes a frame's readings in one loop that defers what it can
to the frame (the seal's leaves are hashed per frame, before anything reads the seal)
and skips what a quiet reading does not need. Fed the same readings one per frame, in
the frame's time order, nothing can be deferred: the events, their order, their floats
and the refusals must be the same both ways. The seal is the one thing a frame changes
by design, a leaf per message and window (docs/ledger.md §8): its roots must be those of
the readings accepted one by one, grouped by message and window. The workload has what the
shortcuts must not lose: anomalies, windows closing inside frames, a sensor falling
silent, escalations, refused readings of every reason and frames out of time order.
"""

import msgspec

from plumeline.actors import FacilityActor, FacilityConfig
from plumeline.events import (
    AlertEscalated,
    AlertRaised,
    EmissionsMeasured,
    Frame,
    HotspotDetected,
    ReadingsSealed,
    SealFrontier,
    readings_leaf,
)
from plumeline.simulator import Simulation

T0 = 1_767_225_600_000
# short windows and silences so that a quarter of an hour has many of each; the
# facility model judges once per frame, so it is left out of the comparison
CONFIG = FacilityConfig(window_ms=60_000, stale_after_ms=40_000, hold_max_ms=30_000,
                        escalate_after_ms=90_000, model=None)


def fleet(sim):
    facilities = {m.facility: FacilityActor(m.facility, CONFIG) for m in sim.manifests()}
    for m in sim.manifests():
        facilities[m.facility].register(m)
    return facilities


def spoiled(sim, frames):
    """The simulator's frames with refusals, a silence and disorder mixed in."""
    late, quiet = sim.sensor_ids[1], sim.sensor_ids[2]  # both of the first facility
    out = []
    for k, f in enumerate(frames):
        rows = [r for r in zip(f.sensors, f.times, f.values)
                if r[0] != late and not (r[0] == quiet and 300_000 <= r[1] - T0 < 420_000)]
        last = rows[-1][1]
        if k % 7 == 1:
            rows.append(("no-such-sensor", last, 1.0))
        if k % 11 == 2:
            rows.insert(3, (rows[3][0], rows[3][1], float("nan")))
        if k % 13 == 3:
            rows.append((rows[0][0], last + 600_000, rows[0][2]))  # from the future
        if k % 5 == 4:
            rows.append((rows[4][0], rows[4][1] - 1000, rows[4][2]))  # not after its last
        if k % 17 == 5 and f.facility == sim.facilities[0]:
            rows.append((late, T0 + 1000, 1.0))  # before the open window
        if k % 3 == 0:
            rows.reverse()
        out.append(Frame(f.facility, [r[0] for r in rows], [r[1] for r in rows],
                         [r[2] for r in rows]))
    return out


def seal_of(facility, accepted, start, end=None):
    """The seal of `facility`'s readings accepted in [start, end), from (facility, seq,
    sensor, time, value) in the order they were accepted: a leaf per message."""
    frontier, leaf, seq = SealFrontier(), [], None
    for f, s, sensor, time, value in accepted:
        if f == facility and start <= time and (end is None or time < end):
            if s != seq and leaf:
                frontier.append(readings_leaf(facility, seq, leaf))
                leaf = []
            seq = s
            leaf.append((sensor, time, value))
    if leaf:
        frontier.append(readings_leaf(facility, seq, leaf))
    return frontier


def test_a_frame_gives_what_its_readings_give_one_by_one():
    sim = Simulation(seed=3, facilities=3, sensors_per_facility=20, rate_hz=1, start_ms=T0,
                     mean_gap_s=40.0)
    frames = spoiled(sim, sim.frames(0, 900, 5))
    whole, single = fleet(sim), fleet(sim)
    got, expected, got_refused, expected_refused, accepted = [], [], [], [], []
    for seq, f in enumerate(frames, 1):
        arrived = f.times[0] + 5000
        events, rejected = whole[f.facility].observe(f, arrived, seq)
        got += events
        if rejected:
            got_refused += zip(rejected.sensors, rejected.times, rejected.values,
                               rejected.reasons)
        for i in sorted(range(len(f.times)), key=f.times.__getitem__):
            one = Frame(f.facility, [f.sensors[i]], [f.times[i]], [f.values[i]])
            events, rejected = single[f.facility].observe(one, arrived, seq)
            expected += events
            if rejected:
                expected_refused.append((one.sensors[0], one.times[0], one.values[0],
                                         rejected.reasons[0]))
            else:
                accepted.append((f.facility, seq, f.sensors[i], f.times[i], f.values[i]))
    # one reading a frame made a leaf of each; a frame makes one of its readings in a window
    for k, (at, e) in enumerate(expected):
        if isinstance(e, ReadingsSealed):
            assert e.leaves == e.count
            seal = seal_of(e.facility, accepted, e.window_start, e.window_end)
            expected[k] = (at, msgspec.structs.replace(e, root=seal.root().hex(),
                                                       leaves=seal.size))
    assert got == expected
    # NaN != NaN: compare the refusals' reprs
    assert repr(got_refused) == repr(expected_refused)
    for name in whole:  # the open windows' seals too
        balance = whole[name].balance
        assert balance.seal == seal_of(name, accepted, balance.start)
        assert balance.sealed_readings == single[name].balance.seal.size
    sealed = [e for _, e in got if isinstance(e, ReadingsSealed)]
    assert any(e.leaves < e.count for e in sealed)  # frames of several readings in a window
    # the workload has what it is meant to have
    kinds = {type(e) for _, e in got} | {e.kind for _, e in got if isinstance(e, AlertRaised)}
    assert {EmissionsMeasured, ReadingsSealed, AlertEscalated, HotspotDetected, "deviation",
            "drift", "stuck", "stale", "dropout"} <= kinds
    assert {r[3] for r in got_refused} == {
        "unknown sensor", "value not finite", "timestamp in the future",
        "timestamp not after the sensor's last reading",
        "timestamp before the facility's open accounting window",
    }
