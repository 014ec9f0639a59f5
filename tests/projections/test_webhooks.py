"""Webhook subscriptions, matching, payload, signature and retry schedule: pure."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import msgspec
import pytest

from plumeline.events import (
    AlertCleared,
    AlertEscalated,
    AlertRaised,
    Causation,
    Envelope,
    Record,
    encode_record,
)
from plumeline.projections.webhooks import (
    DEFAULT_EVENT_TYPES,
    AlertFacts,
    RetryPolicy,
    Subscription,
    WebhookRequest,
    facts_after,
    matches,
    payload,
    sign,
    summary,
    verdict,
)


def sub(**kw) -> Subscription:
    return Subscription(id="wh_1", url="https://example.org/hook", secret="s" * 16,
                        created_ms=0, created_by="ada", **kw)


def envelope(body, seq=1) -> Envelope:
    return Envelope.wrap(body, time=1_000, causation=Causation("readings", seq, 0))


RAISED = AlertRaised(facility="ccs-07", alert_id="a1", sensor="solvent_temp", kind="spike",
                     severity="major", value=93.5, baseline=71.25, score=6.0, model="robust",
                     message="")
ESCALATED = AlertEscalated(facility="ccs-07", alert_id="a1", sensor="solvent_temp",
                           kind="spike", severity="critical", previous="major",
                           unacknowledged_ms=900_000)
CLEARED = AlertCleared(facility="ccs-07", alert_id="a1", sensor="solvent_temp", kind="spike",
                       value=70.0)


def test_by_default_a_subscription_hears_raises_escalations_and_clears_everywhere():
    s = sub()
    assert s.event_types == DEFAULT_EVENT_TYPES
    for kind in DEFAULT_EVENT_TYPES:
        assert matches(s, kind, "any-facility", "warning")
    assert not matches(s, "alert.updated", "ccs-07", "major")
    assert not matches(s, "alert.acknowledged", "ccs-07", "major")


def test_filters_on_facility_severity_and_event_type():
    s = sub(facility="ccs-07", severities=("major", "critical"), event_types=("alert.raised",))
    assert matches(s, "alert.raised", "ccs-07", "critical")
    assert not matches(s, "alert.raised", "ccs-08", "critical")
    assert not matches(s, "alert.raised", "ccs-07", "minor")
    assert not matches(s, "alert.cleared", "ccs-07", "critical")


def test_an_alert_of_unknown_severity_passes_a_severity_filter():
    s = sub(severities=("critical",), event_types=("alert.cleared",))
    assert matches(s, "alert.cleared", "ccs-07", None)


@pytest.mark.parametrize(("url", "why"), [
    ("ftp://example.org/x", "http or https"),
    ("example.org/hook", "http or https"),
    ("http:///nohost", "no host"),
    ("https://example.org/a#frag", "fragment"),
    ("https://example.org:99999/", "bad port"),
    ("https://exa mple.org/", "whitespace"),
])
def test_a_bad_url_is_refused_with_the_reason(url, why):
    with pytest.raises(msgspec.ValidationError, match=why):
        msgspec.json.decode(json.dumps({"url": url}), type=WebhookRequest)


def test_a_request_names_a_bad_field():
    bad = [{"url": "https://x.org", "severities": ["severe"]},
           {"url": "https://x.org", "event_types": ["alert.deleted"]},
           {"url": "https://x.org", "secret": "short"},
           {"url": "https://x.org", "facility": "no spaces"},
           {"url": "https://x.org", "colour": "red"}]
    for body in bad:
        with pytest.raises(msgspec.ValidationError):
            msgspec.json.decode(json.dumps(body), type=WebhookRequest)
    ok = msgspec.json.decode(b'{"url": "http://10.0.0.5:8080/hook"}', type=WebhookRequest)
    assert ok.severities is None and ok.event_types is None


def test_what_is_remembered_of_an_alert_fills_escalations_and_clears():
    raised = facts_after(envelope(RAISED), None)
    assert raised == AlertFacts("major", 93.5, 71.25)
    escalated = facts_after(envelope(ESCALATED), raised)
    assert escalated == AlertFacts("critical", 93.5, 71.25)
    assert facts_after(envelope(CLEARED), escalated) is None
    assert summary(envelope(ESCALATED), escalated)["observed"] == 93.5
    cleared = summary(envelope(CLEARED), escalated)
    assert cleared["severity"] == "critical" and cleared["observed"] == 70.0
    assert cleared["baseline"] == 71.25
    assert summary(envelope(CLEARED), None)["severity"] is None


def test_the_payload_carries_the_record_byte_for_byte_and_a_summary():
    ev = envelope(RAISED)
    record = encode_record(Record(seq=42, prev="0" * 64, event=ev))
    body = payload(42, record, ev, facts_after(ev, None))
    got = json.loads(body)
    assert got["event_type"] == "alert.raised" and got["event_id"] == ev.id and got["seq"] == 42
    assert record.decode() in body.decode()  # the exact ledger bytes, verifiable
    assert got["summary"] == {
        "facility": "ccs-07", "sensor": "solvent_temp", "kind": "spike", "alert_id": "a1",
        "severity": "major", "observed": 93.5, "baseline": 71.25,
        "text": "ccs-07/solvent_temp: spike alert raised (major), observed 93.5 vs baseline 71.25",
    }


def test_the_signature_is_standard_webhooks_v1():
    # the example of the Standard Webhooks specification, signed alike
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    assert sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == \
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, b"msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330." + body, hashlib.sha256)
    assert sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == \
        "v1," + base64.b64encode(mac.digest()).decode()


def test_the_retry_schedule_doubles_with_bounded_jitter_and_repeats():
    policy = RetryPolicy(base_s=30.0, cap_s=3600.0, max_attempts=8)
    delays = [policy.delay(n, "wh_1.e1") for n in range(1, 8)]
    for n, d in enumerate(delays, 1):
        assert 0.75 * 30 * 2 ** (n - 1) <= d < 1.25 * 30 * 2 ** (n - 1)
    assert delays == [policy.delay(n, "wh_1.e1") for n in range(1, 8)]
    assert delays != [policy.delay(n, "wh_2.e1") for n in range(1, 8)]
    assert 40 * 60 < sum(delays) < 90 * 60  # eight attempts over about an hour
    assert RetryPolicy(base_s=30.0, cap_s=60.0).delay(7, "k") < 75.0
    with pytest.raises(ValueError):
        policy.delay(0, "k")


@pytest.mark.parametrize(("status", "outcome"), [
    (200, "delivered"), (204, "delivered"), (None, "retry"), (500, "retry"), (503, "retry"),
    (429, "retry"), (408, "retry"), (400, "failed"), (404, "failed"), (410, "failed"),
    (301, "failed"),
])
def test_which_answers_are_retried(status, outcome):
    assert verdict(status) == outcome


def test_what_an_operator_reads_back_has_no_secret():
    shown = sub().public()
    assert "secret" not in shown and shown["url"] == "https://example.org/hook"
