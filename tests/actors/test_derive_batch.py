"""A batch derived in columns gives what its messages give one by one.

`Derivation.derive_batch` judges the quiet frames of a whole batch in `SensorColumns`
and takes every frame that causes something through `FacilityActor.observe`. Fed the
same messages one by one through `derive`, nothing may differ: not an event, not a
float in one, not a refusal, and not the state left behind (the pickled facilities
are compared byte for byte, so every detector, silence watch and hotspot baseline is
the same number and the same type). The workloads hold what the columns must hand
on: anomalies of every kind, windows closing, silences, escalations, refusals of every
reason, frames out of time order, a sensor registered mid-stream, operators' commands
and a malformed message, under the default configuration and a short-windowed one.
"""

from __future__ import annotations

import pickle

import msgspec
import pytest

from plumeline.actors import Derivation, FacilityConfig
from plumeline.actors import snapshot as snapshots
from plumeline.actors.columns import SensorColumns
from plumeline.actors.derivation import derive_batches
from plumeline.events import (
    AcknowledgeAlert,
    AlertRaised,
    Manifest,
    SensorSpec,
    command_subject,
    encode_wire,
    readings_subject,
)
from plumeline.simulator import Simulation
from tests.actors.test_frame_path import CONFIG as SHORT
from tests.actors.test_frame_path import T0, spoiled

_canonical = msgspec.json.Encoder(order="sorted")


