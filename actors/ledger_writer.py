"""LedgerWriter: the single writer of the LEDGER stream.

Every domain event passes through here: sealed into the hash chain and the RFC 6962
tree by `events.Ledger`, then published with `Nats-Expected-Last-Sequence`, so that
even a second writer by mistake could not fork the log, and `Nats-Msg-Id` = event id as
a second guard against doubles. Signed tree heads go to TREEHEADS.

If a publish fails the in-memory ledger may be ahead of the stream, so it is rebuilt
from the stream and the caller gets the error (and does not acknowledge its readings).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import msgspec
import nats
import structlog
from nats.js import api

from events import (
    Ledger,
    SigningKey,
    TreeHead,
    decode_envelopes,
)

__all__ = ["LedgerWriter", "read_stream"]

LEDGER_STREAM = "LEDGER"
RECORDS_SUBJECT = "ledger.records"
HEADS_SUBJECT = "ledger.heads"
ATOMIC_BATCH = 1000  # nats-server's limit on messages in one atomic batch


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


class LedgerWriter:
    def __init__(self, nats_url: str, key_path: str, *, head_interval_s: float = 1.0) -> None:
        self.nats_url = nats_url
        self.key_path = Path(key_path)
        self.head_interval_s = head_interval_s
        self.ledger = Ledger()
        self.signed: TreeHead | None = None
        self.log = structlog.get_logger("plumeline.ledger")
        self._lock = asyncio.Lock()
        self._heads_task: asyncio.Task | None = None
        self._nc = None
        self._ready = False  # recovered from LEDGER: appends may be sealed

    async def start(self) -> dict:
        self.key = SigningKey.load_or_create(self.key_path)
        self._nc = await nats.connect(self.nats_url, name="ledger", max_reconnect_attempts=-1)
        self.js = self._nc.jetstream()
        async with self._lock:
            await self._recover()
            self._ready = True
        self._heads_task = asyncio.create_task(self._publish_heads())
        return await self.head()

    async def stop(self) -> None:
        if self._heads_task:
            self._heads_task.cancel()
        async with self._lock:
            await self._sign_if_grown()
        if self._nc is not None:
            await self._nc.drain()

    async def _recover(self) -> None:
        info = await self.js.stream_info(LEDGER_STREAM)
        ledger = Ledger()
        async for msg in read_stream(self.js, LEDGER_STREAM, RECORDS_SUBJECT, 1,
                                     info.state.last_seq):
            ledger.restore(msg.data)
        self.ledger = ledger
        self.log.info("ledger_recovered", size=ledger.size, head=ledger.head)

    async def append(self, payload: bytes) -> int:
        """Append a batch of envelopes (events.encode_envelopes); returns the new size."""
        envelopes = decode_envelopes(payload)
        async with self._lock:
            if not self._ready:  # e.g. restarted by Ray and not yet recovered
                raise RuntimeError("ledger writer not started")
            sealed = self.ledger.seal(envelopes)
            if not sealed:
                return self.ledger.size
            try:
                for start in range(0, len(sealed), ATOMIC_BATCH):
                    await self._publish_atomic(sealed[start:start + ATOMIC_BATCH])
            except BaseException:
                self.log.error("ledger_append_failed", size=self.ledger.size)
                await self._recover()
                raise
            return self.ledger.size

    async def _publish_atomic(self, records: list) -> None:
        """One JetStream atomic batch: stored all together or not at all, and only if
        the stream ends where this ledger thinks it does (expected last sequence on
        the first message). Only the commit is acknowledged, which is what makes
        appends cheap: one round trip per batch, not per record."""
        batch = f"{records[0].seq}-{records[-1].seq}-{self.ledger.head[:16]}"
        last = len(records)
        for i, r in enumerate(records, 1):
            headers = {"Nats-Batch-Id": batch, "Nats-Batch-Sequence": str(i)}
            if i == 1:
                headers["Nats-Expected-Last-Sequence"] = str(r.seq - 1)
            if i < last:
                await self._nc.publish(RECORDS_SUBJECT, r.data, headers=headers)
        headers["Nats-Batch-Commit"] = "1"
        reply = await self._nc.request(RECORDS_SUBJECT, records[-1].data, timeout=10.0,
                                       headers=headers)
        ack = msgspec.json.decode(reply.data)
        if "error" in ack or ack.get("seq") != records[-1].seq:
            raise RuntimeError(f"LEDGER refused records {records[0].seq}..{records[-1].seq}: "
                               f"{ack.get('error', ack)}")

    async def _publish_heads(self) -> None:
        while True:
            await asyncio.sleep(self.head_interval_s)
            try:
                async with self._lock:
                    await self._sign_if_grown()
            except Exception as exc:
                self.log.warning("tree_head_failed", error=repr(exc))

    async def _sign_if_grown(self) -> TreeHead:
        size = self.ledger.size
        if self.signed is None or self.signed.size != size:
            head = self.key.sign_head(size, self.ledger.tree.root(size), int(time.time() * 1000))
            await self.js.publish(HEADS_SUBJECT, _encode_head(head))
            self.signed = head
        return self.signed

    async def head(self) -> dict:
        async with self._lock:
            head = await self._sign_if_grown()
        return {
            "tree_size": head.size,
            "root_hash": head.root,
            "timestamp": head.timestamp,
            "signature": head.signature,
            "public_key": self.key.public_key_hex,
            "chain_head": self.ledger.head,
        }

    def inclusion(self, seq: int, tree_size: int | None = None) -> dict:
        """RFC 6962 audit path of record `seq` (leaf index seq-1) in the tree of tree_size."""
        size = self.ledger.size if tree_size is None else tree_size
        if not 1 <= size <= self.ledger.size:
            raise ValueError(f"tree_size {size} outside 1..{self.ledger.size}")
        if not 1 <= seq <= size:
            raise ValueError(f"record {seq} is not in the tree of size {size}")
        tree = self.ledger.tree
        return {
            "seq": seq,
            "leaf_index": seq - 1,
            "tree_size": size,
            "leaf_hash": tree.leaf(seq - 1).hex(),
            "audit_path": [h.hex() for h in tree.inclusion_proof(seq - 1, size)],
            "root_hash": tree.root(size).hex(),
        }

    def consistency(self, first: int, second: int) -> dict:
        if not 1 <= first <= second <= self.ledger.size:
            raise ValueError(f"need 1 <= first <= second <= {self.ledger.size}")
        tree = self.ledger.tree
        return {
            "first": first,
            "second": second,
            "first_root": tree.root(first).hex(),
            "second_root": tree.root(second).hex(),
            "proof": [h.hex() for h in tree.consistency_proof(first, second)],
        }

    def size(self) -> int:
        return self.ledger.size


def _encode_head(head: TreeHead) -> bytes:
    return msgspec.json.encode(head)
