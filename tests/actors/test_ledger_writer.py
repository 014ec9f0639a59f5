"""The ledger writer on a real nats-server: concurrent callers whose batches are in
flight together still give one record per message with stream seq = ledger seq, as
atomic batches with the expected last sequence on their first message; a batch the
stream refuses fails every caller whose batch follows it, the ledger is rebuilt from
the stream, and appends go on from there; a signed head covers only stored records."""

from __future__ import annotations

import asyncio
import contextlib

import msgspec
import pytest

from plumeline.actors import LedgerWriter, read_stream
from plumeline.actors.batching import frames, queue_records
from plumeline.actors.ledger_client import (
    APPEND_SUBJECT,
    STARTED_SUBJECT,
    LedgerAppendError,
    LedgerClient,
    _parts,
)
from plumeline.events import (
    GENESIS,
    AlertRaised,
    Causation,
    Envelope,
    Ledger,
    Record,
    decode_envelopes,
    decode_record,
    encode_envelopes,
    encode_record,
)
from plumeline.infra.runtime.nats import LEDGER, connect, ensure_streams

T0 = 1_767_225_600_000


def _events(first: int, n: int, stream: str = "readings") -> list[Envelope]:
    return [
        Envelope.wrap(
            AlertRaised(facility=f"ccs-{i % 3}", alert_id=f"{i:020d}", sensor="solvent_temp",
                        kind="deviation", severity="minor", value=50.0 + i % 7, baseline=40.0,
                        score=9.5, model="robust-baseline", message="solvent temperature high"),
            time=T0 + i, causation=Causation(stream, i, 0),
        )
        for i in range(first, first + n)
    ]


@contextlib.asynccontextmanager
async def _writer(url: str, tmp_path):
    """A started writer (heads signed on demand only) and a JetStream client beside it."""
    nc = await connect(url)
    js = nc.jetstream()
    await ensure_streams(js)
    writer = LedgerWriter(url, str(tmp_path / "ledger.key"), head_interval_s=3600)
    await writer.start()
    try:
        yield js, writer
    finally:
        await writer.stop()
        await nc.close()


async def _stored(js) -> list:
    last = (await js.stream_info(LEDGER)).state.last_seq
    return [m async for m in read_stream(js, LEDGER, "ledger.records", 1, last)]


def test_concurrent_appends_keep_one_record_per_message(nats_server, tmp_path):
    async def go():
        async with _writer(nats_server.url, tmp_path) as (js, writer):
            # 12 appends from 4 callers at once, one of 2,500 events (three atomic batches)
            sizes = [2_500] + [300] * 11
            starts = [1 + sum(sizes[:i]) for i in range(len(sizes))]
            returned = await asyncio.gather(*(
                writer.append(encode_envelopes(_events(s, n))) for s, n in zip(starts, sizes)
            ))
            total = sum(sizes)
            assert max(returned) == total == writer.size()
            # the same events again: dropped, and the size returned is the stored one
            assert await writer.append(encode_envelopes(_events(1, 300))) == total
            head = await writer.head()
            stored = await _stored(js)
        return head, stored, total

    head, stored, total = asyncio.run(go())
    assert len(stored) == total and head["tree_size"] == total
    ledger = Ledger()
    firsts = []
    for msg in stored:
        record = ledger.restore(msg.data)  # the chain continues, record by record
        assert record.seq == msg.metadata.sequence.stream
        if msg.headers and "Nats-Expected-Last-Sequence" in msg.headers:
            firsts.append(record.seq)
    assert ledger.tree.root().hex() == head["root_hash"]
    assert len({decode_record(m.data).event.id for m in stored}) == total
    # every atomic batch starts where the stream ended: 1,000 + 1,000 + 500, then the
    # appends queued meanwhile go together, up to 1,000 records a commit: 3 × 300 three
    # times, then 2 × 300
    assert firsts == [1, 1001, 2001, 2501, 3401, 4301, 5201]


def test_records_stored_across_a_restart_are_those_encoded_one_by_one(nats_server, tmp_path):
    """The writer writes each record around one encode of its batch (`seal_records`);
    what it stores is still, byte for byte, a `Record` encoded alone and chained by the
    leaf hash, also after a new writer recovers and is sent events already stored."""
    async def go():
        async with _writer(nats_server.url, tmp_path) as (js, writer):
            assert await writer.append(encode_envelopes(_events(1, 1500))) == 1500
            assert await writer.append(encode_envelopes(_events(1501, 300))) == 1800
        async with _writer(nats_server.url, tmp_path) as (js, writer):
            assert writer.size() == 1800
            # 1,200..1,800 were stored before the restart: dropped, the rest appended
            assert await writer.append(encode_envelopes(_events(1200, 1501))) == 2700
            return await _stored(js)

    stored = asyncio.run(go())
    ledger, prev = Ledger(), GENESIS
    for msg in stored:
        record = ledger.restore(msg.data)
        assert msg.data == encode_record(Record(seq=record.seq, prev=prev, event=record.event))
        prev = ledger.head
    assert [decode_record(m.data).event for m in stored] == _events(1, 2700)


