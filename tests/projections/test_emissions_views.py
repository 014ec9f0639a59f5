"""The carbon balance, silences and monitoring figures read back from real chDB."""

from __future__ import annotations

import pytest

from plumeline.events import (
    EmissionsMeasured,
    Frame,
    SensorRegistered,
    SilenceStarted,
    encode_wire,
)
from plumeline.projections.emissions import (
    emissions_current,
    emissions_recent,
    emissions_report,
    emissions_summary,
    facility_metrics,
)
from plumeline.projections.figures import figures
from plumeline.projections.readings import ReadingsProjector
from plumeline.projections.silences import silences
from tests.projections.conftest import T0, _alert_raised, _seal

H = 3_600_000


def measured(facility: str, hour: int, emitted: float, captured: float) -> EmissionsMeasured:
    return EmissionsMeasured(
        facility=facility, window_start=T0 + hour * H, window_end=T0 + (hour + 1) * H,
        emitted_t=emitted, captured_t=captured, stored_t=captured - 1.0, vented_t=0.5,
        capture_efficiency=round(captured / emitted, 6), readings=100,
        first_seq=hour * 10 + 1, last_seq=hour * 10 + 10)


def sensor(facility: str, name: str, role: str) -> SensorRegistered:
    return SensorRegistered(facility=facility, sensor=name, quantity="co2_flow", unit="t/h",
                            role=role)


STORY = [
    (T0, sensor("f1", "flue", "emitted")),               # 1
    (T0, sensor("f1", "capture", "captured")),           # 2
    (T0, sensor("f1", "temp", "process")),               # 3
    (T0 + H, measured("f1", 0, 100.0, 90.0)),            # 4
    (T0 + H, measured("f2", 0, 50.0, 25.0)),             # 5
    (T0 + 2 * H, measured("f1", 1, 200.0, 150.0)),       # 6
    (T0 + 2 * H, SilenceStarted(facility="f1", sensor="temp", until_ms=T0 + 3 * H,
                                reason="maintenance", user="olga")),  # 7
    (T0 + 2 * H, SilenceStarted(facility="f1", sensor="temp", until_ms=T0 + 5 * H,
                                reason="longer", user="ivan")),       # 8
    (T0 + 2 * H, SilenceStarted(facility="f2", sensor="", until_ms=T0 + 2 * H + 60_000,
                                reason="", user="olga")),             # 9
    (T0 + 2 * H, _alert_raised("a1")),                   # 10
]


@pytest.fixture
def store(projector):
    projector.apply(_seal(STORY, stream="readings"))
    readings = ReadingsProjector(projector.store)
    readings.reset()
    # f1's open window (from T0 + 2h): flue at 120 t/h, capture at 60 t/h, for 3 minutes
    # from half past
    frames = [Frame(facility="f1", sensors=["flue", "capture", "temp"],
                    times=[T0 + 2 * H + (30 + m) * 60_000] * 3, values=[120.0, 60.0, 400.0])
              for m in range(4)]
    readings.apply([(i + 1, encode_wire(f)) for i, f in enumerate(frames)])
    return projector.store


def test_current_shows_the_latest_sealed_window_and_estimates_the_open_one(store):
    now = {c["facility"]: c for c in emissions_current(store)}
    assert now["f1"]["sealed"]["seq"] == 6 and now["f1"]["sealed"]["emitted_t"] == 200.0
    assert now["f1"]["sealed"]["window_start"] == "2026-01-01T01:00:00.000Z"
    est = now["f1"]["open"]
    assert est["sealed"] is False and est["window_start_ms"] == T0 + 2 * H
    assert (est["emitted_t"], est["captured_t"], est["capture_efficiency"]) == (6.0, 3.0, 0.5)
    assert now["f2"]["open"] is None and now["f2"]["sealed"]["captured_t"] == 25.0
    past = {c["facility"]: c for c in emissions_current(store, as_of_seq=5)}
    assert past["f1"]["sealed"]["seq"] == 4 and past["f1"]["open"] is None


