"""The read side: current state derived at query time, time travel, filters, JSON."""

from __future__ import annotations

import json

import pytest

from plumeline.events import leaf_hash
from plumeline.projections import (
    ALERT_STATES,
    SEVERITIES,
    alert,
    alerts,
    facilities,
    hotspots,
    ledger_events,
    projection_status,
    rejections_summary,
)


@pytest.fixture
def store(projector, story):
    projector.apply(story)
    return projector.store


def ids(rows):
    return [r["alert_id"] for r in rows]


def test_alert_lifecycle_shows_the_current_state(projector, story):
    # Seq 6 raises a1, 8 acknowledges it, 9 clears it.
    projector.apply(story[:6])
    a = alert(projector.store, "a1")
    assert (a["state"], a["acknowledged"]) == ("active", False)
    assert a["raised_at"] == "2026-01-01T00:00:02.000Z" and a["raised_at_ms"] == 1767225602000
    assert a["acknowledged_by"] is None and a["cleared_at"] is None

    projector.apply(story[:8])
    a = alert(projector.store, "a1")
    assert (a["state"], a["acknowledged"]) == ("active", True)
    assert (a["acknowledged_by"], a["acknowledged_note"]) == ("olga", "on it")
    assert a["acknowledged_at"] == "2026-01-01T00:00:03.000Z"

    projector.apply(story[:9])
    a = alert(projector.store, "a1")
    assert (a["state"], a["acknowledged"]) == ("cleared", True)
    assert (a["cleared_by"], a["cleared_value"]) == ("detector", 11.0)
    assert a["cleared_at_ms"] == 1767225604000
    assert [h["type"] for h in a["history"]] == [
        "alert.raised",
        "alert.acknowledged",
        "alert.cleared",
    ]
    # The raise's measurements stay the alert's, whatever came later.
    assert (a["severity"], a["value"], a["baseline"], a["score"]) == ("major", 42.0, 10.0, 14.2)


def test_as_of_seq_shows_the_earlier_state(store):
    assert alert(store, "a1", as_of_seq=5) is None
    assert (
        alert(store, "a1", as_of_seq=7)["state"],
        alert(store, "a1", as_of_seq=7)["acknowledged"],
    ) == (
        "active",
        False,
    )
    assert alert(store, "a1", as_of_seq=8)["acknowledged"] is True
    assert alert(store, "a1", as_of_seq=8)["state"] == "active"
    assert len(alert(store, "a1", as_of_seq=8)["history"]) == 2
    assert ids(alerts(store, state="active", as_of_seq=8)) == ["a1"]
    assert ids(alerts(store, state="active")) == ["a2"]
    assert hotspots(store, as_of_seq=6) == [] and len(hotspots(store, as_of_seq=7)) == 1
    assert [f["facility"] for f in facilities(store, as_of_seq=3)] == ["f1"]
    assert rejections_summary(store, as_of_seq=5)["readings"] == 3


def test_alert_filters(store):
    assert ids(alerts(store)) == ["a2", "a1"]  # most recently raised first
    assert ids(alerts(store, state="active")) == ["a2"]
    assert ids(alerts(store, state="cleared")) == ["a1"]
    assert ids(alerts(store, state="acknowledged")) == ["a1"]
    assert ids(alerts(store, state="unacknowledged")) == ["a2"]
    assert ids(alerts(store, severity="critical")) == ["a2"]
    assert ids(alerts(store, severity="warning")) == []
    assert ids(alerts(store, facility="f1")) == ["a1"]
    assert ids(alerts(store, facility="f2", state="cleared")) == []
    assert ids(alerts(store, limit=1)) == ["a2"]
    assert alert(store, "nope") is None


def test_user_input_is_bound_not_spliced(store):
    assert alerts(store, facility="f1' OR 1=1 --") == []
    assert alert(store, "a1' OR '1'='1") is None
    assert hotspots(store, facility="{facility:String}") == []


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: alerts(s, state="open"), "state must be one of " + ", ".join(ALERT_STATES)),
        (lambda s: alerts(s, severity="high"), "severity must be one of " + ", ".join(SEVERITIES)),
        (lambda s: alerts(s, facility=7), "facility must be a string"),
        (lambda s: alerts(s, limit=0), "limit must be an integer from 1 to 10000"),
        (lambda s: hotspots(s, limit="5"), "limit must be an integer"),
        (lambda s: alerts(s, as_of_seq=-1), "as_of_seq must be a ledger seq >= 0"),
        (lambda s: ledger_events(s, 5, 2), "1 <= from_seq <= to_seq"),
        (lambda s: ledger_events(s, 1, 20_000), "at most 10000 ledger records"),
    ],
)
def test_a_bad_filter_raises_value_error_naming_what_is_allowed(store, call, message):
    with pytest.raises(ValueError) as e:
        call(store)
    assert message in str(e.value)


def test_hotspots(store):
    (h,) = hotspots(store, facility="f1")
    assert h["seq"] == 7 and h["sensor"] == "s1" and h["excess_ratio"] == 2.5
    assert (h["time"], h["time_ms"]) == ("2026-01-01T00:00:02.500Z", 1767225602500)
    assert hotspots(store, facility="f2") == []


def test_ledger_events_carry_exact_records_and_leaf_hashes(store, story):
    events = ledger_events(store, 2, 5)
    assert [e["seq"] for e in events] == [2, 3, 4, 5]
    for e in events:
        data = story[e["seq"] - 1][1]
        assert e["record"].encode() == data
        assert e["leaf_hash"] == leaf_hash(data).hex()
    assert events[0]["causation"] == {"stream": "READINGS", "seq": 2, "index": 0}
    assert events[0]["time"] == "2026-01-01T00:00:00.000Z"


def test_facilities_with_their_sensors(store):
    f1, f2 = facilities(store)
    assert (f1["facility"], f1["name"], f1["kind"]) == ("f1", "Plant One", "cement")
    assert [s["sensor"] for s in f1["sensors"]] == ["s1", "s2"]
    assert f1["sensors"][0] == {
        "sensor": "s1",
        "quantity": "co2_flow",
        "unit": "t/h",
        "role": "emitted",
    }
    assert (f2["facility"], f2["sensors"]) == ("f2", [])


def test_rejections_summary(store):
    summary = rejections_summary(store)
    assert summary["readings"] == 4 and summary["frames"] == 2
    assert summary["reasons"] == {"future": 1, "nan": 2, "unknown_sensor": 1}
    assert [(f["facility"], f["readings"]) for f in summary["facilities"]] == [
        ("f1", 3),
        ("f2", 1),
    ]


def test_projection_status(store, story):
    status = projection_status(store)
    assert status["checkpoint"] == len(story)
    assert status["rows"]["ledger"] == len(story)


def test_every_answer_is_plain_json(store):
    for answer in [
        alerts(store),
        alert(store, "a1"),
        hotspots(store),
        ledger_events(store, 1, 14),
        facilities(store),
        rejections_summary(store),
        projection_status(store),
    ]:
        assert json.loads(json.dumps(answer)) == answer
