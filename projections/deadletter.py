"""A message a follower cannot apply: to DEADLETTER with its reason, and skipped.

One bad message must never stop a view: the projections' followers, the notifier and
the stream feed each dead-letter what they cannot apply, count it, and move on. What
fails because NATS or ClickHouse is away is not the message's fault; `transient`
tells the two apart, and such a failure is retried from the checkpoint instead.
"""

from __future__ import annotations

import nats.errors

from plumeline.events.aio import dead_letter as _publish

__all__ = ["dead_letter", "transient"]


def transient(exc: BaseException) -> bool:
    """A failure of the connection or the store, which a retry may cure."""
    return isinstance(exc, nats.errors.Error | ConnectionError | TimeoutError | OSError)


async def dead_letter(js, follower: str, source_subject: str, seq: int, data: bytes,
                      reason: str) -> None:
    """Publish the message to `deadletter.<follower>` as the shard hosts do theirs:
    the bytes as they came, the reason and the source in headers. Its message id
    makes a second dead-lettering of the same message (after a restart) a no-op."""
    await _publish(js, f"deadletter.{follower}", data, reason=reason,
                   source_subject=source_subject, seq=seq,
                   msg_id=f"deadletter:{follower}:{seq}")
