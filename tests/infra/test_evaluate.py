from types import SimpleNamespace as NS

import pytest

from plumeline.infra.cli.evaluate import evaluate, score
from plumeline.infra.runtime.settings import parse_duration
from plumeline.simulator import AnomalyWindow


def alert(facility, sensor, time, kind="deviation", id_="a"):
    return NS(facility=facility, sensor=sensor, time=time, id=f"{id_}{time}",
              body=NS(kind=kind))


def test_an_alert_counts_for_the_window_it_falls_in_on_an_affected_sensor():
    windows = [
        AnomalyWindow("ccs-01", "co2_captured", "capture_loss", 1000, 5000, 0.3,
                      ("co2_captured", "co2_vented")),
        AnomalyWindow("ccs-01", "solvent_temp", "drift", 10_000, 20_000, 0.1, ("solvent_temp",)),
    ]
    alerts = [
        alert("ccs-01", "co2_vented", 3000),  # affected sensor, inside: detects, 2 s
        alert("ccs-01", "co2_vented", 4000),  # same window again: no second detection
        alert("ccs-02", "solvent_temp", 12_000),  # another plant: a false alarm
        alert("ccs-01", "solvent_temp", 500_000),  # long after the window: a false alarm
    ]
    r = score(alerts, windows)
    assert r["kinds"]["capture_loss"] == {"windows": 1, "detected": 1, "recall": 1.0,
                                          "median_time_to_detect_s": 2.0}
    assert r["kinds"]["drift"]["detected"] == 0 and r["kinds"]["drift"]["recall"] == 0.0
    assert r["kinds"]["spike"]["recall"] is None
    assert r["precision"] == 0.5


def test_the_production_actors_find_injected_anomalies_in_a_short_run():
    r = evaluate(seed=11, seconds=1800, facilities=4, sensors=9)
    windows = sum(k["windows"] for k in r["kinds"].values())
    detected = sum(k["detected"] for k in r["kinds"].values())
    assert windows > 5 and detected > 0
    assert r["alerts"] >= detected and 0 < r["precision"] <= 1
    assert all(k["median_time_to_detect_s"] is None or k["median_time_to_detect_s"] >= 0
               for k in r["kinds"].values())


def test_durations():
    assert [parse_duration(t) for t in ("90", "90s", "30m", "2h", "1d")] == [
        90, 90, 1800, 7200, 86400]
    with pytest.raises(ValueError, match="duration like"):
        parse_duration("soon")
