"""The recommendation view: each recommendation with its decision, if it has one.

Like alerts, state is folded at query time from the lifecycle rows (issued, approved,
rejected), so `as_of_seq` shows any earlier state. Values are bound parameters. An
approved recommendation carries its measured `outcome` once the facility has recorded
one (`recommendation_outcomes`), else `outcome` is None.
"""

from __future__ import annotations

from typing import Any

from plumeline.projections import _params
from plumeline.projections.store import Store

__all__ = ["RECOMMENDATION_STATES", "recommendation", "recommendations"]

RECOMMENDATION_STATES = ("pending", "approved", "rejected")

_SQL = """
SELECT
    recommendation_id,
    any(facility) AS facility,
    argMaxIf(sensor, seq, type = 'recommendation.issued') AS sensor,
    argMaxIf(action, seq, type = 'recommendation.issued') AS action,
    argMaxIf(reason, seq, type = 'recommendation.issued') AS reason,
    argMaxIf(expected_effect_tco2e_per_day, seq, type = 'recommendation.issued')
        AS expected_effect_tco2e_per_day,
    argMaxIf(confidence, seq, type = 'recommendation.issued') AS confidence,
    argMaxIf(urgency, seq, type = 'recommendation.issued') AS urgency,
    maxIf(seq, type = 'recommendation.issued') AS issued_seq,
    toUnixTimestamp64Milli(argMaxIf(time, seq, type = 'recommendation.issued')) AS issued_at_ms,
    maxIf(seq, type != 'recommendation.issued') AS decided_seq,
    argMaxIf(type, seq, type != 'recommendation.issued') AS decision,
    argMaxIf(user, seq, type != 'recommendation.issued') AS decided_by,
    argMaxIf(note, seq, type != 'recommendation.issued') AS decision_note,
    toUnixTimestamp64Milli(argMaxIf(time, seq, type != 'recommendation.issued'))
        AS decided_at_ms
FROM recommendation_events
WHERE seq <= {as_of:UInt64} AND %(where)s
GROUP BY recommendation_id
HAVING issued_seq > 0 AND ({state:String} = '' OR %(state)s = {state:String})
    AND ({facility:String} = '' OR facility = {facility:String})
ORDER BY issued_seq DESC
LIMIT {limit:UInt32}
"""
_OUTCOMES = """
SELECT
    recommendation_id,
    argMax(verdict, seq) AS verdict,
    argMax(baseline_rate_tco2e_per_day, seq) AS baseline_rate_tco2e_per_day,
    argMax(observed_rate_tco2e_per_day, seq) AS observed_rate_tco2e_per_day,
    argMax(measured_effect_tco2e_per_day, seq) AS measured_effect_tco2e_per_day,
    argMax(uncertainty_tco2e_per_day, seq) AS uncertainty_tco2e_per_day,
    argMax(expected_effect_tco2e_per_day, seq) AS expected_effect_tco2e_per_day,
    toUnixTimestamp64Milli(argMax(baseline_start, seq)) AS baseline_start_ms,
    toUnixTimestamp64Milli(argMax(baseline_end, seq)) AS baseline_end_ms,
    toUnixTimestamp64Milli(argMax(window_start, seq)) AS window_start_ms,
    toUnixTimestamp64Milli(argMax(window_end, seq)) AS window_end_ms,
    toUnixTimestamp64Milli(argMax(time, seq)) AS measured_at_ms,
    max(seq) AS outcome_seq
FROM recommendation_outcomes
WHERE seq <= {as_of:UInt64} AND has({ids:Array(String)}, recommendation_id)
GROUP BY recommendation_id
"""
_STATE = ("if(decided_seq = 0, 'pending', "
          "replaceOne(decision, 'recommendation.', ''))")


def recommendations(
    store: Store,
    state: str | None = None,
    facility: str | None = None,
    limit: int = 100,
    as_of_seq: int | None = None,
) -> list[dict[str, Any]]:
    """Recommendations, most recently issued first."""
    _params.choice("state", state, RECOMMENDATION_STATES)
    rows = store.rows(_SQL % {"where": "1", "state": _STATE}, {
        "state": state or "",
        "facility": _params.text("facility", facility),
        "limit": _params.limit(limit),
        "as_of": _params.as_of(as_of_seq),
    })
    return _with_outcomes(store, [_state(r) for r in rows], as_of_seq)


def recommendation(
    store: Store, recommendation_id: str, as_of_seq: int | None = None
) -> dict[str, Any] | None:
    """One recommendation; None if never issued."""
    rows = store.rows(_SQL % {"where": "recommendation_id = {id:String}", "state": _STATE}, {
        "id": _params.text("recommendation_id", recommendation_id),
        "state": "",
        "facility": "",
        "limit": 1,
        "as_of": _params.as_of(as_of_seq),
    })
    return _with_outcomes(store, [_state(rows[0])], as_of_seq)[0] if rows else None


def _with_outcomes(store: Store, recs: list[dict[str, Any]], as_of_seq: int | None):
    approved = [r["recommendation_id"] for r in recs if r["state"] == "approved"]
    found = {}
    if approved:
        found = {o.pop("recommendation_id"): _params.times(o) for o in store.rows(
            _OUTCOMES, {"ids": approved, "as_of": _params.as_of(as_of_seq)})}
    for r in recs:
        r["outcome"] = found.get(r["recommendation_id"])
    return recs


def _state(r: dict[str, Any]) -> dict[str, Any]:
    decided = r.pop("decided_seq") > 0
    decision = r.pop("decision")
    r["state"] = decision.removeprefix("recommendation.") if decided else "pending"
    if not decided:
        r["decided_by"] = r["decision_note"] = r["decided_at_ms"] = None
    return _params.times(r)
