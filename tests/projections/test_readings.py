import math

import msgspec
import numpy as np

from plumeline.events import Frame, Manifest, SensorSpec, encode_wire
from plumeline.projections import Projector
from plumeline.projections.readings import (
    ReadingsProjector,
    _sorted,
    latest_readings,
    sensor_history,
)

T0 = 1_767_225_600_000


def frame(step, temp, flow=100.0):
    return encode_wire(Frame(facility="ccs-01", sensors=["temp", "flow"],
                             times=[T0 + step * 1000] * 2, values=[temp, flow]))


def fresh(store):
    Projector(store).rebuild()  # also clears every checkpoint
    p = ReadingsProjector(store)
    p.reset()
    return p


def test_frames_become_rows_and_applying_twice_changes_nothing(chdb_store):
    p = fresh(chdb_store)
    manifest = encode_wire(Manifest(facility="ccs-01", name="x", kind="ccs",
                                    sensors=[SensorSpec(sensor="temp", quantity="t", unit="C")]))
    msgs = [(1, manifest), (2, b"\x00garbage")] + [(3 + i, frame(i, 40.0 + i)) for i in range(120)]
    assert p.apply(msgs) == 122
    assert p.checkpoint() == 122
    p._checkpoint = 0  # as if the checkpoint row had been lost after the insert
    p.apply(msgs)
    count = chdb_store.rows("SELECT count() AS n FROM readings FINAL")[0]["n"]
    assert count == 240
    latest = {r["sensor"]: r for r in latest_readings(chdb_store, "ccs-01")}
    assert latest["temp"]["value"] == 40.0 + 119 and latest["temp"]["time_ms"] == T0 + 119_000


def test_non_finite_values_are_not_kept(chdb_store):
    p = fresh(chdb_store)
    p.apply([(1, frame(0, math.nan)), (2, frame(1, math.inf, 5.0))])
    rows = chdb_store.rows("SELECT sensor, value FROM readings ORDER BY time, sensor")
    assert [(r["sensor"], r["value"]) for r in rows] == [("flow", 100.0), ("flow", 5.0)]


def test_history_raw_and_per_minute(chdb_store):
    p = fresh(chdb_store)
    p.apply([(1 + i, frame(i, float(i))) for i in range(180)])
    raw = sensor_history(chdb_store, "ccs-01", "temp", T0, T0 + 10_000, "raw")
    assert [r["value"] for r in raw] == [float(i) for i in range(10)]
    minutes = sensor_history(chdb_store, "ccs-01", "temp", T0, T0 + 180_000, "1m")
    assert [(m["readings"], m["mean"]) for m in minutes] == [(60, 29.5), (60, 89.5), (60, 149.5)]


def test_a_lost_delivery_is_a_gap_not_a_silent_hole(chdb_store):
    import pytest

    from plumeline.projections import SequenceGap

    p = fresh(chdb_store)
    p.apply([(1, frame(0, 40.0))])
    with pytest.raises(SequenceGap):
        p.apply([(2, frame(1, 40.0)), (4, frame(3, 40.0))])
    assert p.checkpoint() == 1  # nothing of the broken batch is claimed



def test_of_equal_keys_in_a_batch_the_later_reading_is_stored(chdb_store):
    p = fresh(chdb_store)
    p.apply([(1, frame(0, 40.0)), (2, frame(0, 41.0)), (3, frame(1, 42.0))])
    # No FINAL: the insert itself leaves one row per key, as the engine's merge on insert
    # would, and the later reading is the one kept.
    rows = chdb_store.rows("SELECT value, seq FROM readings WHERE sensor = 'temp' ORDER BY time")
    assert [(r["value"], r["seq"]) for r in rows] == [(41.0, 2), (42.0, 3)]


def raw_frame(**fields):
    return msgspec.msgpack.encode({"type": "frame", "facility": "ccs-01", **fields})


