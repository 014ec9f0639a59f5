"""The domain vocabulary: every fact Plumeline records, as tagged msgspec Structs.

Events are past-tense facts. Wire tags are explicit strings, so renaming a class never
changes the ledger; schemas evolve only by appending fields with defaults. Times are
event times in integer milliseconds since the Unix epoch.
"""

from __future__ import annotations

import hashlib
from typing import Literal, get_args

import msgspec

__all__ = [
    "SCHEMA_VERSION",
    "SEVERITIES",
    "AlertAcknowledged",
    "AlertCleared",
    "AlertEscalated",
    "AlertRaised",
    "AlertUpdated",
    "Causation",
    "CommandRejected",
    "DomainEvent",
    "EmissionsMeasured",
    "Envelope",
    "Event",
    "FacilityRegistered",
    "HotspotDetected",
    "ReadingsRejected",
    "ReadingsSealed",
    "RecommendationApproved",
    "RecommendationIssued",
    "RecommendationOutcomeMeasured",
    "RecommendationRejected",
    "SensorChanged",
    "SensorRegistered",
    "SensorRetired",
    "Severity",
    "SilenceStarted",
    "UserAdded",
    "UserDisabled",
    "UserRoleChanged",
    "ApiKeyIssued",
    "ApiKeyRevoked",
    "alert_id",
    "event_id",
]

SCHEMA_VERSION = 1

# The severity scale, lowest first: the detector grades on it, an unacknowledged alert
# climbs it one step at a time, the alert view and webhook filters accept its names.
Severity = Literal["warning", "minor", "major", "critical"]
SEVERITIES: tuple[str, ...] = get_args(Severity)


class DomainEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Base of every domain event; `facility` is the subject every event has."""

    facility: str


class FacilityRegistered(DomainEvent, tag="facility.registered"):
    name: str
    kind: str


class _SensorEvent(DomainEvent):
    """What a facility's sensor is: its declaration, and the admin's changes to it."""

    sensor: str
    quantity: str
    unit: str
    role: str


class SensorRegistered(_SensorEvent, tag="sensor.registered", omit_defaults=True):
    """A sensor declared by its facility's manifest (`by` left out: ""), or by an
    admin over HTTP (`by` names them). `by` is the one field written only when not
    empty, so the records of manifests stay as they were."""

    by: str = ""


class SensorChanged(_SensorEvent, tag="sensor.changed"):
    """An admin changed a sensor's unit or role: what it is from now on."""

    by: str


class SensorRetired(_SensorEvent, tag="sensor.retired"):
    """An admin retired a sensor: its readings are refused from now on, as an
    undeclared sensor's are. The fields are what it was when retired."""

    by: str


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


class AlertUpdated(DomainEvent, tag="alert.updated"):
    """The detector raised again what is still active: one alert per (sensor, kind),
    whose latest reading, score and severity this carries; `count` raises so far."""

    alert_id: str
    sensor: str
    kind: str
    severity: str
    value: float
    score: float
    count: int


class AlertEscalated(DomainEvent, tag="alert.escalated"):
    """Unacknowledged for `unacknowledged_ms` of event time: one step up the scale."""

    alert_id: str
    sensor: str
    kind: str
    severity: str
    previous: str
    unacknowledged_ms: int


class SilenceStarted(DomainEvent, tag="silence.started"):
    """No new alerts from `sensor` ("" = every sensor of the facility) until `until_ms`."""

    sensor: str
    until_ms: int
    reason: str
    user: str


class CommandRejected(DomainEvent, tag="command.rejected"):
    """An operator's command that could not be carried out, kept with its reason."""

    command: str
    target: str
    user: str
    reason: str


class EmissionsMeasured(DomainEvent, tag="emissions.measured"):
    """The facility's CO2 balance over one window of event time [window_start,
    window_end), in tonnes, integrated sample-and-hold from its CO2 flow sensors (t/h)
    by role; `first_seq`..`last_seq` are the READINGS messages of those `readings`."""

    window_start: int
    window_end: int
    emitted_t: float
    captured_t: float
    stored_t: float
    vented_t: float
    capture_efficiency: float  # captured / emitted; 0.0 when nothing was emitted
    readings: int
    first_seq: int
    last_seq: int