def _workload(seed: int, spoil: bool, steps: int, per_frame: int
              ) -> list[tuple[str, int, int, bytes]]:
    sim = Simulation(seed=seed, facilities=4, sensors_per_facility=15, rate_hz=1,
                     start_ms=T0, anomalies=True, mean_gap_s=60.0)
    frames = sim.frames(0, steps, per_frame)
    if spoil:
        frames = spoiled(sim, frames)
    messages: list = [(m, T0) for m in sim.manifests()]
    first = sim.facilities[0]
    for k, f in enumerate(frames):
        arrived = sorted(f.times)[len(f.times) // 2] + 5000  # a reading from the future stays one
        messages.append((f, arrived))
        if k == len(frames) // 3:  # a sensor added to a running facility
            spec = SensorSpec(sensor="late-flare", quantity="co2", unit="t/h", role="vented")
            messages.append((Manifest(facility=first, name=first, kind="ccs",
                                      sensors=[spec]), arrived))
        if k > len(frames) // 3 and f.facility == first and k % 4 == 0:
            f2 = msgspec.structs.replace(f, sensors=[*f.sensors, "late-flare"],
                                         times=[*f.times, max(f.times)],
                                         values=[*f.values, 3.0 + (k % 9) / 10])
            messages[-1] = (f2, arrived)
    out = [(readings_subject(m.facility, 1), i + 1, arrived, encode_wire(m))
           for i, (m, arrived) in enumerate(messages)]
    out.insert(len(out) // 2, (readings_subject(first, 1), 0, T0, b"\x92not a frame"))
    return [(s, i + 1, a, d) for i, (s, _, a, d) in enumerate(out)]


def _one_by_one(config, messages):
    d = Derivation(config)
    derived = [d.derive(*m) for m in messages]
    return d, derived


def _digest(derived) -> list:
    return [([_canonical.encode(e) for e in x.envelopes], x.deadletter, x.counts,
             repr(x.rejected)) for x in derived]


def _with_acks(messages, derived) -> list:
    """The messages with an operator acknowledging each of the first alerts raised
    (commands arrive in order with the frames: columns must hand over to them)."""
    raised = [(m, e.body) for m, x in zip(messages, derived) for e in x.envelopes
              if isinstance(e.body, AlertRaised)][:12]
    out = list(messages)
    for (_, seq, arrived, _), alert in reversed(raised):
        at = next(k for k, m in enumerate(out) if m[1] == seq) + 3
        ack = AcknowledgeAlert(facility=alert.facility, alert_id=alert.alert_id,
                               user="operator", time=arrived)
        out.insert(at, (command_subject(alert.facility, 1), 0, arrived, encode_wire(ack)))
    return [(s, i + 1, a, d) for i, (s, _, a, d) in enumerate(out)]


@pytest.fixture(scope="module", params=[(FacilityConfig(), 11, False, 4000, 2),
                                        (SHORT, 3, True, 1500, 5), (SHORT, 5, False, 1200, 1)],
                ids=["default", "short-spoiled", "short-single-steps"])
def story(request):
    config, seed, spoil, steps, per_frame = request.param
    messages = _workload(seed, spoil, steps, per_frame)
    _, derived = _one_by_one(config, messages)
    messages = _with_acks(messages, derived)
    alone, derived = _one_by_one(config, messages)
    return config, messages, alone, _digest(derived), spoil


@pytest.mark.parametrize("size", [1, 7, 64, 600])
def test_a_batch_gives_what_its_messages_give_one_by_one(story, size):
    config, messages, alone, expected, _ = story
    d = Derivation(config)
    got = []
    for k in range(0, len(messages), size):
        got += d.derive_batch(messages[k:k + size])
    assert _digest(got) == expected
    d.settle()
    assert pickle.dumps(d.facilities) == pickle.dumps(alone.facilities)


def test_the_workload_has_what_the_columns_must_hand_on(story):
    config, messages, _, expected, spoil = story
    bodies = [msgspec.json.decode(e) for x in expected for e in x[0]]
    kinds = {b["body"]["type"] for b in bodies}
    kinds |= {b["body"]["kind"] for b in bodies if b["body"]["type"] == "alert.raised"}
    assert {"emissions.measured", "readings.sealed", "alert.raised", "alert.cleared",
            "alert.acknowledged", "alert.escalated", "hotspot.detected", "deviation",
            "dropout", "stuck"} <= kinds
    assert any(x[1] and x[1][0].startswith("malformed") for x in expected)
    d = Derivation(config)
    for k in range(0, len(messages), 64):
        d.derive_batch(messages[k:k + 64])
    frames = sum(x[2].get("frames", 0) for x in expected)
    # most frames were judged in columns, not one reading at a time (where a third of
    # them are out of time order and many refuse a reading, fewer)
    share = 0.1 if spoil else 0.5
    assert d.in_columns > share * frames, (d.in_columns, frames)


def test_a_snapshot_taken_between_batches_restores_the_same_derivation(story):
    config, messages, _, expected, _ = story
    d = Derivation(config)
    head = d.derive_batch(messages[:900])
    blob = snapshots.take(d, lane="shard-p1", seq=900, time_ms=messages[899][2])
    restored = snapshots.restore(blob, lane="shard-p1", config=config).derivation
    tail = []
    for k in range(900, len(messages), 64):
        tail += restored.derive_batch(messages[k:k + 64])
    assert _digest(head + tail) == expected


def test_the_columns_benchmark_compares_like_with_like():
    """infra/bench_columns times derive against derive_batch: its figures mean
    something only if both gave the same events and the columns took the frames."""
    from plumeline.infra.bench.columns import run

    rows = run(sensors=1_000, readings=200_000, batches=(64,))
    assert [r["batch"] for r in rows] == [1, 64]
    assert all(r["same_events"] for r in rows)
    assert rows[0]["in_columns"] == 0 and rows[1]["in_columns"] > 0.9


def test_with_the_likelihood_on_every_frame_goes_one_by_one():
    """The likelihood's histograms are not in the columns: a configuration that scores
    it derives every message through `observe`, and still gives the same."""
    from plumeline.actors import DetectorConfig

    config = FacilityConfig(detector=DetectorConfig(likelihood=True))
    messages = _workload(2, False, 300, 2)
    _, expected = _one_by_one(config, messages)
    d = Derivation(config)
    got = []
    for k in range(0, len(messages), 64):
        got += d.derive_batch(messages[k:k + 64])
    assert _digest(got) == _digest(expected)
    assert d.in_columns == 0


def test_facilities_of_few_sensors_go_one_by_one_and_give_the_same(monkeypatch):
    """In production a facility of fewer than COLUMN_MIN_SENSORS sensors is judged one
    reading at a time (the columns' fixed cost a step does not pay); the workload's
    15-sensor plants then never enter the columns, and the result is the same."""
    from plumeline.actors import rounds

    monkeypatch.setattr(rounds, "COLUMN_MIN_SENSORS", 24)
    messages = _workload(3, False, 300, 8)
    _, expected = _one_by_one(FacilityConfig(), messages)
    d = Derivation(FacilityConfig())
    got = []
    for k in range(0, len(messages), 64):
        got += d.derive_batch(messages[k:k + 64])
    assert _digest(got) == _digest(expected)
    assert d.in_columns == 0
    monkeypatch.setattr(rounds, "COLUMN_MIN_SENSORS", 15)  # 15 sensors: in columns again
    d = Derivation(FacilityConfig())
    got = []
    for k in range(0, len(messages), 64):
        got += d.derive_batch(messages[k:k + 64])
    assert _digest(got) == _digest(expected)
    assert d.in_columns > 0


@pytest.mark.parametrize("size", [1, 5, 64])
def test_lanes_sharing_their_columns_give_what_each_gives_alone(story, size):
    """A shard host's lanes judge their quiet frames in one SensorColumns
    (`derive_batches`): each lane's messages still give what they give one by one, and
    a lane replaced midway (restored from its snapshot, its rows released to the
    others) takes up where it was."""
    config, messages, alone, expected, _ = story
    names = sorted({s.split(".")[2] for s, *_ in messages})
    lane_of = {name: k % 3 for k, name in enumerate(names)}
    lanes: list[list[int]] = [[], [], []]  # each lane's messages, by their place in the story
    for at, (subject, *_) in enumerate(messages):
        lanes[lane_of[subject.split(".")[2]]].append(at)
    assert all(lanes)
    columns = SensorColumns(config)
    derivations = [Derivation(config, columns) for _ in lanes]
    got: list = [None] * len(messages)
    taken = [0, 0, 0]
    replaced_at = None
    while any(taken[k] < len(lanes[k]) for k in range(3)):
        if replaced_at is None and taken[0] > len(lanes[0]) // 2:
            replaced_at = taken[0]
            blob = snapshots.take(derivations[0], lane="shard-p0", seq=0, time_ms=0)
            derivations[0].release()
            derivations[0] = snapshots.restore(blob, lane="shard-p0", config=config,
                                               columns=columns).derivation
        pairs, places = [], []
        for k in range(3):
            at = lanes[k][taken[k]:taken[k] + size]
            taken[k] += len(at)
            pairs.append((derivations[k], [messages[a] for a in at]))
            places.append(at)
        for at, derived in zip(places, derive_batches(pairs)):
            for a, x in zip(at, derived):
                got[a] = x
    assert replaced_at is not None
    assert _digest(got) == expected
    assert sum(d.in_columns for d in derivations) > 0
    # the state left behind: each lane's, as its messages leave it one by one
    for k, d in enumerate(derivations):
        reference = Derivation(config)
        for n, a in enumerate(lanes[k]):
            if k == 0 and n == replaced_at:
                blob = snapshots.take(reference, lane="shard-p0", seq=0, time_ms=0)
                reference = snapshots.restore(blob, lane="shard-p0", config=config).derivation
            reference.derive(*messages[a])
        d.settle()
        assert pickle.dumps(d.facilities) == pickle.dumps(reference.facilities), k


def test_released_rows_are_handed_out_again():
    columns = SensorColumns(FacilityConfig(), capacity=4)
    first = columns.add_rows(3)
    second = columns.add_rows(3)
    assert sorted([*first, *second]) == list(range(6))
    columns.release(first)
    again = columns.add_rows(5)
    assert sorted(again[:3]) == sorted(first) and list(again[3:]) == [6, 7]
    assert columns.size == 8


def test_columns_of_another_configuration_are_refused():
    with pytest.raises(ValueError, match="another configuration"):
        Derivation(SHORT, SensorColumns(FacilityConfig()))
