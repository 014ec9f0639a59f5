"""`GET /stream` on a real nats-server: records appended by a real LedgerWriter reach
SSE clients through one feed, resume after Last-Event-ID, and a slow client is
dropped without holding up the others."""

from __future__ import annotations

import asyncio
import contextlib
import json

import httpx
import pytest
import uvicorn

from plumeline.actors import LedgerWriter
from plumeline.events import (
    Causation,
    Envelope,
    FacilityRegistered,
    HotspotDetected,
    encode_envelopes,
)
from plumeline.infra.runtime.nats import connect, ensure_streams, free_port
from plumeline.serve.app import build_app
from plumeline.serve.feed import LedgerFeed
from plumeline.serve.stream import Broadcast, entry
from plumeline.serve.tokens import TokenKey

KEY = TokenKey(b"s" * 32)
T0 = 1_767_225_600_000


class NoReads:
    async def query(self, name, **params):
        return []


class NoLedger:
    async def head(self):
        return {"tree_size": 0}


def _envelopes(first: int, n: int, facility: str = "ccs-07") -> list[Envelope]:
    out = []
    for i in range(first, first + n):
        body = (FacilityRegistered(facility=facility, name=f"plant {i}", kind="ccs") if i % 2
                else HotspotDetected(facility=facility, sensor="flue", quantity="CO2 flow",
                                     unit="t/h", value=9.0, baseline=3.0, excess_ratio=3.0))
        out.append(Envelope.wrap(body, time=T0 + i, causation=Causation("READINGS", i, 0)))
    return out


class Events:
    """An SSE response read line by line (httpx streams a body only once)."""

    def __init__(self, response) -> None:
        self.lines = response.aiter_lines()

    async def next(self, count: int) -> list[dict]:
        """The next `count` events (comments and retry lines skipped)."""
        got, fields = [], {}
        async for line in self.lines:
            if line == "":
                if "event" in fields:
                    got.append(fields)
                    if len(got) == count:
                        return got
                fields = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(": ")
                fields[name] = value
        return got


@contextlib.asynccontextmanager
async def _serving(nats_url: str, tmp_path, **options):
    nc = await connect(nats_url)
    await ensure_streams(nc.jetstream())
    await nc.close()
    writer = LedgerWriter(nats_url, str(tmp_path / "ledger.key"))
    await writer.start()
    feed = LedgerFeed(nats_url, queue_size=options.pop("queue_size", 1024))
    app = build_app(NoReads(), NoLedger(), feed=feed, verify=KEY.verify, **options)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=20) as client:
            yield writer, client, feed
    finally:
        server.should_exit = True
        await task
        await feed.close()
        await writer.stop()


def test_new_records_arrive_as_events_and_a_reconnect_replays_what_it_missed(
        nats_server, tmp_path):
    async def go():
        async with _serving(nats_server.url, tmp_path) as (writer, client, feed):
            await writer.append(encode_envelopes(_envelopes(1, 3)))  # before anyone listens
            async with client.stream("GET", "/stream") as r:
                assert r.status_code == 200
                assert r.headers["content-type"].startswith("text/event-stream")
                await writer.append(encode_envelopes(_envelopes(4, 2)))
                live = await Events(r).next(2)
            assert [(e["id"], e["event"]) for e in live] == [
                ("4", "hotspot.detected"), ("5", "facility.registered")]
            data = json.loads(live[0]["data"])
            assert data["seq"] == 4 and data["facility"] == "ccs-07"
            assert json.loads(data["record"])["seq"] == 4
            assert data["causation"] == {"stream": "READINGS", "seq": 4, "index": 0}

            await writer.append(encode_envelopes(_envelopes(6, 3)))  # missed while away
            async with client.stream("GET", "/stream", headers={"Last-Event-ID": "5"}) as r:
                await writer.append(encode_envelopes(_envelopes(9, 1)))
                resumed = await Events(r).next(4)
            assert [e["id"] for e in resumed] == ["6", "7", "8", "9"]
            for _ in range(100):  # the server sees the disconnects a moment later
                if not feed.broadcast.listeners:
                    break
                await asyncio.sleep(0.05)
            assert feed.broadcast.listeners == set()  # both clients left

    asyncio.run(go())


def test_filters_a_token_in_the_query_and_bad_parameters(nats_server, tmp_path):
    async def go():
        async with _serving(nats_server.url, tmp_path, open_reads=False) as (writer, client, _):
            assert (await client.get("/stream")).status_code == 401
            token = KEY.issue("ada", "viewer", 2_000_000_000)
            bad = await client.get("/stream", params={"token": token, "types": "alert.bogus"})
            assert bad.status_code == 400 and "alert.bogus" in bad.json()["error"]
            bad = await client.get("/stream", params={"token": token, "last_event_id": "x"})
            assert bad.status_code == 400 and "Last-Event-ID" in bad.json()["error"]
            bad = await client.get("/stream", params={"token": token, "last_event_id": "7"})
            assert bad.status_code == 400 and "past the ledger's end (0)" in bad.json()["error"]
            # the query token is for the stream only
            assert (await client.get("/alerts", params={"token": token})).status_code == 401
            async with client.stream("GET", "/stream", params={
                    "token": token, "facility": "ccs-09", "types": "hotspot.detected"}) as r:
                assert r.status_code == 200
                await writer.append(encode_envelopes(
                    _envelopes(1, 4) + _envelopes(5, 4, facility="ccs-09")))
                [only, second] = await Events(r).next(2)
            assert (only["id"], second["id"]) == ("6", "8")
            assert {json.loads(e["data"])["facility"] for e in (only, second)} == {"ccs-09"}

    asyncio.run(go())


