import math

from events import Frame, Manifest, SensorSpec, encode_wire
from projections import Projector
from projections.readings import ReadingsProjector, latest_readings, sensor_history

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

    from projections import SequenceGap

    p = fresh(chdb_store)
    p.apply([(1, frame(0, 40.0))])
    with pytest.raises(SequenceGap):
        p.apply([(2, frame(1, 40.0)), (4, frame(3, 40.0))])
    assert p.checkpoint() == 1  # nothing of the broken batch is claimed
