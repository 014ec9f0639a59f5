"""Webhook subscriptions and what is sent to them: matching, payload, signature and
the retry schedule. Pure; `projections/outbound/notifier.py` does the I/O.

Deliveries are signed as Standard Webhooks (standardwebhooks.com) sign them: headers
`webhook-id`, `webhook-timestamp` (seconds) and `webhook-signature: v1,<base64 of
HMAC-SHA256 over "id.timestamp.body">`, keyed by the base64 part of a `whsec_…`
secret. The timestamp is signed, so a receiver that refuses old timestamps refuses
a captured delivery sent again.

A subscription is configuration, not a domain event (docs/architecture.md,
"Webhooks"): it lives in the NATS KV bucket WEBHOOKS, keyed by its id.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import random
import secrets
from typing import Annotated, Literal, get_args
from urllib.parse import urlsplit

import msgspec

from plumeline.events import Envelope, Name, Severity

__all__ = [
    "DEFAULT_EVENT_TYPES",
    "EVENT_TYPES",
    "OUTCOMES",
    "SECRET_PREFIX",
    "AlertFacts",
    "DeliveryAttempt",
    "Pending",
    "RetryPolicy",
    "Subscription",
    "WebhookRequest",
    "check_url",
    "facts_after",
    "matches",
    "new_secret",
    "payload",
    "sign",
    "signature_headers",
    "summary",
    "verdict",
    "verify_signature",
]

DEFAULT_EVENT_TYPES = ("alert.raised", "alert.escalated", "alert.cleared")
SECRET_PREFIX = "whsec_"
# what the delivery log says of an attempt: a class, never the remote's words
OUTCOMES = ("delivered", "http_3xx", "http_4xx", "http_5xx", "timeout", "refused_target",
            "connect_failed")

EventType = Literal["alert.raised", "alert.updated", "alert.escalated", "alert.acknowledged",
                    "alert.cleared"]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)


def check_url(url: str) -> str:
    """An absolute http or https URL with a host; anything else raises ValueError."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"url must be http or https, got {parts.scheme or 'no scheme'}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"url has a bad port: {url!r}") from None
    if not parts.hostname:
        raise ValueError(f"url has no host: {url!r}")
    if parts.fragment:
        raise ValueError("url may not have a #fragment")
    if port == 0:
        raise ValueError("url port must be 1-65535")
    if any(c.isspace() for c in url):
        raise ValueError("url may not contain whitespace")
    return url


class WebhookRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The body of `POST /webhooks`. Unset filters match everything."""

    url: Annotated[str, msgspec.Meta(
        min_length=1, max_length=2048,
        description="http or https; receives a POST per matching event")]
    facility: Annotated[Name | None, msgspec.Meta(description="absent: every facility")] = None
    severities: Annotated[
        Annotated[list[Severity], msgspec.Meta(min_length=1)] | None,
        msgspec.Meta(description="absent: every severity")] = None
    event_types: Annotated[
        Annotated[list[EventType], msgspec.Meta(min_length=1)] | None,
        msgspec.Meta(description="absent: " + ", ".join(DEFAULT_EVENT_TYPES))] = None
    secret: Annotated[
        Annotated[str, msgspec.Meta(pattern=r"^whsec_[A-Za-z0-9+/]+={0,2}$",
                                    max_length=256)] | None,
        msgspec.Meta(description="Standard Webhooks secret, whsec_ and the base64 of 24 to "
                                 "64 bytes: the key of webhook-signature; absent: one is "
                                 "made and returned once")] = None

    def __post_init__(self) -> None:
        check_url(self.url)  # a ValueError here is a ValidationError naming the field
        if self.secret is not None and not 24 <= len(_key(self.secret)) <= 64:
            raise ValueError("secret must be whsec_ and the base64 of 24 to 64 bytes")


class Subscription(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    url: str
    facility: str | None = None
    severities: tuple[str, ...] | None = None
    event_types: tuple[str, ...] = DEFAULT_EVENT_TYPES
    secret: str
    created_ms: int
    created_by: str

    def public(self) -> dict:
        """What an operator reads back: everything but the secret."""
        shown = msgspec.to_builtins(self)
        del shown["secret"]
        return shown


class AlertFacts(msgspec.Struct, frozen=True):
    """What the notifier remembers of an active alert, for the events that do not say
    it themselves (an escalation has no value, a clear no severity or baseline)."""

    severity: str
    value: float | None
    baseline: float | None


def facts_after(event: Envelope, known: AlertFacts | None) -> AlertFacts | None:
    """The alert's facts once `event` has happened (None once it is cleared)."""
    body = event.body
    match event.type:
        case "alert.raised":
            return AlertFacts(body.severity, body.value, body.baseline)
        case "alert.updated":
            return AlertFacts(body.severity, body.value, known.baseline if known else None)
        case "alert.escalated":
            return AlertFacts(body.severity, known.value if known else None,
                              known.baseline if known else None)
        case "alert.cleared":
            return None
    return known


