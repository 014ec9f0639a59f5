"""Floods against the real deployment (Serve behind its HTTP ingress): a 5 MB body to
an open route, 3,000 idle `/stream` clients, and hostile headers and frames. Each
must cost the replica little and leave it answering."""

from __future__ import annotations

import asyncio
import resource
import time
from urllib.parse import urlsplit

import httpx
import pytest

from plumeline.events import Manifest, encode_wire
from plumeline.serve.stream import MAX_STREAM_CLIENTS
from plumeline.serve.tokens import TokenKey
from tests.infra.conftest import SPECS, T0
from tests.test_end_to_end import _publish as publish_readings

STREAMS = 3000


@pytest.fixture(scope="module", autouse=True)
def enough_files():
    """Room for 3,000 sockets in this process (and in what it starts after)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 4 * STREAMS if hard == resource.RLIM_INFINITY else min(hard, 4 * STREAMS)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.fixture(scope="module")
def api(system):
    key = TokenKey.load_or_create(system.settings.api_key_path)

    def bearer(role: str, **claims) -> dict:
        token = key.issue("mallory", role, int(time.time()) + 600, **claims)
        return {"Authorization": f"Bearer {token}"}

    with httpx.Client(base_url=system.http_url, timeout=60) as client:
        client.bearer = bearer
        yield client


def _facility(api, system, facility: str = "ccs-66") -> str:
    """A facility registered through READINGS, as a plant's manifest registers it."""
    manifest = encode_wire(Manifest(facility=facility, name="Plant 66", kind="ccs",
                                    sensors=SPECS, time=T0))
    asyncio.run(publish_readings(system.url_for("simulator"), [manifest], facility))
    deadline = time.monotonic() + 120
    while facility not in {f["facility"] for f in api.get("/facilities").json()["facilities"]}:
        assert time.monotonic() < deadline, f"{facility} was never registered"
        time.sleep(0.5)
    return facility


def test_a_5_mb_body_to_an_open_route_is_413_and_the_replica_stays_up(api):
    big = b"{" + b" " * (5 * 1024 * 1024) + b"}"
    r = api.post("/simulate", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "request body over" in r.json()["error"]

    def chunks():  # no Content-Length: refused as the bytes arrive
        for _ in range(80):
            yield b" " * 65536

    r = api.post("/simulate", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert api.get("/health").status_code == 200


def test_hostile_headers_and_foreign_frames_are_refused_with_4xx(api, system):
    r = api.get("/alerts", headers={"Authorization": b"Bearer \xc3\xa9\xff"})
    assert r.status_code == 401
    facility = _facility(api, system)
    device = api.bearer("device", facilities=[facility])
    frame = {"facility": "not-" + facility, "sensors": ["s"], "times": [int(time.time() * 1000)],
             "values": [1.0]}
    r = api.post("/ingest", json=frame, headers=device)
    assert r.status_code == 403 and "may not post for" in r.json()["error"]
    r = api.post("/ingest", json={**frame, "facility": facility}, headers=device)
    assert r.status_code == 202, r.text
    assert "frame-ancestors 'none'" in api.get("/").headers["content-security-policy"]


async def _open_stream(host: str, port: int, held: list, gate: asyncio.Semaphore) -> bytes:
    async with gate:  # connect a few hundred at a time, not 3,000 SYNs at once
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"GET /stream HTTP/1.1\r\nHost: plumeline\r\n"
                     b"Accept: text/event-stream\r\n\r\n")
        await writer.drain()
        held.append(writer)
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 300)


def test_3000_idle_streams_are_capped_and_do_not_stall_a_command(api, system):
    facility = _facility(api, system)
    url = urlsplit(system.http_url)

    async def flood():
        held: list[asyncio.StreamWriter] = []
        gate = asyncio.Semaphore(200)
        try:
            heads = await asyncio.gather(*(_open_stream(url.hostname, url.port, held, gate)
                                           for _ in range(STREAMS)))
            # every client is now open and reads nothing: ask for a command meanwhile
            async with httpx.AsyncClient(base_url=system.http_url, timeout=120) as client:
                command = await client.post("/silences", headers=api.bearer("operator"),
                                            json={"facility": facility, "duration_s": 60,
                                                  "reason": "flood test"})
            return heads, command
        finally:
            for writer in held:
                writer.close()

    heads, command = asyncio.run(flood())
    assert command.status_code in (200, 202), command.text
    status = [h.split(b" ", 2)[1] for h in heads]
    assert status.count(b"200") == MAX_STREAM_CLIENTS
    refused = [h.lower() for h in heads if h.split(b" ", 2)[1] == b"503"]
    assert len(refused) == STREAMS - MAX_STREAM_CLIENTS
    assert all(b"\r\nretry-after: " in h for h in refused)
    # the closed clients give their places back
    deadline = time.monotonic() + 120
    while True:
        with api.stream("GET", "/stream") as r:
            if r.status_code == 200:
                break
        assert time.monotonic() < deadline, "the stream places were never given back"
        time.sleep(1)
