"""Fairness under a burst: one identity asks 10x its rate, the others should not notice.

Issue #24: under a 10x burst from one identity, the other identities' p99 stays within
2x of their unloaded p99. The rate limiter (serve/ratelimit.py) keeps a bucket per
identity, so the burst empties its own bucket and is answered 429 past it; what is left
to measure is what those cheap refusals, and the burst's own allowance, cost everyone
else on the replica.

A system of its own (its start, ~50 s here, keeps this out of the quick bench: it runs
with `plumeline bench --fairness`) with tight identity limits (`identity=2R/2R`: twice the steady rate, so the
steady callers never meet their limit and the burst at 10R does) and `identities`
API keys, each asking GET `path` at R a second on its own connections, open loop
(bench/api.py's `Paced`: a latency counts from when the request was due). Phase one,
every identity steady: the others' p99 unloaded. Phase two, identity 0 at 10R, the
rest steady: the others' p99 under the burst, and what the burst got (answered, 429).
After a warm-up, three rounds of both, alternating. The figure is the ratio of the two
p99s, each pooled over the rounds; 2.0 is the bound. Each round's ratio is reported
beside it: on a shared machine the others' p99 moves by 2-4x from round to round on
its own, and that spread is what says how much the one figure can be trusted.

`python -m plumeline.infra.bench.fairness` runs it alone and prints the JSON
(`plumeline bench --fairness` runs it as a section); `... load URL RATE SECONDS PATH
ROUNDS` with the tokens as a JSON list on stdin is the load, in a process of its own.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from plumeline.infra.bench.api import Paced
from plumeline.infra.runtime.nats import free_port
from plumeline.infra.runtime.settings import Settings

__all__ = ["fairness_figures", "rows"]

BURST = 10  # the burst, as a multiple of the steady rate
_CONNECTIONS = 2  # per steady identity; the burster gets BURST times as many


async def _phase(url: str, path: str, groups: list[tuple[str, float, int]], seconds: float,
                 warmup: float = 1.0) -> list[dict]:
    """Each group (token, requests/s, connections) asks GET `path`, paced on its own
    connections, for `seconds` after `warmup`; what each group saw (bench/api.py's
    `Paced`: a non-200 answer, here a 429, is one of `errors`)."""
    where = urlsplit(url)
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.5
    warm, end = start + warmup, start + warmup + seconds
    seen, finished, transports = [], [], []
    for token, rate, connections in groups:
        if "\r" in token or "\n" in token:
            raise ValueError("a token is one header line")
        request = (f"GET {path} HTTP/1.1\r\nHost: {where.netloc}\r\n"
                   f"Authorization: Bearer {token}\r\n\r\n").encode()
        period = connections / rate
        group: dict = {"latency": [], "late": [], "errors": 0, "last": warm}
        seen.append(group)
        for i in range(connections):
            done = loop.create_future()
            finished.append(done)
            transport, _ = await loop.create_connection(
                lambda due=start + i * period / connections, g=group, d=done, p=period,
                r=request: Paced(r, p, due, warm, end, g, d), where.hostname, where.port)
            transports.append(transport)
    # past a grace, what is unanswered is an error each (counted as the connection goes)
    await asyncio.wait(finished, timeout=end - loop.time() + max(30.0, seconds))
    for transport in transports:
        transport.abort()
    await asyncio.gather(*finished)
    return seen


def _ms(latencies: list[float], q: int) -> float:
    if len(latencies) < 2:
        return float("nan")
    return statistics.quantiles(latencies, n=100)[q - 1] * 1000


async def _load(url: str, tokens: list[str], rate: float, seconds: float, path: str,
                rounds: int = 3) -> dict:
    """A warm-up (every identity steady, not counted), then `rounds` of phase one
    (every identity at `rate`) and phase two (the first at BURST x), alternating so
    that the machine's drift falls on both; each phase's latencies pooled over the
    rounds, and each round's p99 beside them."""
    def groups(burst: int) -> list[tuple[str, float, int]]:
        return [(tokens[0], rate * burst, _CONNECTIONS * burst),
                *((t, rate, _CONNECTIONS) for t in tokens[1:])]

    await _phase(url, path, groups(1), min(seconds, 3.0))
    seen: dict[str, list[list[dict]]] = {"unloaded": [], "burst": []}
    for _ in range(rounds):
        for name, burst in (("unloaded", 1), ("burst", BURST)):
            seen[name].append(await _phase(url, path, groups(burst), seconds))
    out = {}
    for name, runs in seen.items():
        others = [x for run in runs for g in run[1:] for x in g["latency"]]
        out[name] = {"others_p50_ms": _ms(others, 50), "others_p99_ms": _ms(others, 99),
                     "others_p99_ms_by_round": [
                         _ms([x for g in run[1:] for x in g["latency"]], 99) for run in runs],
                     "others_answered": len(others),
                     "others_refused": sum(g["errors"] for run in runs for g in run[1:]),
                     "burster_offered_per_s": rate * (BURST if name == "burst" else 1),
                     "burster_answered": sum(len(run[0]["latency"]) for run in runs),
                     "burster_refused": sum(run[0]["errors"] for run in runs)}
    return out


