"""Throughput of Projector.apply and latency of the alert queries, on embedded chDB.

    .venv/bin/python tests/projections/bench_projections.py [records] [batch]

Not collected by pytest (no test_ prefix). The ledger is alert lifecycles over 50
facilities x 20 sensors: raised, acknowledged, cleared, so `records` alert events.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time

from plumeline.events import (
    AlertAcknowledged,
    AlertCleared,
    AlertRaised,
    Causation,
    Envelope,
    Ledger,
)
from plumeline.projections import Projector, alert, alerts, open_store

T0 = 1_767_225_600_000
SEVERITIES = ("warning", "minor", "major", "critical")


def lifecycle_bodies(n: int):
    for i in range(n):
        a, step = divmod(i, 3)
        f, s = f"f{a % 50}", f"s{a % 1000}"
        aid = f"alert-{a}"
        if step == 0:
            yield AlertRaised(
                facility=f,
                alert_id=aid,
                sensor=s,
                kind="deviation",
                severity=SEVERITIES[a % 4],
                value=40.0 + a % 7,
                baseline=10.0,
                score=9.5,
                model="robust-baseline",
                message=f"{s} high",
            )
        elif step == 1:
            yield AlertAcknowledged(
                facility=f, alert_id=aid, sensor=s, kind="deviation", user="olga"
            )
        else:
            yield AlertCleared(facility=f, alert_id=aid, sensor=s, kind="deviation", value=11.0)


def sealed(n: int) -> list[tuple[int, bytes]]:
    ledger = Ledger()
    envelopes = [
        Envelope.wrap(body, time=T0 + i * 1000, causation=Causation("READINGS", i + 1, 0))
        for i, body in enumerate(lifecycle_bodies(n))
    ]
    return [(r.seq, r.data) for r in ledger.seal(envelopes)]


def p50_ms(fn, runs: int = 50) -> float:
    fn()  # warm up
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


def main(n: int = 100_000, batch: int = 1_000) -> None:
    records = sealed(n)
    with tempfile.TemporaryDirectory() as path, open_store(path=path) as store:
        projector = Projector(store)
        projector.rebuild()
        t = time.perf_counter()
        for i in range(0, n, batch):
            projector.apply(records[i : i + batch])
        elapsed = time.perf_counter() - t
        assert projector.checkpoint() == n
        print(
            f"apply: {n} records in batches of {batch}: {elapsed:.2f} s, "
            f"{n / elapsed:,.0f} records/s"
        )
        last = n // 3 - 1
        for name, fn in [
            ("alerts()", lambda: alerts(store)),
            ("alerts(state='active')", lambda: alerts(store, state="active")),
            (
                "alerts(severity='critical', facility='f7')",
                lambda: alerts(store, severity="critical", facility="f7"),
            ),
            ("alerts(as_of_seq=n//2)", lambda: alerts(store, as_of_seq=n // 2)),
            ("alert(id)", lambda: alert(store, f"alert-{last}")),
        ]:
            print(f"p50 {name}: {p50_ms(fn):.1f} ms")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
