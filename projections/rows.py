"""From one ledger record to the rows it contributes to each table. Pure: no I/O.

Every record yields its `ledger` row, plus the rows of the view its event belongs
to. Rows are built by column name (`schema.row`), which puts them in the order the
projector's inserts name; it transposes them into columns. Facts only: no row here says what state anything is in, because state is
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
    SensorChanged,
    SensorRegistered,
    SensorRetired,
)
from plumeline.projections.schema import row

__all__ = ["rows_for"]


def rows_for(
    seq: int, leaf_hash_hex: str, record_bytes: bytes, envelope: Envelope
) -> dict[str, list[tuple]]:
    """Rows of the record at ledger position `seq` whose event is `envelope`."""
    e, c = envelope, envelope.causation
    rows: dict[str, list[tuple]] = {
        "ledger": [
            row("ledger", seq=seq, event_id=e.id, type=e.type, facility=e.facility,
                sensor=e.sensor, time=e.time, causation_stream=c.stream,
                causation_seq=c.seq, causation_index=c.index, leaf_hash=leaf_hash_hex,
                record=record_bytes)
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
                row("hotspots", event_id=e.id, seq=seq, facility=b.facility, sensor=b.sensor,
                    quantity=b.quantity, unit=b.unit, time=e.time, value=b.value,
                    baseline=b.baseline, excess_ratio=b.excess_ratio)
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
                row("recommendation_outcomes", recommendation_id=b.recommendation_id, seq=seq,
                    facility=b.facility, time=e.time, approved_at=b.approved_at,
                    baseline_start=b.baseline_start, baseline_end=b.baseline_end,
                    baseline_rate_tco2e_per_day=b.baseline_rate_tco2e_per_day,
                    window_start=b.window_start, window_end=b.window_end,
                    observed_rate_tco2e_per_day=b.observed_rate_tco2e_per_day,
                    measured_effect_tco2e_per_day=b.measured_effect_tco2e_per_day,
                    uncertainty_tco2e_per_day=b.uncertainty_tco2e_per_day,
                    expected_effect_tco2e_per_day=b.expected_effect_tco2e_per_day,
                    verdict=b.verdict)
            ]
        case FacilityRegistered() as b:
            rows["facilities"] = [row("facilities", facility=b.facility, seq=seq, name=b.name,
                                      kind=b.kind, time=e.time)]
        case SensorRegistered() | SensorChanged() | SensorRetired() as b:
            rows["sensors"] = [row("sensors", facility=b.facility, sensor=b.sensor, seq=seq,
                                   quantity=b.quantity, unit=b.unit, role=b.role, time=e.time,
                                   by=b.by, retired=isinstance(b, SensorRetired))]
        case ReadingsRejected() as b:
            rows["rejections"] = [row("rejections", seq=seq, facility=b.facility, time=e.time,
                                      count=b.count, reasons=dict(b.reasons))]
        case EmissionsMeasured() as b:
            rows["emissions"] = [
                row("emissions", facility=b.facility, window_start=b.window_start,
                    window_end=b.window_end, seq=seq, emitted_t=b.emitted_t,
                    captured_t=b.captured_t, stored_t=b.stored_t, vented_t=b.vented_t,
                    capture_efficiency=b.capture_efficiency, readings=b.readings,
                    first_seq=b.first_seq, last_seq=b.last_seq)
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
    return row("alert_events", alert_id=b.alert_id, seq=seq, type=e.type,
               facility=b.facility, sensor=b.sensor, kind=b.kind, severity=severity,
               time=e.time, value=value, baseline=baseline, score=score, model=model,
               message=message, user=user, note=note, by=by)


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
    return row("recommendation_events", recommendation_id=b.recommendation_id, seq=seq,
               type=e.type, facility=b.facility, sensor=sensor or e.sensor, action=action,
               reason=reason, expected_effect_tco2e_per_day=effect, confidence=confidence,
               urgency=urgency, user=user, note=note, time=e.time)