def test_frames_numpy_cannot_read_in_place_are_decoded_in_full(chdb_store):
    p = fresh(chdb_store)
    many = [f"s{i:03}" for i in range(300)] + ["Δp", ""]  # more names than a UInt8 code
    p.apply([
        (1, raw_frame(sensors=["a", "b"], times=[T0, T0], values=[40, 41.5])),  # an int value
        (2, raw_frame(sensors=["c"], times=[5_000], values=[1.0])),  # before 2000: refused
        (3, raw_frame(sensors=many, times=[T0] * len(many), values=[2.0] * len(many))),
        (4, raw_frame(sensors=["d"], times=[T0], values=[1.0], note="extra field")),
        (5, raw_frame(sensors=["x", "y"], times=[T0], values=[1.0, 2.0])),  # lengths differ
        (6, raw_frame(sensors=["x"], times=[1.5], values=[1.0])),  # a time is not an int
        (7, raw_frame(sensors=[7], times=[T0], values=[1.0])),  # a sensor is not a string
        (8, raw_frame(facility="bad.name", sensors=["x"], times=[T0], values=[1.0])),
    ])
    rows = chdb_store.rows("SELECT sensor, toUnixTimestamp64Milli(time) AS t, value, seq "
                           "FROM readings ORDER BY seq, sensor")
    assert [tuple(r.values()) for r in rows] == [
        ("a", T0, 40.0, 1), ("b", T0, 41.5, 1),
        *[(s, T0, 2.0, 3) for s in sorted(many)], ("d", T0, 1.0, 4)]


def test_a_frame_of_more_than_65535_readings(chdb_store):
    p = fresh(chdb_store)
    n = 70_000
    p.apply([(1, encode_wire(Frame(facility="ccs-01", sensors=["temp"] * n,
                                   times=[T0 + i for i in range(n)],
                                   values=[float(i) for i in range(n)])))])
    got = chdb_store.rows("SELECT count() AS n, sum(value) AS s FROM readings")[0]
    assert (got["n"], got["s"]) == (n, n * (n - 1) / 2)


def test_rows_are_ordered_by_facility_sensor_time_keeping_ties_in_order():
    rng = np.random.default_rng(5)
    facility, sensor = rng.integers(0, 4, 5000), rng.integers(0, 30, 5000)
    for time in (T0 + rng.integers(0, 50, 5000), rng.integers(0, 2**62, 5000)):
        assert (_sorted(facility, sensor, 30, time)
                == np.lexsort((time, sensor, facility))).all()


def test_readings_the_actors_refuse_are_not_kept(chdb_store):
    """The rule of events/acceptance.py, judged against each message's stored time."""
    from plumeline.actors import FacilityActor

    p = fresh(chdb_store)
    arrived = T0 + 10_000
    msgs = [
        (1, frame(0, 40.0)),  # accepted
        (2, frame(400, 41.0)),  # 390 s past its message: later than 5 minutes
        (3, raw_frame(sensors=["temp"], times=[2**64 - 1], values=[1.0])),  # not an int64
        (4, raw_frame(sensors=["temp"], times=[7_258_118_400_000], values=[1.0])),  # 2200
        (5, raw_frame(sensors=["temp", "flow"], times=[T0 + 2000, 4_102_444_800_001],
                      values=[1.0, 2.0])),  # one time past the schema: the frame is refused
        (6, raw_frame(sensors=["x" * 65], times=[T0], values=[1.0])),  # a name too long
    ]
    p.apply(msgs, [arrived] * len(msgs))
    assert p.checkpoint() == 6
    rows = chdb_store.rows("SELECT sensor, toUnixTimestamp64Milli(time) AS t, seq FROM readings "
                           "ORDER BY seq, sensor")
    assert [tuple(r.values()) for r in rows] == [("flow", T0, 1), ("temp", T0, 1)]
    # the actors judge the same messages alike
    from plumeline.actors.derivation import Derivation
    from plumeline.actors.facility import FacilityConfig

    d = Derivation(FacilityConfig())
    d.derive("readings.0.ccs-01", 0, arrived, encode_wire(Manifest(
        facility="ccs-01", name="x", kind="ccs", sensors=[
            SensorSpec(sensor="temp", quantity="t", unit="C"),
            SensorSpec(sensor="flow", quantity="f", unit="t/h")])))
    accepted = [m for m in msgs
                if d.derive("readings.0.ccs-01", m[0], arrived, m[1]).deadletter is None]
    assert [m[0] for m in accepted] == [1]
    assert isinstance(d.facilities["ccs-01"], FacilityActor)