def test_recent_gives_each_facilitys_latest_sealed_hours_oldest_first(store):
    recent = emissions_recent(store)  # dated 2026-01-01: the clock plays no part
    assert [(w["facility"], w["seq"], w["window_end_ms"]) for w in recent] == [
        ("f1", 4, T0 + H), ("f1", 6, T0 + 2 * H), ("f2", 5, T0 + H)]
    assert all(w["sealed"] for w in recent)
    assert [w["seq"] for w in emissions_recent(store, hours=1)] == [6, 5]
    assert [w["seq"] for w in emissions_recent(store, as_of_seq=5)] == [4, 5]
    for bad in (0, 745, "2"):
        with pytest.raises(ValueError, match="hours must be an integer"):
            emissions_recent(store, hours=bad)


def test_summary_totals_per_facility_and_overall(store):
    s = emissions_summary(store, T0, T0 + 2 * H)
    f1, f2 = s["facilities"]
    assert (f1["facility"], f1["emitted_t"], f1["captured_t"], f1["windows"]) == (
        "f1", 300.0, 240.0, 2)
    assert f1["capture_efficiency"] == 0.8 and f2["emitted_t"] == 50.0
    assert s["total"]["emitted_t"] == 350.0 and s["total"]["readings"] == 300
    assert emissions_summary(store, T0, T0 + H, facility="f1")["total"]["emitted_t"] == 100.0
    assert emissions_summary(store, T0, T0 + 2 * H, as_of_seq=4)["total"]["windows"] == 1
    with pytest.raises(ValueError, match="from < to"):
        emissions_summary(store, T0 + H, T0)


def test_the_report_names_the_ledger_record_of_every_window(store):
    report = emissions_report(store, T0, T0 + 3 * H)
    f1 = report["facilities"][0]
    assert f1["ledger_seqs"] == [4, 6]
    assert [(w["seq"], w["readings_first_seq"], w["readings_last_seq"]) for w in f1["windows"]] \
        == [(4, 1, 10), (6, 11, 20)]
    ids = {r["seq"]: r["event_id"] for r in store.rows("SELECT seq, event_id FROM ledger")}
    assert all(w["event_id"] == ids[w["seq"]] for w in f1["windows"])


def test_metrics_per_minute_from_readings_and_per_hour_from_the_ledger(store):
    minutes = facility_metrics(store, "f1", T0 + 2 * H, T0 + 3 * H, "minute")
    assert len(minutes) == 4
    assert (minutes[0]["emitted_t"], minutes[0]["captured_t"]) == (2.0, 1.0)
    assert minutes[0]["capture_efficiency"] == 0.5 and minutes[0]["readings"] == 2
    hours = facility_metrics(store, "f1", T0, T0 + 3 * H, "hour")
    assert [(h["time_ms"], h["seq"]) for h in hours] == [(T0, 4), (T0 + H, 6)]
    with pytest.raises(ValueError, match="resolution"):
        facility_metrics(store, "f1", T0, T0 + H, "second")


def test_silences_in_force_keep_the_longest_and_end_by_the_clock(store):
    at = T0 + 2 * H + 30_000
    found = silences(store, at_ms=at)
    assert [(s["facility"], s["sensor"], s["until_ms"], s["user"]) for s in found] == [
        ("f1", "temp", T0 + 5 * H, "ivan"), ("f2", "", T0 + 2 * H + 60_000, "olga")]
    assert [s["facility"] for s in silences(store, at_ms=T0 + 4 * H)] == ["f1"]
    assert silences(store, at_ms=at, facility="f2")[0]["sensor"] == ""
    assert silences(store, at_ms=at, as_of_seq=7)[0]["until_ms"] == T0 + 3 * H


def test_figures(store):
    f = figures(store)
    assert f["checkpoints"] == {"ledger": len(STORY), "readings": 4}
    assert f["readings_stored"] == 12
    assert f["alerts"] == {"active_unacknowledged": 1, "active_acknowledged": 0, "cleared": 0}
