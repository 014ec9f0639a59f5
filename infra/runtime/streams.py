"""Reading READINGS and LEDGER from the start, for the audit commands.

`read_stream` (actors) reads a known range of sequences; an auditor filtering READINGS
on one facility does not know where its last message is, so `messages` stops when
the server says nothing is pending for the filter instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass

from nats.js import api

from plumeline.events import Record, decode_record
from plumeline.infra.runtime.nats import LEDGER, READINGS

__all__ = ["StoredMessage", "ledger_records", "messages"]


@dataclass(frozen=True, slots=True)
class StoredMessage:
    subject: str
    seq: int
    arrived: int  # the stream's timestamp, ms: what a shard host takes as arrival
    data: bytes


async def messages(js, subject: str | list[str], stream: str = READINGS,
                   batch: int = 1000) -> AsyncIterator[StoredMessage]:
    """Every message of `stream` on `subject` (wildcards allowed), or on any of a list
    of subjects, in stream order."""
    subjects = [subject] if isinstance(subject, str) else subject
    sub = await js.pull_subscribe(
        subjects[0], stream=stream,
        config=api.ConsumerConfig(deliver_policy=api.DeliverPolicy.ALL,
                                  ack_policy=api.AckPolicy.NONE, inactive_threshold=30.0,
                                  filter_subjects=subjects if len(subjects) > 1 else None),
    )
    try:
        info = await sub.consumer_info()
        pending = info.num_pending
        while pending > 0:
            for msg in await sub.fetch(min(batch, pending), timeout=10.0):
                md = msg.metadata
                pending = md.num_pending
                yield StoredMessage(msg.subject, md.sequence.stream,
                                    int(md.timestamp.timestamp() * 1000), msg.data)
    finally:
        await sub.unsubscribe()


async def ledger_records(js) -> AsyncIterator[tuple[bytes, Record]]:
    """(record bytes, record) of the whole ledger, in seq order."""
    async with aclosing(messages(js, "ledger.records", stream=LEDGER)) as stored:
        async for m in stored:
            yield m.data, decode_record(m.data)