def test_a_frame_on_another_facility_s_subject_is_refused(chdb_store):
    p = fresh(chdb_store)
    p.apply([(1, frame(0, 40.0)), (2, frame(1, 41.0))], [T0 + 10_000] * 2,
            ["readings.3.ccs-01", "readings.5.ccs-02"])  # ccs-01's frame on ccs-02's subject
    rows = chdb_store.rows("SELECT DISTINCT seq FROM readings")
    assert [r["seq"] for r in rows] == [1] and p.checkpoint() == 2


def test_a_message_that_cannot_be_applied_can_be_skipped(chdb_store):
    p = fresh(chdb_store)
    p.apply([(1, frame(0, 40.0))])
    p.skip(2)
    p.skip(5)  # not next: nothing moves
    assert p.checkpoint() == 2
    assert ReadingsProjector(chdb_store).checkpoint() == 2  # stored
    p.apply([(3, frame(1, 41.0))])
    assert p.checkpoint() == 3


def test_a_value_beyond_any_instrument_is_refused_by_actors_and_projection_alike(chdb_store):
    from plumeline.actors.derivation import Derivation
    from plumeline.actors.facility import FacilityConfig

    p = fresh(chdb_store)
    msgs = [(1, frame(0, 1.7e308)), (2, frame(1, -2e12, 1e12))]
    p.apply(msgs, [T0 + 10_000] * 2)
    rows = chdb_store.rows("SELECT sensor, value FROM readings ORDER BY time, sensor")
    assert [(r["sensor"], r["value"]) for r in rows] == [("flow", 100.0), ("flow", 1e12)]
    d = Derivation(FacilityConfig())
    d.derive("readings.0.ccs-01", 0, T0, encode_wire(Manifest(
        facility="ccs-01", name="x", kind="ccs", sensors=[
            SensorSpec(sensor="temp", quantity="t", unit="C"),
            SensorSpec(sensor="flow", quantity="f", unit="t/h")])))
    refused = [d.derive("readings.0.ccs-01", s, T0 + 10_000, m).rejected for s, m in msgs]
    assert [(r.sensors, r.reasons) for r in refused] == [
        (["temp"], ["value out of range"]), (["temp"], ["value out of range"])]


def test_packed_and_version_1_frames_store_the_same_rows_and_malformed_ones_none(chdb_store):
    """The projection reads a packed frame's columns in place and a version-1 frame's
    lists; a packed frame outside the schema (truncated, an index past its table, a
    time out of range) is dropped whole, as the actors dead-letter it."""
    import struct

    rows = {}
    for version in (1, 2):
        p = fresh(chdb_store)
        encode = encode_wire if version == 2 else msgspec.msgpack.encode
        frames = [encode(Frame(facility="ccs-01", sensors=["temp", "flow", "temp"],
                               times=[T0 + i * 1000, T0 + i * 1000, T0 + i * 1000 + 500],
                               values=[40.0 + i, 100.0, -0.5])) for i in range(50)]
        packed = {"type": "frame.v2", "facility": "ccs-01", "names": ["temp"],
                  "sensors": struct.pack("<I", 0), "times": struct.pack("<q", T0 + 999_000),
                  "values": struct.pack("<d", 7.0)}
        bad = [msgspec.msgpack.encode({**packed, **change}) for change in (
            {"times": struct.pack("<q", T0)[:5]},
            {"sensors": struct.pack("<I", 1)},
            {"times": struct.pack("<q", 2**62)},
        )]
        assert p.apply(list(enumerate(frames + bad, 1))) == 53
        rows[version] = chdb_store.rows(
            "SELECT sensor, toUnixTimestamp64Milli(time) AS t, value, seq FROM readings FINAL "
            "ORDER BY sensor, t")
    assert rows[1] == rows[2] and len(rows[2]) == 150
    assert {r["seq"] for r in rows[2]} == set(range(1, 51))  # none of the malformed three
