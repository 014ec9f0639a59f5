"""Delivering one webhook event: POST it, record the attempt in the delivery log
(DELIVERIES), and retry it later or let it leave the queue.

`Delivering` is the half of `Notifier` (projections/outbound/notifier.py) that does this; the
notifier holds the state it works on (subscriptions, the queue, the retry policy).
"""

from __future__ import annotations

import asyncio

import msgspec

from plumeline.projections.outbound.webhook_targets import post_signed
from plumeline.projections.webhooks import DeliveryAttempt, Pending, Subscription, verdict

__all__ = ["Delivering", "log_subject"]

_encode = msgspec.json.encode


def log_subject(subscription: str) -> str:
    """The DELIVERIES subject of a subscription's delivery log."""
    return f"webhooks.deliveries.{subscription}"


class Delivering:
    """Each delivery waits and retries in its own task, at most `per_endpoint` of one
    subscription's in flight at once."""

    def _spawn(self, p: Pending) -> None:
        task = asyncio.create_task(self._deliver(p))
        self._running[p.key] = task
        task.add_done_callback(lambda t, key=p.key: self._running.pop(key, None)
                               if self._running.get(key) is t else None)

    async def _deliver(self, p: Pending) -> None:
        log = self.log.bind(subscription=p.subscription, event_seq=p.event_seq,
                            event_id=p.event_id)
        pending: Pending | None = p
        while pending is not None:
            await asyncio.sleep(max(0.0, pending.due_ms / 1000 - self.clock()))
            try:
                pending = await self._attempt(pending, log)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # NATS out of reach: make this attempt again
                log.warning("delivery_not_recorded", error=repr(exc))
                await asyncio.sleep(1.0)

    async def _attempt(self, p: Pending, log) -> Pending | None:
        """POST once and record it; the delivery as it stands now, or None if finished."""
        sub = self.subs.get(p.subscription)
        if sub is None:  # unsubscribed meanwhile
            self.counts["dropped"] += 1
            await self.queue.delete(p.key)
            return None
        async with self._slots.setdefault(sub.id, asyncio.Semaphore(self.per_endpoint)):
            status, result = await self._post(sub, p)
        attempt = p.attempts + 1
        outcome = verdict(status)
        if outcome == "retry" and attempt >= self.retry.max_attempts:
            outcome = "failed"
        now = int(self.clock() * 1000)
        due = now + int(self.retry.delay(attempt, p.key) * 1000) if outcome == "retry" else None
        await self.js.publish(log_subject(sub.id), _encode(DeliveryAttempt(
            subscription=sub.id, event_seq=p.event_seq, event_id=p.event_id,
            event_type=p.event_type, attempt=attempt, time_ms=now, status=status,
            outcome=outcome, next_retry_ms=due, result=result)))
        if outcome == "retry":
            p = msgspec.structs.replace(p, attempts=attempt, due_ms=due)
            await self.queue.put(p.key, _encode(p))
            self.counts["retried"] += 1
            log.warning("delivery_retrying", attempt=attempt, status=status, result=result,
                        next_retry_ms=due)
            return p
        await self.queue.delete(p.key)
        self.counts[outcome] += 1
        if outcome == "delivered":
            log.info("delivery_delivered", attempt=attempt, status=status)
        else:
            log.warning("delivery_failed", attempt=attempt, status=status, result=result)
        return None

    async def _post(self, sub: Subscription, p: Pending) -> tuple[int | None, str]:
        headers = {
            "Idempotency-Key": p.event_id,
            "X-Plumeline-Event": p.event_type,
            "X-Plumeline-Subscription": sub.id,
            "X-Plumeline-Attempt": str(p.attempts + 1),
        }
        return await post_signed(self.http, sub.url, sub.secret, p.event_id, p.body.encode(),
                                 headers, int(self.clock()), self.deadline_s,
                                 self.log.bind(subscription=sub.id))
