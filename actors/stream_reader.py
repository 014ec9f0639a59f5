"""Reading a known range of a JetStream stream, in order."""

from __future__ import annotations

from nats.js import api

__all__ = ["read_stream"]


async def read_stream(js, stream: str, subject: str, first: int, last: int, batch: int = 1000):
    """Yield the messages of `stream` with sequence first..last, in order."""
    if last < first:
        return
    sub = await js.pull_subscribe(
        subject, stream=stream,
        config=api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=first,
            ack_policy=api.AckPolicy.NONE, inactive_threshold=30.0,
        ),
    )
    try:
        seq = first - 1
        while seq < last:
            for msg in await sub.fetch(min(batch, last - seq), timeout=10.0):
                seq = msg.metadata.sequence.stream
                if seq > last:
                    return
                yield msg
    finally:
        await sub.unsubscribe()
