"""HTTP load from a separate process: `python -m plumeline.infra.bench.api URL CLIENTS SECONDS PATH…`.

Prints one JSON object: per path, requests/s, p50 and p99 in ms, and errors. Requests
go only to the given URL (the benchmark passes the system it started on 127.0.0.1);
the loop is bounded by time and stops by itself.

`python -m plumeline.infra.bench.api paced URL CLIENTS RATE SECONDS PATH` is the open-loop
load: CLIENTS connections offer RATE requests a second between them, each on its own
fixed schedule whatever the answers take, which is what that many dashboards polling
would see. A request's latency counts from when it was due, not from when it went out
(a slow answer delays the next request on its connection, and that wait is the
server's); the client's own lateness in sending on a free connection is reported
beside it, as the measure of whether this process kept up.

`python -m plumeline.infra.bench.api stream URL NATS_URL PARTITIONS FACILITY CLIENTS SECONDS RATE`
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

from plumeline.events import SilenceSensor, command_subject, encode_wire
from plumeline.infra.runtime.nats import LEDGER, connect


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


class Paced(asyncio.Protocol):
    """One connection, a request every `period` s from `due`, raw HTTP/1.1 keep-alive
    driven by the loop's timers: httpx, or a task per connection, would cost this
    process more than the server per request, and its lateness would count as latency."""

    def __init__(self, request: bytes, period: float, due: float, warm: float, end: float,
                 seen: dict, finished: asyncio.Future) -> None:
        self.request, self.period, self.due = request, period, due
        self.warm, self.end, self.seen, self.finished = warm, end, seen, finished
        self.loop = asyncio.get_running_loop()
        self.buffer = b""
        self.need: int | None = None  # bytes of the whole response, once its head is in
        self.free = self.sent = 0.0

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.free = self.loop.time()
        self.loop.call_at(self.due, self.send)

    def send(self) -> None:
        self.sent = self.loop.time()
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.need is None:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            lines = self.buffer[:head_end].split(b"\r\n")
            self.ok = b" 200 " in lines[0]
            self.need = head_end + 4 + next(
                (int(h[15:]) for h in lines[1:] if h[:15].lower() == b"content-length:"), 0)
        if len(self.buffer) < self.need:
            return
        done = self.loop.time()
        self.buffer, self.need = self.buffer[self.need:], None
        if self.due >= self.warm:
            if self.ok:
                self.seen["latency"].append(done - self.due)
                self.seen["late"].append(self.sent - max(self.due, self.free))
                self.seen["last"] = max(self.seen["last"], done)
            else:
                self.seen["errors"] += 1
        self.free = done
        self.due += self.period
        if self.due >= self.end:
            self.transport.close()
        elif self.due <= done:
            self.send()
        else:
            self.loop.call_at(self.due, self.send)

    def connection_lost(self, exc) -> None:
        if self.due < self.end:
            self.seen["errors"] += 1
        if not self.finished.done():
            self.finished.set_result(None)


async def _paced(url: str, clients: int, rate: float, seconds: float, path: str,
                 warmup: float = 1.0) -> dict:
    where = urlsplit(url)
    loop = asyncio.get_running_loop()
    request = f"GET {path} HTTP/1.1\r\nHost: {where.netloc}\r\n\r\n".encode()
    period = clients / rate
    start = loop.time() + 0.5 + clients * 0.001  # connections open before the first is due
    warm, end = start + warmup, start + warmup + seconds
    seen: dict = {"latency": [], "late": [], "errors": 0, "last": warm}
    finished, transports = [], []
    for i in range(clients):
        finished.append(loop.create_future())
        transport, _ = await loop.create_connection(
            lambda i=i: Paced(request, period, start + i * period / clients, warm, end, seen,
                               finished[i]), where.hostname, where.port)
        transports.append(transport)
    # a server far behind is still answering the backlog: past a grace, what is
    # unanswered is an error each (counted as the connection goes)
    await asyncio.wait(finished, timeout=end - loop.time() + max(30.0, seconds))
    for transport in transports:
        transport.abort()
    await asyncio.gather(*finished)
    q = statistics.quantiles(seen["latency"], n=1000) if len(seen["latency"]) > 1 else [0.0] * 999
    late = statistics.quantiles(seen["late"], n=100) if len(seen["late"]) > 1 else [0.0] * 99
    # answered per second, from the first due to the last answer: below the offered
    # rate when the server falls behind (and then the latencies grow with the run)
    answered = len(seen["latency"]) / max(seconds, seen["last"] - warm)
    return {"offered_per_s": rate, "requests_per_s": answered,
            "p50_ms": q[499] * 1000, "p99_ms": q[989] * 1000, "p999_ms": q[998] * 1000,
            "max_ms": max(seen["latency"], default=0.0) * 1000,
            "client_late_p99_ms": late[98] * 1000,
            "requests": len(seen["latency"]), "errors": seen["errors"]}


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
    subject = command_subject(facility, partitions)
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
    if argv and argv[0] == "paced":
        url, clients, rate, seconds, path = argv[1:]
        print(json.dumps(asyncio.run(_paced(url, int(clients), float(rate), float(seconds),
                                            path))))
        return 0
    url, clients, seconds, *paths = argv
    results = {p: asyncio.run(_load(url, int(clients), float(seconds), p)) for p in paths}
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
