"""LedgerWriter: the single writer of the LEDGER stream.

Every domain event passes through here: sealed into the hash chain and the RFC 6962
tree by `events.Ledger`, then published one record per message, stream seq = ledger
seq. Signed tree heads go to TREEHEADS.

Each batch of up to 1,000 records is one JetStream atomic batch: stored all together
or not at all, and only if the stream ends where this ledger thinks it does
(`Nats-Expected-Last-Sequence` on its first message), so even a second writer by
mistake could not fork the log. Doubles are kept out before that, by `Ledger.seal`:
it drops an event at or below the last sealed position of its (stream, facility), and
since the expected last sequence makes the stream exactly what this ledger sealed,
that filter covers the whole log. So the records carry no `Nats-Msg-Id`: its
duplicate window (120 s) would guard less, and cost the server a lookup per message.

What keeps the rate up (~10 µs a record is the budget at 100,000 appends/s):
- A batch's records are sealed as bytes only (`Ledger.seal_records`): written around
  one canonical encoding of all its envelopes, no object made per record.
- The frames of a batch are built in one go (actors/batching.py).
- Appends are committed in groups. A file stream stores an atomic batch with an fsync
  (~4.5 ms here, whether it holds 3 records or 48; 10–30 ms with the whole system
  running), so sixteen shard lanes appending a few events each at the moment of an
  anomaly would queue sixteen fsyncs, each caller waiting for all before its own.
  Instead the appends that arrive while a commit is pending wait for it and then go
  together, in order of arrival, as one atomic batch of up to 1,000 records, each
  caller told where its own events end (the bench's "burst" figure,
  docs/benchmarks.md). Once the waiting appends fill an atomic batch, waiting longer
  would group nothing more, so they go at once, pipelined behind the pending commit:
  the writer seals the next batch while the server stores the one before (four
  callers of 1,000-event appends: 62,749–66,292 appends/s when every group waited,
  73,383–76,004 since).
- A group larger than one atomic batch is pipelined: the ack of a batch is awaited
  outside the lock, so the next is sent while the server stores the previous one (the
  server on one core, this writer on the other). The single writer knows where each
  batch ends, so batch n+1 carries its expected last sequence before batch n is
  acknowledged. Safe because the server applies a connection's batches in order and
  checks each one's expected last sequence when it commits: if batch n is refused, n+1
  is refused too, as the stream does not end where n+1 expects. Batch n+1's outcome
  also waits for n's (`_confirm`), so a failure of n fails n+1 even where the server
  could not tell (n stored but its ack lost): no caller is told its events are stored
  unless every earlier batch is. A tree head is signed only when nothing is in flight
  (`_settle`), so no signed head ever covers a record that is not in the stream.

If a publish fails the in-memory ledger may be ahead of the stream, so once every
batch in flight has settled it is rebuilt from the stream, before anything else is
sealed, and the callers get the error (and do not acknowledge their readings).

Shard hosts append by NATS request (`LedgerClient`, actors/ledger_client.py).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import msgspec
import nats
import structlog

from plumeline.actors.batching import ATOMIC_BATCH, queue_records, take, tell
from plumeline.actors.ledger_client import (
    APPEND_SUBJECT,
    ERROR_HEADER,
    STARTED_SUBJECT,
    LedgerAppendError,
    LedgerClient,
)
from plumeline.actors.ledger_proofs import consistency, inclusion
from plumeline.actors.stream_reader import read_stream
from plumeline.events import (
    Ledger,
    SigningKey,
    TreeHead,
    decode_envelopes,
)
from plumeline.events.bus import connect_options

# LedgerClient, LedgerAppendError and read_stream: still importable from their first home
__all__ = ["LedgerAppendError", "LedgerClient", "LedgerWriter", "read_stream"]

LEDGER_STREAM = "LEDGER"
RECORDS_SUBJECT = "ledger.records"
HEADS_SUBJECT = "ledger.heads"
MAX_IN_FLIGHT = 8  # atomic batches sent and not yet acknowledged (the server allows 50)
# Commits pending before the next appends wait and go as one group (unless they fill
# an atomic batch already). Each commit costs the server an fsync (a file stream's
# atomic batch is stored with SyncAlways): ~4.5 ms here for 3 records or 48, so sixteen
# lanes appending a few events each would queue sixteen fsyncs where one does.
GROUP_IN_FLIGHT = 1
ACK_TIMEOUT_S = 10.0


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
        self._acks: dict[str, asyncio.Future] = {}  # reply subject -> the commit's answer
        self._inbox = ""
        self._sent = 0
        self._in_flight: list[asyncio.Task] = []  # the batches sent and not yet settled
        self._failed = False  # a batch failed: rebuild from the stream before sealing
        self._queued: list[tuple[list, asyncio.Future]] = []  # appends not yet sealed
        self._grouping: asyncio.Task | None = None  # seals and sends what is queued
        self._tasks: set[asyncio.Task] = set()  # the loop holds tasks only weakly
        self._appends = None  # the subscription to APPEND_SUBJECT

    async def start(self) -> dict:
        self.key = SigningKey.load_or_create(self.key_path)
        self._nc = await nats.connect(**connect_options(self.nats_url), name="ledger",
                                      max_reconnect_attempts=-1)
        self.js = self._nc.jetstream()
        self._inbox = self._nc.new_inbox()
        await self._nc.subscribe(f"{self._inbox}.*", cb=self._on_ack)
        async with self._lock:
            await self._recover()
            self._ready = True
        self._appends = await self._nc.subscribe(APPEND_SUBJECT, queue="ledger",
                                                 cb=self._on_append)
        await self._nc.publish(STARTED_SUBJECT, b"")  # requests to a dead writer fail now
        self._heads_task = asyncio.create_task(self._publish_heads())
        return await self.head()

    async def stop(self) -> None:
        if self._appends is not None:
            await self._appends.unsubscribe()
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
        """Append a batch of envelopes (events.encode_envelopes); returns the new size
        once the stream holds every record up to it.

        Appends that arrive while GROUP_IN_FLIGHT commits are pending wait, and then
        go together, in order of arrival, as one atomic batch (group commit)."""
        # shielded: a caller that goes away leaves its group's commit to finish
        return await asyncio.shield(self._enqueue(payload))

    def _enqueue(self, payload: bytes) -> asyncio.Future:
        envelopes = decode_envelopes(payload)
        if not self._ready:  # e.g. restarted by Ray and not yet recovered
            raise RuntimeError("ledger writer not started")
        told = asyncio.get_running_loop().create_future()
        self._queued.append((envelopes, told))
        if self._grouping is None:
            self._grouping = asyncio.create_task(self._commit_queued())
        return told

    async def _on_append(self, msg) -> None:
        """A request to APPEND_SUBJECT: queued now, in order of arrival (nats-py hands
        a subscription's messages over one at a time), answered once stored."""
        try:
            told = self._enqueue(msg.data)
        except Exception as exc:  # e.g. a payload that is not envelopes
            await self._answer(msg.reply, None, exc)
            return
        self._spawn(self._answer_when_told(msg.reply, told))

    def _spawn(self, coro) -> None:
        """Run `coro` as a task that this writer holds until it ends (the event loop
        holds tasks only weakly)."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer_when_told(self, reply: str, told: asyncio.Future) -> None:
        try:
            size = await told
        except Exception as exc:
            await self._answer(reply, None, exc)
        else:
            await self._answer(reply, size, None)

    async def _answer(self, reply: str, size: int | None, exc: Exception | None) -> None:
        if not reply:
            return
        if exc is None:
            await self._nc.publish(reply, b"%d" % size)
        else:
            await self._nc.publish(reply, b"", headers={ERROR_HEADER: repr(exc)[:2000]})

    async def _commit_queued(self) -> None:
        """Seal and send what is queued, a group at a time, until nothing is."""
        group: list = []
        try:
            while self._queued:
                async with self._lock:
                    # the group forms while a commit is pending, unless it is full already
                    while (len(self._in_flight) >= GROUP_IN_FLIGHT
                           and sum(len(e) for e, _ in self._queued) < ATOMIC_BATCH):
                        await asyncio.wait([self._in_flight[0]])
                    if self._failed:
                        # what waited behind a failed batch fails too, as a batch in
                        # flight behind it would: its callers retry on the rebuilt ledger
                        group, self._queued = self._queued, []
                        await self._settle()
                        tell(group, RuntimeError("LEDGER appends queued behind a failed "
                                                 "batch were not made"))
                        continue
                    group = take(self._queued, ATOMIC_BATCH)
                    size = self.ledger.size
                    try:
                        sealed, sizes = [], []
                        for envelopes, _ in group:
                            sealed += self.ledger.seal_records(envelopes)
                            sizes.append(self.ledger.size)
                        for start in range(0, len(sealed), ATOMIC_BATCH):
                            await self._send_batch(size + 1 + start,
                                                   sealed[start:start + ATOMIC_BATCH])
                    except Exception as exc:
                        self._failed = True  # sealed, perhaps partly sent: the ledger is ahead
                        self.log.error("ledger_append_failed", size=size, error=repr(exc))
                        await self._settle()
                        tell(group, exc)
                        continue
                    # a group of doubles only: told once the records it follows are stored
                    last = self._in_flight[-1] if self._in_flight else None
                self._spawn(self._confirm_group(last, group, sizes))
                group = []
        except asyncio.CancelledError:  # stopped with the writer: no caller waits forever
            tell(group + self._queued, RuntimeError("ledger writer stopped"))
            self._queued = []
            raise
        except Exception as exc:  # e.g. LEDGER unreachable while the ledger is rebuilt:
            # `_failed` is still set, so the next append rebuilds before it seals
            self.log.error("ledger_append_failed", error=repr(exc))
            tell(group + self._queued, exc)
            self._queued = []
        finally:
            self._grouping = None

    async def _confirm_group(self, last: asyncio.Task | None, group: list,
                             sizes: list[int]) -> None:
        if last is not None:
            try:
                await asyncio.shield(last)
            except BaseException as exc:
                self.log.error("ledger_append_failed", size=sizes[-1], error=repr(exc))
                try:
                    async with self._lock:
                        await self._settle()  # e.g. the server still away: the next group
                except Exception as unsettled:  # settles again, `_failed` being still set
                    self.log.warning("ledger_not_rebuilt", error=repr(unsettled))
                finally:  # whatever happened, no caller of the group is left waiting
                    tell(group, exc if isinstance(exc, Exception) else RuntimeError(repr(exc)))
                return
        for (_, told), size in zip(group, sizes, strict=True):
            if not told.done():
                told.set_result(size)

    async def _send_batch(self, first: int, records: list[bytes]) -> None:
        """Send one atomic batch, records `first`.., without waiting for its ack;
        `_confirm` waits."""
        if len(self._in_flight) >= MAX_IN_FLIGHT:
            await asyncio.wait([self._in_flight[0]])
        last = first + len(records) - 1
        batch = f"{first}-{last}-{self.ledger.head[:16]}"
        nc = self._nc
        if max(map(len, records)) > nc.max_payload:
            raise ValueError(f"a record of {first}..{last} exceeds the server's max payload")
        if len(records) > 1:
            await queue_records(nc, RECORDS_SUBJECT, batch, first, records[:-1])
        headers = {"Nats-Batch-Id": batch, "Nats-Batch-Sequence": str(len(records))}
        if len(records) == 1:
            headers["Nats-Expected-Last-Sequence"] = str(first - 1)
        headers["Nats-Batch-Commit"] = "1"
        self._sent += 1  # a reply subject is never reused: a late answer finds no one
        reply = f"{self._inbox}.{self._sent}"
        ack = self._acks[reply] = asyncio.get_running_loop().create_future()
        try:
            await nc.publish(RECORDS_SUBJECT, records[-1], reply=reply, headers=headers)
        except BaseException:
            del self._acks[reply]
            raise
        before = self._in_flight[-1] if self._in_flight else None
        task = asyncio.create_task(self._confirm(first, last, reply, ack, before))
        task.add_done_callback(self._settled_one)
        self._in_flight.append(task)

    async def _confirm(self, first: int, last: int, reply: str, ack: asyncio.Future,
                       before: asyncio.Task | None) -> None:
        """The batch first..last is stored, and so is every batch sent before it."""
        try:
            answer = await asyncio.wait_for(ack, ACK_TIMEOUT_S)
        except Exception as exc:
            answer = exc
        finally:
            self._acks.pop(reply, None)
        if before is not None:
            try:
                await before
            except BaseException as exc:
                raise RuntimeError(f"LEDGER records {first}..{last} follow a failed batch") \
                    from exc
        if isinstance(answer, BaseException):
            raise RuntimeError(f"LEDGER gave no answer for records {first}..{last}: "
                               f"{answer!r}") from answer
        try:
            stored = msgspec.json.decode(answer)
        except msgspec.DecodeError:  # e.g. no responders: a status message, no body
            stored = {"error": answer}
        if "error" in stored or stored.get("seq") != last:
            raise RuntimeError(f"LEDGER refused records {first}..{last}: "
                               f"{stored.get('error', stored)}")

    def _settled_one(self, task: asyncio.Task) -> None:
        if task.cancelled() or task.exception() is not None:
            self._failed = True
        # batches settle in order (each waits for the one before), so it is the oldest
        if self._in_flight and self._in_flight[0] is task:
            self._in_flight.pop(0)
        elif task in self._in_flight:
            self._in_flight.remove(task)

    async def _on_ack(self, msg) -> None:
        ack = self._acks.pop(msg.subject, None)
        if ack is not None and not ack.done():
            ack.set_result(msg.data)

    async def _settle(self) -> None:
        """Under the lock: wait until no batch is in flight; if one failed, rebuild the
        ledger from the stream. Afterwards the ledger is exactly what LEDGER holds."""
        if self._in_flight:
            await asyncio.wait(list(self._in_flight))
        if self._failed:
            await self._recover()
            self._failed = False

    async def _publish_heads(self) -> None:
        while True:
            await asyncio.sleep(self.head_interval_s)
            try:
                async with self._lock:
                    await self._sign_if_grown()
            except Exception as exc:
                self.log.warning("tree_head_failed", error=repr(exc))

    async def _sign_if_grown(self) -> TreeHead:
        await self._settle()  # sign only what the stream holds
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
        return inclusion(self.ledger, seq, tree_size)

    def consistency(self, first: int, second: int) -> dict:
        return consistency(self.ledger, first, second)

    def size(self) -> int:
        return self.ledger.size




def _encode_head(head: TreeHead) -> bytes:
    return msgspec.json.encode(head)
