"""What a call from one async Ray actor to another costs, by Ray and by NATS request.

`python -m plumeline.infra.bench.calls [CALLS] [ROUNDS]` starts a private Ray and an embedded
nats-server, then a "writer" actor that answers both a Ray method call and requests
on a NATS subject, and a "caller" actor that makes CALLS calls of 2 KB in turn, by
each way alternately for ROUNDS rounds, and prints p50 / p90 / p99 in ms: the round
trip of a shard host's append without the ledger's own work (docs/benchmarks.md,
"Appends by NATS request"). Run it beside busy processes to see the loaded figure.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import nats
import ray

from plumeline.infra.runtime.nats import NatsServer

__all__ = ["run"]

SUBJECT = "bench.calls"
PAYLOAD = b"x" * 2000


@ray.remote
class _Answering:
    async def start(self, url: str) -> None:
        self.nc = await nats.connect(url)

        async def answer(msg) -> None:
            await self.nc.publish(msg.reply, b"7")

        await self.nc.subscribe(SUBJECT, cb=answer)

    async def call(self, payload: bytes) -> int:
        return 7


@ray.remote
class _Calling:
    async def run(self, url: str, answering, calls: int, way: str) -> list[float]:
        nc = await nats.connect(url)
        took = []
        try:
            for _ in range(calls):
                started = time.perf_counter()
                if way == "ray":
                    await answering.call.remote(PAYLOAD)
                else:
                    await nc.request(SUBJECT, PAYLOAD, timeout=10)
                took.append((time.perf_counter() - started) * 1000)
        finally:
            await nc.close()
        return sorted(took)


def run(calls: int = 2000, rounds: int = 2) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp, NatsServer(Path(tmp) / "nats") as server:
        ray.init(address="local", num_cpus=2, include_dashboard=False,
                 logging_level="WARNING")
        try:
            answering = _Answering.remote()
            ray.get(answering.start.remote(server.url))
            calling = _Calling.remote()
            for _ in range(rounds):
                for way in ("nats", "ray"):
                    took = ray.get(calling.run.remote(server.url, answering, calls, way))
                    rows.append({"way": way, **{f"p{q}_ms": round(took[int(len(took) * q / 100)], 3)
                                                for q in (50, 90, 99)}})
                    print(rows[-1], flush=True)
        finally:
            ray.shutdown()
    return rows


if __name__ == "__main__":
    run(*(int(a) for a in sys.argv[1:3]))
