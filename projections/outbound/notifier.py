"""Notifier: follows LEDGER and POSTs alert events to the webhooks that ask for them.

At least once. A ledger record is acknowledged only when each delivery it calls for
is written to the KV bucket WEBHOOK_QUEUE; a delivery leaves the queue when it is
delivered, refused, or out of attempts, and every attempt is appended to the
DELIVERIES stream, the log operators read. A restarted notifier resumes its durable
consumer and the queue. Receivers drop doubles by `webhook-id` (and `Idempotency-Key`,
both the event id) and replays by the signed `webhook-timestamp` (Standard Webhooks).

Targets are public addresses only (projections/outbound/webhook_targets.py), checked when a
subscription is made and at every connection; each attempt has a total deadline; the
delivery log keeps the outcome's class, never what the remote said.

Each delivery waits and retries in its own task, and at most `per_endpoint` of one
subscription's are in flight at once, so a slow or failing endpoint holds up only its
own deliveries (projections/outbound/delivery.py). A plain async class; infra/runtime/system.py
places it as a Ray actor.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import secrets
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx
import msgspec
import nats
import structlog
from nats.js import api

from plumeline.events import decode_record
from plumeline.events.bus import connect_options
from plumeline.projections.deadletter import dead_letter, transient
from plumeline.projections.outbound.delivery import Delivering, log_subject
from plumeline.projections.outbound.webhook_targets import (
    PinnedTransport,
    Resolver,
    checked_addresses,
    system_resolver,
)
from plumeline.projections.webhooks import (
    DEFAULT_EVENT_TYPES,
    AlertFacts,
    DeliveryAttempt,
    Pending,
    RetryPolicy,
    Subscription,
    WebhookRequest,
    facts_after,
    matches,
    new_secret,
    payload,
)

__all__ = ["Notifier"]

LEDGER_STREAM = "LEDGER"
RECORDS_SUBJECT = "ledger.records"
DELIVERIES_STREAM = "DELIVERIES"
DURABLE = "notifier"
# how an alert event's tag appears in a record's canonical JSON (docs/ledger.md)
_ALERT_TAG = b'"type":"alert.'
_encode = msgspec.json.encode


def _alert_key(alert_id: str) -> str:
    """A KV key for any alert id (ours are hex; a key may not hold every character)."""
    if re.fullmatch(r"[-_A-Za-z0-9]{1,200}", alert_id):
        return alert_id
    return "sha256-" + hashlib.sha256(alert_id.encode()).hexdigest()


class Notifier(Delivering):
    def __init__(
        self,
        nats_url: str,
        *,
        retry: RetryPolicy | None = None,
        timeout_s: float = 10.0,
        per_endpoint: int = 4,
        batch: int = 500,
        idle_s: float = 0.5,
        clock: Callable[[], float] = time.time,
        deadline_s: float = 30.0,
        allow_private: bool = False,
        resolver: Resolver = system_resolver,
    ) -> None:
        """`timeout_s` bounds each connect and read, `deadline_s` a whole attempt
        (a receiver trickling its answer a byte at a time meets it). `allow_private`
        lets webhooks reach loopback and private networks: for a lab, never a plant."""
        self.nats_url = nats_url
        self.retry = retry or RetryPolicy()
        self.timeout_s = timeout_s
        self.deadline_s = deadline_s
        self.allow_private = allow_private
        self.resolver = resolver
        self.per_endpoint = per_endpoint
        self.batch = batch
        self.idle_s = idle_s
        self.clock = clock
        self.log = structlog.get_logger("plumeline.notifier")
        self.subs: dict[str, Subscription] = {}
        self.alerts: dict[str, AlertFacts] = {}
        self.counts = {"delivered": 0, "retried": 0, "failed": 0, "dropped": 0,
                       "dead_lettered": 0}
        self._running: dict[str, asyncio.Task] = {}
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._follow_task: asyncio.Task | None = None
        self._stopping = False
        self._ready = False  # subscriptions loaded: the HTTP layer may ask
        self._nc = None
        self.http: httpx.AsyncClient | None = None

    async def start(self) -> int:
        """Connect, load subscriptions and the queue, follow LEDGER; returns how many
        unfinished deliveries were resumed."""
        self._stopping = False
        self._ready = False
        self._nc = await nats.connect(**connect_options(self.nats_url), name="notifier",
                                      max_reconnect_attempts=-1)
        self.js = self._nc.jetstream()
        self.subs_kv = await self.js.key_value("WEBHOOKS")
        self.queue = await self.js.key_value("WEBHOOK_QUEUE")
        self.alerts_kv = await self.js.key_value("WEBHOOK_ALERTS")
        self.subs = await self._load("WEBHOOKS", Subscription)
        self.alerts = await self._load("WEBHOOK_ALERTS", AlertFacts)
        self.http = httpx.AsyncClient(
            timeout=self.timeout_s, follow_redirects=False,
            transport=PinnedTransport(self.resolver, self.allow_private),
            headers={"User-Agent": "Plumeline-Webhooks/1"})
        pending = await self._load("WEBHOOK_QUEUE", Pending)
        for p in pending.values():
            self._spawn(p)
        # made before start() returns: what is appended once the notifier has started
        # is never missed, even on the consumer's first day
        sub = await self._consumer()
        self._follow_task = asyncio.create_task(self._follow(sub))
        self._ready = True
        self.log.info("notifier_started", subscriptions=len(self.subs), resumed=len(pending))
        return len(pending)

    async def stop(self) -> None:
        """Unfinished deliveries stay in the queue for the next start. The ledger
        follower finishes the batch in hand first: a record whose deliveries are
        queued but which is not yet acknowledged would come back to the next start,
        and be delivered twice."""
        self._stopping = True
        if self._follow_task is not None:
            with contextlib.suppress(TimeoutError):  # wait_for cancels it then
                await asyncio.wait_for(self._follow_task, self.idle_s + 10.0)
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.http is not None:
            await self.http.aclose()
        if self._nc is not None:
            await self._nc.close()
        self.log.info("notifier_stopped", unfinished=len(tasks), **self.counts)

    async def _load(self, bucket: str, schema) -> dict:
        """The bucket's live entries, decoded. They are read as the stream's last
        message per subject with a count taken first, not with `kv.keys()`: that ends
        when its watcher believes the replay done, which under load can be before
        every key has come (nats-io/nats.py#842), and a restart then found no queued
        delivery to resume and dropped a retry."""
        found = {}
        for key, value in (await self._entries(bucket)).items():
            try:
                found[key] = msgspec.json.decode(value, type=schema)
            except msgspec.DecodeError as exc:
                self.log.error("kv_value_unreadable", bucket=bucket, key=key, error=str(exc))
        return found

    async def _entries(self, bucket: str) -> dict[str, bytes]:
        prefix = f"$KV.{bucket}."
        found: dict[str, bytes] = {}
        for m in await self._read_all(f"KV_{bucket}", prefix + ">",
                                      api.DeliverPolicy.LAST_PER_SUBJECT):
            key = m.subject[len(prefix):]
            if (m.headers or {}).get("KV-Operation") in ("DEL", "PURGE"):
                found.pop(key, None)
            else:
                found[key] = m.data
        return found

    async def _read_all(self, stream: str, subject: str, policy: api.DeliverPolicy) -> list:
        """The messages an ephemeral consumer with deliver `policy` counts as pending
        when it is made, read to that count (no watcher guessing when it is done)."""
        sub = await self.js.pull_subscribe(
            subject, stream=stream,
            config=api.ConsumerConfig(deliver_policy=policy, ack_policy=api.AckPolicy.NONE,
                                      inactive_threshold=30.0))
        msgs: list = []
        try:
            left = (await sub.consumer_info()).num_pending
            while left > 0:
                got = await sub.fetch(min(left, 256), timeout=5.0)
                left -= len(got)
                msgs += got
        finally:
            await sub.unsubscribe()
        return msgs

    # -- subscriptions, as the HTTP layer asks for them --------------------------------

    async def subscribe(self, request: WebhookRequest, user: str) -> dict:
        """Store a subscription; the answer is the only one that shows its secret.
        Raises TargetRefused (a ValueError) for a target inside our networks."""
        self._check_ready()
        parts = urlsplit(request.url)
        await checked_addresses(parts.hostname, parts.port or (443 if parts.scheme == "https"
                                                               else 80),
                                self.resolver, self.allow_private)
        sub = Subscription(
            id=f"wh_{secrets.token_hex(8)}", url=request.url, facility=request.facility,
            severities=tuple(request.severities) if request.severities else None,
            event_types=tuple(request.event_types or DEFAULT_EVENT_TYPES),
            secret=request.secret or new_secret(),
            created_ms=int(self.clock() * 1000), created_by=user,
        )
        await self.subs_kv.put(sub.id, _encode(sub))
        self.subs[sub.id] = sub
        self.log.info("webhook_subscribed", subscription=sub.id, url=sub.url, user=user)
        return {**sub.public(), "secret": sub.secret}

    async def subscriptions(self) -> list[dict]:
        self._check_ready()
        return [s.public() for s in sorted(self.subs.values(), key=lambda s: s.created_ms)]

    async def subscription(self, subscription: str) -> dict | None:
        self._check_ready()
        sub = self.subs.get(subscription)
        return sub.public() if sub else None

    async def unsubscribe(self, subscription: str) -> bool:
        """Forget the subscription, its unfinished deliveries and its log."""
        self._check_ready()
        if subscription not in self.subs:
            return False
        await self.subs_kv.delete(subscription)
        del self.subs[subscription]
        for key, task in list(self._running.items()):
            if key.startswith(subscription + "."):
                task.cancel()
                await self.queue.delete(key)
        await self.js.purge_stream(DELIVERIES_STREAM, subject=log_subject(subscription))
        self.log.info("webhook_unsubscribed", subscription=subscription)
        return True

    async def deliveries(self, subscription: str, limit: int = 100) -> list[dict] | None:
        """The subscription's delivery log, newest attempt first; None if unknown."""
        self._check_ready()
        if subscription not in self.subs:
            return None
        found = [msgspec.json.decode(m.data, type=DeliveryAttempt)
                 for m in await self._read_all(DELIVERIES_STREAM, log_subject(subscription),
                                               api.DeliverPolicy.ALL)]
        return [msgspec.to_builtins(a) for a in reversed(found[-limit:])]

    def _check_ready(self) -> None:
        if not self._ready:  # a restarted actor, loading; the HTTP layer answers 503
            raise ConnectionError("the notifier is starting; try again in a moment")

    async def stats(self) -> dict:
        return {"subscriptions": len(self.subs), "pending": len(self._running), **self.counts}

    # -- following the ledger ----------------------------------------------------------

    async def _consumer(self):
        """A new durable starts at the ledger's end (the first start does not announce
        the alerts of the past); a restart resumes where it was."""
        return await self.js.pull_subscribe(
            RECORDS_SUBJECT, durable=DURABLE, stream=LEDGER_STREAM,
            config=api.ConsumerConfig(
                deliver_policy=api.DeliverPolicy.NEW, ack_policy=api.AckPolicy.EXPLICIT,
                ack_wait=30.0, max_ack_pending=1000))

    async def _follow(self, sub) -> None:
        while not self._stopping:
            try:
                if sub is None:
                    sub = await self._consumer()
                try:
                    msgs = await sub.fetch(self.batch, timeout=self.idle_s)
                except TimeoutError:
                    continue
                for msg in msgs:
                    seq = msg.metadata.sequence.stream
                    try:
                        await self._handle(seq, msg.data)
                    except Exception as exc:  # NATS away: retried; the record's fault: skipped
                        if transient(exc):
                            raise
                        await self._deadletter(seq, msg.data,
                                               f"cannot notify: {type(exc).__name__}: {exc}")
                    await msg.ack()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # unacknowledged records come back after ack_wait
                self.log.warning("notifier_follow_failed", error=repr(exc))
                if sub is not None:
                    await asyncio.gather(sub.unsubscribe(), return_exceptions=True)
                sub = None
                await asyncio.sleep(1.0)

    async def _handle(self, seq: int, data: bytes) -> None:
        if _ALERT_TAG not in data:  # most of the ledger: not worth decoding here
            return
        try:
            record = decode_record(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            await self._deadletter(seq, data, f"ledger record unreadable: {exc}")
            return
        event = record.event
        if not event.type.startswith("alert."):
            return
        alert = _alert_key(event.body.alert_id)
        known = self.alerts.get(alert)
        facts = facts_after(event, known)
        shown = facts or known
        body = payload(seq, data, event, shown).decode()
        now = int(self.clock() * 1000)
        severity = shown.severity if shown else None
        scheduled = []
        for sub in list(self.subs.values()):
            if not matches(sub, event.type, event.facility, severity):
                continue
            p = Pending(subscription=sub.id, event_id=event.id, event_seq=seq,
                        event_type=event.type, body=body, due_ms=now)
            if p.key in self._running:  # a record delivered again after a restart
                continue
            await self.queue.put(p.key, _encode(p))
            scheduled.append(p)
        if facts != known:
            if facts is None:
                self.alerts.pop(alert, None)
                await self.alerts_kv.delete(alert)
            else:
                self.alerts[alert] = facts
                await self.alerts_kv.put(alert, _encode(facts))
        for p in scheduled:
            self.log.info("delivery_scheduled", subscription=p.subscription, event_seq=seq,
                          event_id=event.id, event_type=event.type)
            self._spawn(p)

    async def _deadletter(self, seq: int, data: bytes, reason: str) -> None:
        self.log.error("ledger_record_refused", seq=seq, reason=reason)
        await dead_letter(self.js, "notifier", RECORDS_SUBJECT, seq, data, reason)
        self.counts["dead_lettered"] += 1