def test_a_quiet_stream_sends_heartbeats(nats_server, tmp_path):
    async def go():
        async with _serving(nats_server.url, tmp_path, heartbeat_s=0.2) as (_, client, _), \
                client.stream("GET", "/stream") as r:
            lines = Events(r).lines
            assert await anext(lines) == "retry: 2000"
            assert await anext(lines) == ""
            assert await anext(lines) == ": heartbeat"

    asyncio.run(go())


def test_a_slow_client_is_dropped_with_its_resume_point_and_the_others_keep_up(
        nats_server, tmp_path):
    async def go():
        async with _serving(nats_server.url, tmp_path, queue_size=64) as (writer, client, feed):
            async with client.stream("GET", "/stream") as fast_response, \
                       client.stream("GET", "/stream") as slow_response:
                fast, slow = Events(fast_response), Events(slow_response)
                await writer.append(encode_envelopes(_envelopes(1, 2)))
                assert [e["id"] for e in await slow.next(2)] == ["1", "2"]
                assert [e["id"] for e in await fast.next(2)] == ["1", "2"]
                # the slow client stops reading: once the sockets' buffers are full its
                # queue fills and the feed drops it, while the fast one gets every record
                seq = 2
                while feed.broadcast.dropped == 0:
                    await writer.append(encode_envelopes(_envelopes(seq + 1, 32)))
                    seq += 32
                    got = await fast.next(32)
                    assert [e["id"] for e in got] == [str(i) for i in range(seq - 31, seq + 1)]
                rest = []
                async for line in slow.lines:
                    rest.append(line)
            assert "event: overflow" in rest
            at = rest.index("event: overflow")
            resume = int(rest[at - 1].removeprefix("id: "))
            assert json.loads(rest[at + 1].removeprefix("data: ")) == {"resume_after": resume}
            ids = [int(x.removeprefix("id: ")) for x in rest[:at - 1] if x.startswith("id: ")]
            assert ids == list(range(3, resume + 1))  # nothing skipped before the overflow

    asyncio.run(go())


def test_the_broadcast_drops_only_the_listener_that_is_full():
    async def go():
        b = Broadcast(queue_size=2)
        fast, slow, other = b.listen(), b.listen(), b.listen(facility="elsewhere")
        records = [e for e in (entry(_sealed(i)) for i in range(1, 4))]
        for e in records:
            b.publish(e)
            if e.seq < 3:
                await fast.queue.get()
        assert b.listeners == {fast, other} and b.dropped == 1
        assert (await fast.queue.get()).seq == 3
        assert slow.queue.qsize() == 1 and other.queue.empty()
        b.publish(records[0])  # delivered again by the upstream: ignored
        assert fast.queue.empty()

    asyncio.run(go())


def _sealed(seq: int) -> bytes:
    from plumeline.events import Ledger

    ledger = Ledger()
    return ledger.seal(_envelopes(1, seq))[-1].data


@pytest.mark.parametrize("raw", [b"", b"{}", b"not json"])
def test_an_unreadable_record_is_refused(raw):
    with pytest.raises(ValueError):
        entry(raw)


def test_a_resume_replays_at_most_max_replay_records_after_a_gap_event(nats_server, tmp_path):
    async def go():
        async with _serving(nats_server.url, tmp_path, max_replay=4) as (writer, client, _):
            await writer.append(encode_envelopes(_envelopes(1, 10)))
            async with client.stream("GET", "/stream", headers={"Last-Event-ID": "2"}) as r:
                got = await Events(r).next(5)
            assert (got[0]["event"], got[0]["id"]) == ("gap", "6")
            assert json.loads(got[0]["data"]) == {"missed_from": 3, "missed_to": 6,
                                                  "resume_after": 6}
            assert [e["id"] for e in got[1:]] == ["7", "8", "9", "10"]
            async with client.stream("GET", "/stream", headers={"Last-Event-ID": "6"}) as r:
                near = await Events(r).next(4)  # within the bound: no gap
            assert [e["id"] for e in near] == ["7", "8", "9", "10"]

    asyncio.run(go())


def test_streams_past_the_replicas_cap_get_503_with_retry_after(nats_server, tmp_path):
    async def go():
        async with _serving(nats_server.url, tmp_path, max_stream_clients=2) as (_, client, feed):
            async with client.stream("GET", "/stream") as one, \
                    client.stream("GET", "/stream") as two:
                assert one.status_code == two.status_code == 200
                full = await client.get("/stream")
                assert full.status_code == 503 and full.headers["retry-after"].isdigit()
                assert "2 live streams" in full.json()["error"]
            for _ in range(100):  # the server sees the disconnects a moment later
                if not feed.broadcast.listeners:
                    break
                await asyncio.sleep(0.05)
            async with client.stream("GET", "/stream") as again:
                assert again.status_code == 200  # the places were given back

    asyncio.run(go())
