"""HTTP load from a separate process: `python -m infra.bench_api URL CLIENTS SECONDS PATH…`.

Prints one JSON object: per path, requests/s, p50 and p99 in ms, and errors. Requests
go only to the given URL (the benchmark passes the system it started on 127.0.0.1);
the loop is bounded by time and stops by itself.

`python -m infra.bench_api stream URL NATS_URL PARTITIONS FACILITY CLIENTS SECONDS RATE`
holds CLIENTS connections to `/stream` while it makes RATE ledger events a second
(silence commands for FACILITY, each of which the facility answers with one event),
and prints clients held, deliveries a second and the delay from append (the time
JetStream stored the record) to delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import statistics
import sys
import time
from urllib.parse import urlsplit

import httpx
from nats.js import api

from events import SilenceSensor, encode_wire, readings_subject
from infra.nats import LEDGER, connect


async def _load(url: str, clients: int, seconds: float, path: str) -> dict:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        async def one_client():
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    r = await client.get(path)
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {"requests_per_s": len(latencies) / elapsed, "p50_ms": q[49] * 1000,
            "p99_ms": q[98] * 1000, "requests": len(latencies), "errors": errors}


_ID = re.compile(rb"(?:^|\n)id: (\d+)\n")


async def _listen(host: str, port: int, got: list, held: set, opened: asyncio.Event,
                  key: int, wanted: int) -> None:
    """One SSE client on a raw socket: an httpx client per connection would be the
    limit long before the server is; only `id:` lines are read."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(f"GET /stream HTTP/1.1\r\nHost: {host}:{port}\r\n"
                     "Accept: text/event-stream\r\n\r\n".encode())
        if b" 200 " not in await reader.readline():
            return
        while await reader.readline() not in (b"\r\n", b""):
            pass
        held.add(key)
        if len(held) == wanted:
            opened.set()
        tail = b""
        while chunk := await reader.read(65536):
            now = time.time()
            data = tail + chunk
            cut = data.rfind(b"\n")
            got.extend((int(m[1]), now) for m in _ID.finditer(data, 0, cut + 1))
            tail = data[cut + 1:]
    finally:
        held.discard(key)
        writer.close()


async def _stream(url: str, nats_url: str, partitions: int, facility: str, clients: int,
                  seconds: float, rate: float) -> dict:
    nc = await connect(nats_url, name="bench-stream")
    js = nc.jetstream()
    stored: dict[int, float] = {}

    async def on_record(msg) -> None:
        stored[msg.metadata.sequence.stream] = msg.metadata.timestamp.timestamp()

    sub = await js.subscribe("ledger.records", stream=LEDGER, ordered_consumer=True,
                             cb=on_record, deliver_policy=api.DeliverPolicy.NEW)
    where = urlsplit(url)
    got: list[tuple[int, float]] = []
    held: set[int] = set()
    opened = asyncio.Event()
    tasks = []
    for key in range(clients):
        tasks.append(asyncio.create_task(
            _listen(where.hostname, where.port, got, held, opened, key, clients)))
        if key % 100 == 99:
            await asyncio.sleep(0.05)  # a ramp, not a SYN flood
    with contextlib.suppress(TimeoutError):  # then `opened` says how many made it
        await asyncio.wait_for(opened.wait(), 120)
    opened_count = len(held)
    got.clear()
    subject = readings_subject(facility, partitions)
    started = time.time()
    sent = 0
    while (elapsed := time.time() - started) < seconds:
        if sent < elapsed * rate:
            now = int(time.time() * 1000)
            await js.publish(subject, encode_wire(SilenceSensor(
                facility=facility, user="bench", time=now, until_ms=now + 60_000,
                reason="bench")))
            sent += 1
        else:
            await asyncio.sleep(min(0.01, 1 / rate))
    await asyncio.sleep(2.0)  # the last events on their way
    held_at_end = len(held)
    appended = {seq for seq, at in stored.items() if at >= started}
    delivered = [(seq, at) for seq, at in got if seq in appended]
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await sub.unsubscribe()
    await nc.close()
    delays = [at - stored[seq] for seq, at in delivered]
    q = statistics.quantiles(delays, n=100) if len(delays) > 1 else [float("nan")] * 99
    events = len(appended)
    return {"clients": clients, "opened": opened_count, "held": held_at_end,
            "commands": sent, "events": events, "events_per_s": events / seconds,
            "deliveries": len(delivered), "deliveries_per_s": len(delivered) / seconds,
            "delivered_fraction": len(delivered) / max(1, events * held_at_end),
            "delay_p50_ms": q[49] * 1000, "delay_p99_ms": q[98] * 1000}


def main(argv: list[str]) -> int:
    if argv and argv[0] == "stream":
        url, nats_url, partitions, facility, clients, seconds, rate = argv[1:]
        print(json.dumps(asyncio.run(_stream(url, nats_url, int(partitions), facility,
                                             int(clients), float(seconds), float(rate)))))
        return 0
    url, clients, seconds, *paths = argv
    results = {p: asyncio.run(_load(url, int(clients), float(seconds), p)) for p in paths}
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