def test_appends_that_wait_together_share_one_commit(nats_server, tmp_path):
    """Group commit: sixteen callers appending three events each at once are one atomic
    batch (one fsync on the server), and each is told where its own events end."""
    async def go():
        async with _writer(nats_server.url, tmp_path) as (js, writer):
            returned = await asyncio.gather(*(
                writer.append(encode_envelopes(_events(1 + 3 * k, 3))) for k in range(16)))
            return returned, await _stored(js)

    returned, stored = asyncio.run(go())
    assert returned == [3 * (k + 1) for k in range(16)]
    assert [m.metadata.sequence.stream for m in stored] == list(range(1, 49))
    commits = [m for m in stored if "Nats-Batch-Commit" in (m.headers or {})]
    assert [m.metadata.sequence.stream for m in commits] == [48]


def test_full_groups_go_without_waiting_for_the_pending_commit(nats_server, tmp_path):
    """Appends that fill an atomic batch would gain nothing by waiting to be grouped:
    they are sent while the commit before them is pending (the server's acks are held
    back here), and the callers are told in order once the acks come."""

    async def go():
        nc = await connect(nats_server.url)
        await ensure_streams(nc.jetstream())
        writer = LedgerWriter(nats_server.url, str(tmp_path / "ledger.key"),
                              head_interval_s=3600)
        held, release, later = [], asyncio.Event(), []
        on_ack = writer._on_ack

        async def held_back(msg):  # the server's answers to the commits, kept waiting
            held.append(msg)

            async def deliver():
                await release.wait()
                await on_ack(msg)

            later.append(asyncio.ensure_future(deliver()))

        async def three_sent():
            while len(held) < 3:
                await asyncio.sleep(0.01)

        writer._on_ack = held_back  # before start, which subscribes it
        await writer.start()
        try:
            appends = [asyncio.ensure_future(writer.append(
                encode_envelopes(_events(1 + 1000 * k, 1000)))) for k in range(3)]
            await asyncio.wait_for(three_sent(), 5)  # under ACK_TIMEOUT_S
            assert not any(a.done() for a in appends)  # none answered yet
            release.set()
            return await asyncio.wait_for(asyncio.gather(*appends), 30), len(await _stored(
                nc.jetstream()))
        finally:
            release.set()
            await writer.stop()
            await nc.close()

    sizes, stored = asyncio.run(go())
    assert sizes == [1000, 2000, 3000] and stored == 3000


def test_a_refused_batch_fails_the_ones_after_it(nats_server, tmp_path):
    async def go():
        async with _writer(nats_server.url, tmp_path) as (js, writer):
            assert await writer.append(encode_envelopes(_events(1, 10))) == 10
            # a second writer by mistake appends a valid continuation behind its back
            rogue = Ledger()
            for msg in await _stored(js):
                rogue.restore(msg.data)
            [record] = rogue.seal(_events(1, 1, stream="elsewhere"))
            await js.publish("ledger.records", record.data,
                             headers={"Nats-Expected-Last-Sequence": "10"})
            # two batches in flight together (the first append fills an atomic batch,
            # so the second is not grouped with it): the first is refused, so is the second
            outcomes = await asyncio.gather(
                writer.append(encode_envelopes(_events(11, 1000))),
                writer.append(encode_envelopes(_events(1011, 5))),
                return_exceptions=True,
            )
            after_failure = writer.size()
            # the callers retry: the rebuilt ledger continues after the rogue record
            assert await writer.append(encode_envelopes(_events(11, 1005))) == 1016
            head = await writer.head()
            stored = await _stored(js)
        return outcomes, after_failure, head, stored

    outcomes, after_failure, head, stored = asyncio.run(go())
    assert all(isinstance(o, RuntimeError) for o in outcomes), outcomes
    assert "refused" in str(outcomes[0]) and "failed batch" in str(outcomes[1])
    assert after_failure == 11  # rebuilt from the stream: 10 records and the rogue one
    assert [m.metadata.sequence.stream for m in stored] == list(range(1, 1017))
    assert [decode_record(m.data).seq for m in stored] == list(range(1, 1017))
    assert head["tree_size"] == 1016
    assert msgspec.json.decode(stored[10].data)["event"]["causation"]["stream"] == "elsewhere"


