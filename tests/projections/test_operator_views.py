"""Views the operator surface needs: recommendations, alert escalation and updates,
the outcome of a command, and the ledger position at a time."""

from __future__ import annotations

import pytest

from plumeline.events import (
    AlertAcknowledged,
    AlertEscalated,
    AlertUpdated,
    CommandRejected,
    RecommendationApproved,
    RecommendationIssued,
)
from plumeline.projections import alert, caused_by, recommendation, recommendations, seq_at, seq_of
from tests.projections.conftest import T0, _alert_raised, _seal


def _issued(rid: str, facility: str = "f1") -> RecommendationIssued:
    return RecommendationIssued(
        facility=facility, recommendation_id=rid, sensor="s1", action="check the burner",
        reason="hotspot", expected_effect_tco2e_per_day=2.0, confidence=0.5, urgency="medium",
    )


STORY = [
    (T0, _issued("r1")),
    (T0 + 1_000, _issued("r2", facility="f2")),
    (T0 + 2_000, RecommendationApproved(facility="f1", recommendation_id="r1", user="olga",
                                        note="go")),
    (T0 + 3_000, _alert_raised("a1", severity="minor")),
    (T0 + 4_000, AlertUpdated(facility="f1", alert_id="a1", sensor="s1", kind="deviation",
                              severity="minor", value=50.0, score=15.0, count=2)),
    (T0 + 5_000, AlertEscalated(facility="f1", alert_id="a1", sensor="s1", kind="deviation",
                                severity="major", previous="minor", unacknowledged_ms=2_000)),
    (T0 + 6_000, CommandRejected(facility="f1", command="command.acknowledge_alert",
                                 target="zz", user="ivan", reason="no alert zz")),
    (T0 + 7_000, AlertAcknowledged(facility="f1", alert_id="a1", sensor="s1",
                                   kind="deviation", user="olga")),
]


@pytest.fixture
def store(projector):
    projector.apply(_seal(STORY, stream="readings"))
    return projector.store


def test_recommendations_show_their_decision_and_filter_by_state(store):
    assert [r["recommendation_id"] for r in recommendations(store)] == ["r2", "r1"]
    [pending] = recommendations(store, state="pending")
    assert pending["recommendation_id"] == "r2" and pending["decided_by"] is None
    r1 = recommendation(store, "r1")
    assert (r1["state"], r1["decided_by"], r1["decision_note"]) == ("approved", "olga", "go")
    assert recommendation(store, "r1", as_of_seq=2)["state"] == "pending"
    assert recommendation(store, "nope") is None
    assert recommendations(store, facility="f2", state="approved") == []
    with pytest.raises(ValueError, match="state must be one of"):
        recommendations(store, state="maybe")


def test_an_alert_takes_the_severity_of_its_escalation_and_counts_its_raises(store):
    a1 = alert(store, "a1")
    assert (a1["severity"], a1["occurrences"], a1["value"]) == ("major", 2, 50.0)
    assert alert(store, "a1", as_of_seq=4)["severity"] == "minor"
    assert [h["type"] for h in a1["history"]] == [
        "alert.raised", "alert.updated", "alert.escalated", "alert.acknowledged"]


def test_the_outcome_of_a_command_is_found_by_its_readings_seq(store):
    [row] = caused_by(store, 7)
    assert row["type"] == "command.rejected" and b"no alert zz" in row["record"].encode()
    assert caused_by(store, 99) == []


def test_a_time_maps_to_the_last_position_stamped_at_or_before_it(store):
    assert seq_at(store, T0 + 2_500) == 3
    assert seq_at(store, T0 - 1) == 0


def test_an_event_id_maps_to_its_ledger_position(store):
    [row] = caused_by(store, 4)
    assert seq_of(store, row["event_id"]) == 4
    assert seq_of(store, "0" * 32) is None
