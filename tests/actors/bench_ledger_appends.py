"""The bench's ledger appends (4 callers of 1,000-event batches, `bench_parts._appended`)
with the CPU time each side spent, and where the writer's went.

    .venv/bin/python tests/actors/bench_ledger_appends.py [appends] [--parts]

Not collected by pytest (no test_ prefix). Prints appends/s, the CPU time a record of
this process (the writer and its callers) and of nats-server (RUSAGE_CHILDREN, once it
is stopped, its start included). `--parts` adds the writer thread's CPU time
(`time.thread_time`) in decoding the envelopes, sealing and building the frames, and in
the garbage collector (a collection is also counted in the part it interrupts). The
file imports only names main has too: run it with another worktree's python for an A/B,
alternately, since on a shared machine wall-clock rates swing more than the difference.
"""

from __future__ import annotations

import asyncio
import gc
import resource
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import plumeline.actors.batching as batching
import plumeline.actors.ledger_writer as ledger_writer
from plumeline.events import Ledger, encode_envelopes
from plumeline.infra.bench import parts as bench_parts
from plumeline.infra.runtime.nats import NatsServer

CPU = defaultdict(float)


def _timed(function, part: str):
    def timed(*args, **kwargs):
        started = time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            CPU[part] += time.thread_time() - started
    return timed


def _count_parts() -> None:
    ledger_writer.decode_envelopes = _timed(ledger_writer.decode_envelopes, "decode")
    batching.frames = _timed(batching.frames, "frames")
    for name in ("seal", "seal_records"):  # main's writer calls seal
        if hasattr(Ledger, name):
            setattr(Ledger, name, _timed(getattr(Ledger, name), "seal"))
    started = [0.0]

    def collecting(phase: str, info: dict) -> None:
        if phase == "start":
            started[0] = time.thread_time()
        else:
            CPU[f"gc, generation {info['generation']}"] += time.thread_time() - started[0]

    gc.callbacks.append(collecting)


def main(appends: int, count_parts: bool) -> None:
    batches = [encode_envelopes(bench_parts._envelopes(min(1000, appends - i), i))
               for i in range(0, appends, 1000)]
    callers = bench_parts.APPEND_CALLERS
    if count_parts:
        _count_parts()
    with tempfile.TemporaryDirectory() as tmp, NatsServer(Path(tmp) / "nats") as server:
        before = resource.getrusage(resource.RUSAGE_SELF)
        elapsed, _ = asyncio.run(bench_parts._appended(
            server.url, Path(tmp) / "key", [batches[k::callers] for k in range(callers)],
            appends))
        after = resource.getrusage(resource.RUSAGE_SELF)
    server_cpu = sum(resource.getrusage(resource.RUSAGE_CHILDREN)[:2])
    writer_cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    print(f"{time.strftime('%H:%M:%S', time.gmtime())} appends/s {appends / elapsed:,.0f}, "
          f"µs a record: writer's process {writer_cpu / appends * 1e6:.2f}, "
          f"nats-server {server_cpu / appends * 1e6:.2f}")
    for part, seconds in sorted(CPU.items()):
        print(f"  {part}: {seconds / appends * 1e6:.2f} µs a record")


if __name__ == "__main__":
    main(int(next((a for a in sys.argv[1:] if a.isdigit()), 200_000)), "--parts" in sys.argv)