def matches(sub: Subscription, event_type: str, facility: str, severity: str | None) -> bool:
    """A severity filter lets through an event whose alert's severity is unknown (a
    clear of an alert raised before the notifier started): better one clear too many
    than a missed one."""
    if event_type not in sub.event_types:
        return False
    if sub.facility is not None and sub.facility != facility:
        return False
    return sub.severities is None or severity is None or severity in sub.severities


def summary(event: Envelope, facts: AlertFacts | None) -> dict:
    """The few facts a person needs, from the event and what is known of its alert."""
    body = event.body
    severity = getattr(body, "severity", None) or (facts.severity if facts else None)
    observed = getattr(body, "value", facts.value if facts else None)
    baseline = getattr(body, "baseline", facts.baseline if facts else None)
    what = event.type.removeprefix("alert.")
    text = f"{event.facility}/{body.sensor}: {body.kind} alert {what}"
    if severity:
        text += f" ({severity})"
    if observed is not None:
        text += f", observed {observed:.4g}"
        if baseline is not None:
            text += f" vs baseline {baseline:.4g}"
    return {"facility": event.facility, "sensor": body.sensor, "kind": body.kind,
            "alert_id": body.alert_id, "severity": severity, "observed": observed,
            "baseline": baseline, "text": text}


class _Payload(msgspec.Struct):
    event_type: str
    event_id: str
    seq: int
    summary: dict
    record: msgspec.Raw


_encoder = msgspec.json.Encoder()


def payload(seq: int, record: bytes, event: Envelope, facts: AlertFacts | None) -> bytes:
    """The POSTed body: the ledger record, byte for byte, and a summary. The same for
    every attempt (its signature is not: it covers the attempt's timestamp)."""
    return _encoder.encode(_Payload(event.type, event.id, seq, summary(event, facts),
                                    msgspec.Raw(record)))


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    """The HMAC key of a secret: the bytes a `whsec_` secret's base64 stands for (a
    secret stored before that format is its own UTF-8 bytes)."""
    if not secret.startswith(SECRET_PREFIX):
        return secret.encode()
    try:
        return base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
    except binascii.Error:
        raise ValueError("secret is not whsec_ and base64") from None


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<signature>`: HMAC-SHA256 over "msg_id.timestamp.body", in base64."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(_key(secret), signed, hashlib.sha256).digest()
                                    ).decode()


def signature_headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict:
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, msg_id, timestamp, body)}


def verify_signature(secret: str, headers, body: bytes, now_s: float,
                     tolerance_s: int = 300) -> bool:
    """What a receiver does: the signature matches, and the timestamp is within
    `tolerance_s` of its clock (an older delivery sent again is refused)."""
    try:
        msg_id, stamp = headers["webhook-id"], int(headers["webhook-timestamp"])
    except (KeyError, ValueError):
        return False
    if abs(now_s - stamp) > tolerance_s:
        return False
    expected = sign(secret, msg_id, stamp, body).encode()
    return any(hmac.compare_digest(expected, given.encode())
               for given in headers.get("webhook-signature", "").split())


class RetryPolicy(msgspec.Struct, frozen=True):
    """Exponential backoff with jitter: before attempt n+1 wait base·2^(n-1), at most
    `cap_s`, times a factor in [0.75, 1.25) drawn from (key, n), so the schedule is
    the same on every run and endpoints failing together do not retry in step.
    The defaults spread 8 attempts over about an hour (30 s … 32 min)."""

    base_s: float = 30.0
    cap_s: float = 3600.0
    max_attempts: int = 8

    def delay(self, attempt: int, key: str) -> float:
        if attempt < 1:
            raise ValueError(f"attempt counts from 1, got {attempt}")
        raw = min(self.cap_s, self.base_s * 2 ** (attempt - 1))
        return raw * (0.75 + 0.5 * random.Random(f"{key}/{attempt}").random())


def verdict(status: int | None) -> Literal["delivered", "retry", "failed"]:
    """2xx is delivered. No answer, 408, 429 and 5xx may pass: retry. Any other 4xx
    says the request itself is refused; sending it again would not help."""
    if status is not None and 200 <= status < 300:
        return "delivered"
    if status is None or status in (408, 429) or status >= 500:
        return "retry"
    return "failed"


class Pending(msgspec.Struct, frozen=True, kw_only=True):
    """A delivery not yet finished, as the notifier keeps it in WEBHOOK_QUEUE."""

    subscription: str
    event_id: str
    event_seq: int
    event_type: str
    body: str
    attempts: int = 0  # made so far
    due_ms: int

    @property
    def key(self) -> str:
        return f"{self.subscription}.{self.event_id}"


class DeliveryAttempt(msgspec.Struct, frozen=True, kw_only=True):
    """One line of a subscription's delivery log."""

    subscription: str
    event_seq: int
    event_id: str
    event_type: str
    attempt: int
    time_ms: int
    status: int | None  # the HTTP status, None if there was no answer
    outcome: Literal["delivered", "retry", "failed"]
    next_retry_ms: int | None
    result: str = ""  # one of OUTCOMES: what happened, never the remote's text or body
