"""From one ledger record to the rows it contributes to each table. Pure: no I/O.

Every record yields its `ledger` row, plus the rows of the view its event belongs
to. The tuples follow `schema.COLUMNS[table]`; the projector transposes them into
columns. Facts only: no row here says what state anything is in, because state is
derived at query time (which is what lets a query look at any past ledger position).
"""

from __future__ import annotations

from plumeline.events import (
    AlertAcknowledged,
    AlertCleared,
    AlertEscalated,
    AlertRaised,
    AlertUpdated,
    EmissionsMeasured,
    Envelope,
    FacilityRegistered,
    HotspotDetected,
    ReadingsRejected,
    RecommendationApproved,
    RecommendationIssued,
    RecommendationOutcomeMeasured,
    RecommendationRejected,
    SensorRegistered,
)

__all__ = ["rows_for"]


def rows_for(
    seq: int, leaf_hash_hex: str, record_bytes: bytes, envelope: Envelope
) -> dict[str, list[tuple]]:
    """Rows of the record at ledger position `seq` whose event is `envelope`."""
    e, c = envelope, envelope.causation
    rows: dict[str, list[tuple]] = {
        "ledger": [
            (seq, e.id, e.type, e.facility, e.sensor, e.time)
            + (c.stream, c.seq, c.index, leaf_hash_hex, record_bytes)
        ]
    }
    match e.body:
        case AlertRaised() as b:
            rows["alert_events"] = [
                _alert(
                    seq,
                    e,
                    b,
                    severity=b.severity,
                    value=b.value,
                    baseline=b.baseline,
                    score=b.score,
                    model=b.model,
                    message=b.message,
                )
            ]
        case AlertAcknowledged() as b:
            rows["alert_events"] = [_alert(seq, e, b, user=b.user, note=b.note)]
        case AlertCleared() as b:
            rows["alert_events"] = [_alert(seq, e, b, value=b.value, by=b.by)]
        case AlertUpdated() as b:
            rows["alert_events"] = [
                _alert(seq, e, b, severity=b.severity, value=b.value, score=b.score)
            ]
        case AlertEscalated() as b:
            rows["alert_events"] = [_alert(seq, e, b, severity=b.severity)]
        case HotspotDetected() as b:
            rows["hotspots"] = [
                (e.id, seq, b.facility, b.sensor, b.quantity, b.unit, e.time)
                + (b.value, b.baseline, b.excess_ratio)
            ]
        case RecommendationIssued() as b:
            rows["recommendation_events"] = [
                _recommendation(
                    seq,
                    e,
                    b,
                    sensor=b.sensor,
                    action=b.action,
                    reason=b.reason,
                    effect=b.expected_effect_tco2e_per_day,
                    confidence=b.confidence,
                    urgency=b.urgency,
                )
            ]
        case RecommendationApproved() | RecommendationRejected() as b:
            rows["recommendation_events"] = [_recommendation(seq, e, b, user=b.user, note=b.note)]
        case RecommendationOutcomeMeasured() as b:
            rows["recommendation_outcomes"] = [
                (b.recommendation_id, seq, b.facility, e.time, b.approved_at, b.baseline_start)
                + (b.baseline_end, b.baseline_rate_tco2e_per_day, b.window_start, b.window_end)
                + (b.observed_rate_tco2e_per_day, b.measured_effect_tco2e_per_day)
                + (b.uncertainty_tco2e_per_day, b.expected_effect_tco2e_per_day, b.verdict)
            ]
        case FacilityRegistered() as b:
            rows["facilities"] = [(b.facility, seq, b.name, b.kind, e.time)]
        case SensorRegistered() as b:
            rows["sensors"] = [(b.facility, b.sensor, seq, b.quantity, b.unit, b.role, e.time)]
        case ReadingsRejected() as b:
            rows["rejections"] = [(seq, b.facility, e.time, b.count, dict(b.reasons))]
        case EmissionsMeasured() as b:
            rows["emissions"] = [
                (b.facility, b.window_start, b.window_end, seq, b.emitted_t, b.captured_t)
                + (b.stored_t, b.vented_t, b.capture_efficiency, b.readings, b.first_seq)
                + (b.last_seq,)
            ]
        case _:
            # The ledger row alone keeps an event no view knows yet; a rebuild after
            # this module learns it projects it from the ledger.
            pass
    return rows


# One row shape per lifecycle table; what a step of the lifecycle does not carry is
# left at its default (None for a measurement, "" for a name), never guessed.
def _alert(
    seq,
    e,
    b,
    *,
    severity="",
    value=None,
    baseline=None,
    score=None,
    model="",
    message="",
    user="",
    note="",
    by="",
) -> tuple:
    return (
        b.alert_id,
        seq,
        e.type,
        b.facility,
        b.sensor,
        b.kind,
        severity,
        e.time,
        value,
        baseline,
        score,
        model,
        message,
        user,
        note,
        by,
    )


def _recommendation(
    seq,
    e,
    b,
    *,
    sensor="",
    action="",
    reason="",
    effect=None,
    confidence=None,
    urgency="",
    user="",
    note="",
) -> tuple:
    # A decision does not name the sensor; the issue row of its recommendation does.
    return (
        b.recommendation_id,
        seq,
        e.type,
        b.facility,
        sensor or e.sensor,
        action,
        reason,
        effect,
        confidence,
        urgency,
        user,
        note,
        e.time,
    )