class _PublishOnly:
    """A real client seen through `publish` alone: a nats-py without `_send_command`."""

    def __init__(self, nc) -> None:
        self.publish = nc.publish


def test_frames_written_as_bytes_store_what_publish_stores(nats_server):
    """The batch frames built by hand and the same messages through `publish` leave
    the same records and headers in LEDGER."""
    records = Ledger().seal(_events(1, 5))
    batch = "1-5-test"

    async def store(via) -> list:
        nc = await connect(nats_server.url)
        js = nc.jetstream()
        with contextlib.suppress(Exception):
            await js.delete_stream(LEDGER)
        await ensure_streams(js)
        await queue_records(via(nc), "ledger.records", batch, 1,
                            [r.data for r in records[:-1]])
        reply = await nc.request("ledger.records", records[-1].data, timeout=10, headers={
            "Nats-Batch-Id": batch, "Nats-Batch-Sequence": "5", "Nats-Batch-Commit": "1"})
        assert msgspec.json.decode(reply.data)["seq"] == 5, reply.data
        stored = [(m.data, dict(m.headers or {})) for m in await _stored(js)]
        await nc.close()
        return stored

    by_hand = asyncio.run(store(lambda nc: nc))
    through_publish = asyncio.run(store(_PublishOnly))
    assert [data for data, _ in by_hand] == [r.data for r in records]
    assert by_hand == through_publish
    assert by_hand[0][1]["Nats-Expected-Last-Sequence"] == "0"


def test_frames_of_more_than_an_atomic_batch_are_refused():
    """The batch headers are written from a table of 1,000 sequence numbers: a longer
    list is an error, not frames with a part left out."""
    assert frames(b"ledger.records", b"b", 1, [b"{}"] * 1000).count(b"HPUB ") == 1000
    with pytest.raises(ValueError, match="at most 1000"):
        frames(b"ledger.records", b"b", 1, [b"{}"] * 1001)


def test_appends_by_request_keep_their_order_and_a_bad_one_is_told_why(nats_server, tmp_path):
    """Shard hosts append by NATS request: appends sent one after another without
    waiting are stored in the order sent; one larger than `limit` goes in parts; a
    payload that is not envelopes gets the writer's reason and changes nothing."""

    async def go():
        async with _writer(nats_server.url, tmp_path) as (js, writer):
            nc = await connect(nats_server.url)
            try:
                client = await LedgerClient(nc).start()
                sizes = await asyncio.gather(*(
                    client.append(encode_envelopes(_events(1 + 10 * k, 10)))
                    for k in range(8)))
                with pytest.raises(LedgerAppendError, match="Expected `array`"):
                    await client.append(b"not envelopes")
                big = encode_envelopes(_events(81, 200))
                size = await client.append(big, limit=len(big) // 5)
            finally:
                await nc.close()
            return sizes, size, [decode_record(m.data).event for m in await _stored(js)]

    sizes, size, stored = asyncio.run(go())
    assert sizes == [10 * (k + 1) for k in range(8)]
    assert size == 280 == len(stored)
    assert [e.causation.seq for e in stored] == list(range(1, 281))


def test_a_payload_is_cut_into_parts_in_order_each_within_the_limit():
    events = _events(1, 50)
    limit = len(encode_envelopes(events)) // 7
    parts = _parts(events, limit)
    assert len(parts) >= 7 and all(len(p) <= limit for p in parts)
    assert [e for p in parts for e in decode_envelopes(p)] == events


def test_an_append_in_flight_fails_when_a_new_writer_starts(nats_server):
    """A writer that died holding a request never answers it; the next writer's start
    fails it at once, not at the request's timeout."""

    async def go():
        nc = await connect(nats_server.url)
        try:
            arrived = asyncio.Event()

            async def dead_writer(msg):  # takes the request, never answers
                arrived.set()

            await nc.subscribe(APPEND_SUBJECT, cb=dead_writer)
            client = await LedgerClient(nc, timeout=60.0).start()
            pending = asyncio.ensure_future(client.append(encode_envelopes(_events(1, 3))))
            await asyncio.wait_for(arrived.wait(), 10)
            await asyncio.sleep(0.05)
            assert not pending.done()
            await nc.publish(STARTED_SUBJECT, b"")  # as LedgerWriter.start does
            # within 10 s, where the request's own timeout is 60 s
            with pytest.raises(LedgerAppendError, match="restarted"):
                await asyncio.wait_for(pending, 10)
        finally:
            await nc.close()

    asyncio.run(go())