class ReadingsSealed(DomainEvent, tag="readings.sealed", omit_defaults=True):
    """The RFC 6962 Merkle root over the `count` readings the facility accepted with a
    time in [window_start, window_end): a tree of `leaves` leaves, one per READINGS
    message and window, as docs/ledger.md §8 defines them. `leaves` is the tree size an
    inclusion proof is checked against. Records written when every reading was a leaf
    of its own have no `leaves`: it reads as 0 and, the one field left out at its
    default, is written back without it, so those records stay canonical. `leaf` is
    "frame" when any leaf of the window is a frame leaf (a packed frame's: its bytes
    and positions; a version-1 frame's leaf is a readings leaf even then), absent when
    all are readings leaves, as in every record before frame leaves."""

    window_start: int
    window_end: int
    root: str  # 64 hex
    count: int
    first_seq: int
    last_seq: int
    leaves: int = 0
    leaf: str = ""


class RecommendationOutcomeMeasured(DomainEvent, tag="recommendation.outcome_measured"):
    """What an approved recommendation did: the facility's net CO2 rate (emitted −
    stored, t/day) over [window_start, window_end), the first whole accounting windows
    after the approval, against [baseline_start, baseline_end), the windows before it.
    `measured_effect` is baseline − observed (positive: less CO2); `uncertainty` two
    standard errors of that difference, from the hour-to-hour spread of both spans."""

    recommendation_id: str
    approved_at: int
    baseline_start: int
    baseline_end: int
    baseline_rate_tco2e_per_day: float
    window_start: int
    window_end: int
    observed_rate_tco2e_per_day: float
    measured_effect_tco2e_per_day: float
    uncertainty_tco2e_per_day: float
    expected_effect_tco2e_per_day: float
    verdict: str  # effective | partial | no measurable effect | worse | no baseline


# Identities (events/identity.py): "facility" is the reserved name `_identity`. No
# event names a password, a hash or a token; an API key by its id only.
class UserAdded(DomainEvent, tag="user.added"):
    user: str
    role: str
    by: str


class UserRoleChanged(DomainEvent, tag="user.role_changed"):
    user: str
    role: str
    by: str


class UserDisabled(DomainEvent, tag="user.disabled"):
    user: str
    by: str


class ApiKeyIssued(DomainEvent, tag="api_key.issued"):
    key_id: str
    user: str
    role: str
    expires: int  # epoch seconds
    facilities: list[str]
    by: str


class ApiKeyRevoked(DomainEvent, tag="api_key.revoked"):
    key_id: str
    by: str


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
    | AlertUpdated
    | AlertEscalated
    | SilenceStarted
    | CommandRejected
    | EmissionsMeasured
    | ReadingsSealed
    | RecommendationOutcomeMeasured
    | UserAdded
    | UserRoleChanged
    | UserDisabled
    | ApiKeyIssued
    | ApiKeyRevoked
    | SensorChanged
    | SensorRetired
)


class Causation(msgspec.Struct, frozen=True):
    """What produced an event: message `seq` of `stream`, and the event's place among
    the events that message caused. (stream, seq, index) names an event for ever."""

    stream: str
    seq: int
    index: int


# Untracked by the garbage collector (`gc=False`): the ledger writer decodes a thousand
# at a time, and each tracked one counted toward the next collection, whose full passes
# walk every object of the process (decoding took 1.4–1.6 µs a record in the bench's
# appends, 0.6 untracked). Frozen, and holding only strings, ints and frozen events of
# plain values (strings, numbers, their lists and maps), an envelope is part of no
# reference cycle. (Not in the docstring: that is the description in the published
# JSON schema.)
class Envelope(msgspec.Struct, frozen=True, kw_only=True, gc=False):
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


def alert_id(facility: str, sensor: str, kind: str, time: int) -> str:
    """Deterministic, from what raised it: the raise's event time names the alert, so
    replay gives it the same id (20 lowercase hex)."""
    return hashlib.sha256(f"{facility}/{sensor}/{kind}/{time}".encode()).hexdigest()[:20]
