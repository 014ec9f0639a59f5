"""CPU time a record of `verify_bundle` and `Ledger.seal`, old code against new.

    .venv/bin/python tests/events/bench_verify.py bundle PATH [records]
    .venv/bin/python tests/events/bench_verify.py verify PATH [processes] [--old DIR]
    .venv/bin/python tests/events/bench_verify.py seal [--old DIR]

Not collected by pytest (no test_ prefix). The records are the bench's `AlertRaised`
envelopes (`bench_parts._envelopes`, ~545 bytes a record). `--old DIR` imports
`verify.py` or `ledger.py` from DIR instead, copies of an older commit
(`git show COMMIT:events/verify.py > DIR/verify.py`): run old and new alternately, since on a shared machine
wall-clock rates swing more than the difference. CPU time counts the worker processes
too (RUSAGE_CHILDREN), and holds still better than wall-clock time under load.
"""

from __future__ import annotations

import importlib
import resource
import sys
import time

from plumeline.events import Ledger, SigningKey, decode_envelopes, encode_envelopes, write_bundle


def _envelopes(n: int, start: int):
    # imported only here: plumeline.infra starts threads, and a process with threads
    # gets its verify workers from a fork server, whose CPU time RUSAGE_CHILDREN misses
    from plumeline.infra.bench.parts import _envelopes

    return _envelopes(n, start)


def _module(name: str, old: str | None):
    if old is None:
        return importlib.import_module(f"plumeline.events.{name}")
    sys.path.insert(0, old)  # DIR/verify.py imported as `verify`, so workers find it too
    return importlib.import_module(name)


def _cpu() -> float:
    own, kids = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                      resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def bundle(path: str, records: int = 500_000) -> None:
    ledger, sealed = Ledger(), []
    for i in range(0, records, 10_000):
        sealed += [r.data for r in ledger.seal(_envelopes(min(10_000, records - i), i))]
    key = SigningKey.generate()
    with open(path, "wb") as fp:
        write_bundle(fp, key.public_key_hex, sealed,
                     [key.sign_head(ledger.size, ledger.tree.root(), 1_767_225_600_000)])


def verify(path: str, processes: int | None, old: str | None) -> None:
    verify_bundle = _module("verify", old).verify_bundle
    wall, cpu = time.perf_counter(), _cpu()
    report = verify_bundle(path, processes=processes)
    wall, cpu = time.perf_counter() - wall, _cpu() - cpu
    assert report.ok, report.problem
    n = report.records
    print(f"verify {'old' if old else 'new'} processes={processes or 'default'}: {n} records, "
          f"{n / wall:,.0f}/s, {cpu / n * 1e6:.2f} us CPU a record")


def seal(old: str | None, batches: int = 100) -> None:
    payloads = [encode_envelopes(_envelopes(1000, i * 1000)) for i in range(batches)]
    ledger_class, best = _module("ledger", old).Ledger, float("inf")
    for _ in range(3):
        ledger, started = ledger_class(), time.process_time()
        for payload in payloads:
            ledger.seal(decode_envelopes(payload))
        best = min(best, time.process_time() - started)
    print(f"seal {'old' if old else 'new'}: decode + seal {best / (batches * 1000) * 1e6:.2f} "
          "us a record")


if __name__ == "__main__":
    args = sys.argv[1:]
    old = args[args.index("--old") + 1] if "--old" in args else None
    args = [a for a in args if a not in ("--old", old)]
    match args:
        case ["bundle", path, *records]:
            bundle(path, *map(int, records))
        case ["verify", path, *processes]:
            verify(path, int(processes[0]) if processes else None, old)
        case ["seal"]:
            seal(old)
        case _:
            sys.exit(__doc__)
