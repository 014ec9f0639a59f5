"""HTTP load from a separate process: `python -m infra.bench_api URL CLIENTS SECONDS PATH…`.

Prints one JSON object: per path, requests/s, p50 and p99 in ms, and errors. Requests
go only to the given URL (the benchmark passes the system it started on 127.0.0.1);
the loop is bounded by time and stops by itself.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time

import httpx


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


def main(argv: list[str]) -> int:
    url, clients, seconds, *paths = argv
    results = {p: asyncio.run(_load(url, int(clients), float(seconds), p)) for p in paths}
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
