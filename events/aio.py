"""Asyncio help that the actors and the projections both need (they may import only
`events`): stopping tasks, and dead-lettering a message."""

from __future__ import annotations

import asyncio

__all__ = ["cancel_and_wait", "dead_letter"]


async def cancel_and_wait(tasks: list[asyncio.Task]) -> None:
    """Cancel the tasks and wait until they have ended. Python 3.11's `asyncio.wait_for`
    drops a cancellation that comes as the awaited result does (CPython gh-86296, fixed
    in 3.12), and nats-py waits for every fetched message in a wait_for: a fetch loop
    cancelled at that moment fetches on, and would keep a stop waiting for ever. So a
    task still running half a second later is cancelled again."""
    pending = set(tasks)
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.5)
    await asyncio.gather(*tasks, return_exceptions=True)


async def dead_letter(js, subject: str, data: bytes, *, reason: str, source_subject: str,
                      seq: int, msg_id: str) -> None:
    """Publish a refused message to DEADLETTER's `subject`: the bytes, the reason and
    where it came from in headers (what docs/security.md and the tests read). Its
    message id makes a second dead-lettering of the same message a no-op."""
    await js.publish(subject, data, headers={
        "Plumeline-Reason": reason[:1000],
        "Plumeline-Source-Subject": source_subject,
        "Plumeline-Source-Seq": str(seq),
        "Nats-Msg-Id": msg_id,
    })
