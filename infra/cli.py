"""`plumeline`: up, export, verify, bench.

`main(argv)` returns an ExitStatus; the console script is a shim around it, so tests
call `main` directly. Errors a user can act on are one clear line, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from enum import IntEnum
from pathlib import Path

__all__ = ["ExitStatus", "main"]


class ExitStatus(IntEnum):
    OK = 0
    TAMPERED = 1  # verify found the ledger altered; the message names the first bad record
    ERROR = 2  # could not run: unreadable input, no data, a service that would not start
    INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C


class UserError(Exception):
    """A failure the user can act on; printed as one line."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="plumeline", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run the whole system")
    up.add_argument("--data-dir", type=Path, default=Path(".plumeline"))
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=8000)
    up.add_argument("--facilities", type=int, default=3)
    up.add_argument("--sensors-per-facility", type=int, default=8)
    up.add_argument("--rate", type=float, default=1.0, help="readings per sensor per second")
    up.add_argument("--seed", type=int, default=7)
    up.add_argument("--no-simulator", action="store_true")
    up.add_argument("--nats", help="URL of a NATS server or cluster (default: embedded)")
    up.add_argument("--clickhouse", help="URL of a ClickHouse server (default: embedded chDB)")
    up.add_argument("--shards", type=int, default=None, help="shard hosts (default 1)")

    export = sub.add_parser("export", help="write the ledger as a self-contained bundle")
    export.add_argument("--data-dir", type=Path, default=Path(".plumeline"))
    export.add_argument("-o", "--output", type=Path, required=True)

    verify = sub.add_parser("verify", help="verify a bundle or the ledger of a data dir")
    verify.add_argument("bundle", nargs="?", type=Path)
    verify.add_argument("--data-dir", type=Path)
    verify.add_argument("--public-key", help="expected public key (hex); default: the bundle's")

    bench = sub.add_parser("bench", help="throughput of the whole loop next to the raw pipe")
    bench.add_argument("--quick", action="store_true")
    bench.add_argument("--json", type=Path, help="write the figures as JSON here")
    bench.add_argument("--facilities", type=int, default=None)
    bench.add_argument("--sensors-per-facility", type=int, default=None)
    bench.add_argument("--seconds", type=float, default=None)

    nab = sub.add_parser("nab", help="run the production detector on NAB data and score it")
    nab.add_argument("--data", type=Path, required=True, help="NAB data: <category>/<name>.csv")
    nab.add_argument("--out", type=Path, required=True, help="results go to OUT/plumeline/")
    nab.add_argument(
        "--labels", type=Path, help="label windows (default: DATA/../labels/combined_windows.json)"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from infra import logs

    logs.configure()
    try:
        match args.command:
            case "up":
                from infra.up import run_up

                return run_up(args)
            case "export":
                from infra.audit import export

                return export(args.data_dir, args.output)
            case "verify":
                from infra.audit import verify

                return verify(args.bundle, args.data_dir, args.public_key)
            case "bench":
                from infra.bench import run_bench

                return run_bench(args)
            case "nab":
                from infra.nab import run_nab

                return run_nab(args)
    except KeyboardInterrupt:
        return ExitStatus.INTERRUPTED
    except UserError as exc:
        print(f"plumeline {args.command}: {exc}", file=sys.stderr)
        return ExitStatus.ERROR
    return ExitStatus.ERROR


if __name__ == "__main__":
    sys.exit(main())
