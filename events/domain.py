"""The domain vocabulary: every fact Plumeline records, as tagged msgspec Structs.

Events are past-tense facts. Wire tags are explicit strings, so renaming a class never
changes the ledger; schemas evolve only by appending fields with defaults. Times are
event times in integer milliseconds since the Unix epoch.
"""

from __future__ import annotations

import hashlib

import msgspec

__all__ = [
    "SCHEMA_VERSION",
    "AlertAcknowledged",
    "AlertCleared",
    "AlertRaised",
    "Causation",
    "DomainEvent",
    "Envelope",
    "Event",
    "FacilityRegistered",
    "HotspotDetected",
    "ReadingsRejected",
    "RecommendationApproved",
    "RecommendationIssued",
    "RecommendationRejected",
    "SensorRegistered",
    "event_id",
]

SCHEMA_VERSION = 1


class DomainEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Base of every domain event; `facility` is the subject every event has."""

    facility: str


class FacilityRegistered(DomainEvent, tag="facility.registered"):
    name: str
    kind: str


class SensorRegistered(DomainEvent, tag="sensor.registered"):
    sensor: str
    quantity: str
    unit: str
    role: str


class ReadingsRejected(DomainEvent, tag="readings.rejected"):
    """Readings of one frame refused at the edge; the readings are in DEADLETTER."""

    count: int
    reasons: dict[str, int]


class HotspotDetected(DomainEvent, tag="hotspot.detected"):
    """A sensor's CO2 flow stands well above the facility's baseline for it."""

    sensor: str
    quantity: str
    unit: str
    value: float
    baseline: float
    excess_ratio: float


class AlertRaised(DomainEvent, tag="alert.raised"):
    alert_id: str
    sensor: str
    kind: str
    severity: str
    value: float
    baseline: float
    score: float
    model: str
    message: str


class AlertAcknowledged(DomainEvent, tag="alert.acknowledged"):
    alert_id: str
    sensor: str
    kind: str
    user: str
    note: str = ""


class AlertCleared(DomainEvent, tag="alert.cleared"):
    alert_id: str
    sensor: str
    kind: str
    value: float
    by: str = "detector"


class RecommendationIssued(DomainEvent, tag="recommendation.issued"):
    recommendation_id: str
    sensor: str
    action: str
    reason: str
    expected_effect_tco2e_per_day: float
    confidence: float
    urgency: str


class RecommendationApproved(DomainEvent, tag="recommendation.approved"):
    recommendation_id: str
    user: str
    note: str = ""


class RecommendationRejected(DomainEvent, tag="recommendation.rejected"):
    recommendation_id: str
    user: str
    note: str = ""


Event = (
    FacilityRegistered
    | SensorRegistered
    | ReadingsRejected
    | HotspotDetected
    | AlertRaised
    | AlertAcknowledged
    | AlertCleared
    | RecommendationIssued
    | RecommendationApproved
    | RecommendationRejected
)


class Causation(msgspec.Struct, frozen=True):
    """What produced an event: message `seq` of `stream`, and the event's place among
    the events that message caused. (stream, seq, index) names an event for ever."""

    stream: str
    seq: int
    index: int


class Envelope(msgspec.Struct, frozen=True, kw_only=True):
    """A domain event as the ledger stores it."""

    id: str
    type: str
    version: int = SCHEMA_VERSION
    facility: str
    sensor: str = ""
    time: int
    causation: Causation
    body: Event

    @classmethod
    def wrap(cls, body: Event, *, time: int, causation: Causation) -> Envelope:
        return cls(
            id=event_id(causation),
            type=type(body).__struct_config__.tag,
            facility=body.facility,
            sensor=getattr(body, "sensor", ""),
            time=time,
            causation=causation,
            body=body,
        )


def event_id(causation: Causation) -> str:
    """Deterministic: replaying the same input gives the same ids (32 lowercase hex)."""
    key = f"{causation.stream}/{causation.seq}/{causation.index}".encode()
    return hashlib.sha256(key).hexdigest()[:32]