def fairness_figures(tmp: Path, identities: int = 5, rate: float = 25.0,
                     seconds: float = 8.0, path: str = "/alerts", rounds: int = 3) -> dict:
    """The two phases against a system of its own (Ray already started), its identity
    limit at twice `rate`; the load runs in a separate process, as bench/api.py's does."""
    from plumeline.infra.runtime.system import System
    from plumeline.serve.tokens import TokenKey

    limit = f"identity={2 * rate:g}/{2 * rate:g}"
    settings = Settings(data_dir=tmp / "fairness", port=free_port(), partitions=1, shards=1,
                        rate_limits=limit)
    system = System(settings).start(http=True)
    try:
        key = TokenKey.load_or_create(settings.api_key_path)
        expires = int(time.time()) + 3600
        tokens = [key.issue(f"fair-{i}", "viewer", expires) for i in range(identities)]
        out = subprocess.run(
            [sys.executable, "-m", "plumeline.infra.bench.fairness", "load", system.http_url,
             str(rate), str(seconds), path, str(rounds)],
            input=json.dumps(tokens), capture_output=True, text=True,
            timeout=seconds * 6 * rounds + 180, check=True)
        phases = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        system.stop()
    before, under = phases["unloaded"]["others_p99_ms"], phases["burst"]["others_p99_ms"]
    by_round = [b / u for u, b in zip(phases["unloaded"]["others_p99_ms_by_round"],
                                      phases["burst"]["others_p99_ms_by_round"])]
    return {"identities": identities, "rate_per_s": rate, "burst_x": BURST, "limits": limit,
            "path": path, "seconds": seconds, "rounds": rounds, **phases,
            "p99_ratio": under / before, "p99_ratio_by_round": by_round}


def rows(r: dict) -> list[tuple[str, str, str]]:
    """The table's lines for `plumeline bench` (none when the section did not run)."""
    f = r.get("fairness")
    if not f:
        return []
    b = f["burst"]
    return [
        (f"others' p99 ms, unloaded / under a {f['burst_x']}x burst",
         f"{f['unloaded']['others_p99_ms']:.1f} / {b['others_p99_ms']:.1f}",
         f"{f['p99_ratio']:.2f}x (bound 2x; rounds "
         f"{', '.join(f'{x:.2f}' for x in f.get('p99_ratio_by_round', []))}x); "
         f"{f['identities'] - 1} identities at {f['rate_per_s']:g}/s, {f['limits']}"),
        ("  the burst: answered / 429", f"{b['burster_answered']:,} / {b['burster_refused']:,}",
         f"{b['burster_offered_per_s']:g}/s offered; others refused {b['others_refused']}"),
    ]


def main(argv: list[str]) -> int:
    if argv and argv[0] == "load":
        url, rate, seconds, path, rounds = argv[1:]
        tokens = json.loads(sys.stdin.read())
        print(json.dumps(asyncio.run(_load(url, tokens, float(rate), float(seconds), path,
                                           int(rounds)))))
        return 0
    from plumeline.infra.runtime.ray_runtime import start_ray, stop_ray

    start_ray(Settings())
    try:
        with tempfile.TemporaryDirectory(prefix="plumeline-fairness-") as tmp:
            print(json.dumps(fairness_figures(Path(tmp))))  # the last line: after the logs
    finally:
        stop_ray()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
