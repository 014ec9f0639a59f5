"""`plumeline`: up, export, verify, bench, evaluate, forecast-backtest.

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
    # (audit: a proof that fails, a replay that differs — the same "do not trust this")
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
    up.add_argument("--shards", type=int, default=None,
                    help="shard hosts sharing the partitions (default: the Ray cluster's CPUs)")
    up.add_argument("--pin", action="append", default=None, metavar="FACILITY",
                    help="give FACILITY a shard host of its own (repeatable)")
    up.add_argument("--snapshot-every", type=int, default=None, metavar="N",
                    help="snapshot a partition's actors every N messages (default 1000; 0: never)")
    up.add_argument("--snapshot-every-s", type=float, default=None, metavar="T",
                    help="... or every T seconds of stream time (default 60)")
    up.add_argument("--api-replicas", type=int, default=None, metavar="N",
                    help="Serve replicas answering the HTTP API (default 1; each is a process "
                         "with its own view cache and live-stream feed)")
    up.add_argument("--mqtt-port", type=int, default=None,
                    help="MQTT listener of the embedded nats-server (default: a free port)")
    up.add_argument("--closed-reads", action="store_true", default=None,
                    help="every read needs at least a viewer token (for production; "
                         "env PLUMELINE_CLOSED_READS=1)")
    up.add_argument("--max-body", type=int, default=None, metavar="BYTES",
                    help="largest request body taken (default 1 MiB; /ingest 4 MiB)")

    export = sub.add_parser("export", help="write the ledger as a self-contained bundle")
    export.add_argument("--data-dir", type=Path, default=Path(".plumeline"))
    export.add_argument("-o", "--output", type=Path, required=True)

    verify = sub.add_parser("verify", help="verify a bundle or the ledger of a data dir")
    verify.add_argument("bundle", nargs="?", type=Path)
    verify.add_argument("--data-dir", type=Path)
    verify.add_argument("--public-key", help="expected public key (hex); default: the bundle's")

    audit = sub.add_parser("audit", help="check the ledger against READINGS")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    proof = audit_sub.add_parser("reading", help="prove a reading is in its sealed window")
    proof.add_argument("--facility", required=True)
    proof.add_argument("--sensor", required=True)
    proof.add_argument("--at", required=True, help="the reading's time: ISO-8601 or epoch ms")
    proof.add_argument("--data-dir", type=Path, default=Path(".plumeline"))
    rerun = audit_sub.add_parser("replay", help="re-run the actors over READINGS, compare")
    rerun.add_argument("--data-dir", type=Path, default=Path(".plumeline"))

    bench = sub.add_parser("bench", help="throughput of the whole loop next to the raw pipe")
    bench.add_argument("--quick", action="store_true")
    bench.add_argument("--json", type=Path, help="write the figures as JSON here")
    bench.add_argument("--facilities", type=int, default=None)
    bench.add_argument("--sensors-per-facility", type=int, default=None)
    bench.add_argument("--seconds", type=float, default=None)

    token = sub.add_parser("token", help="API tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    create = token_sub.add_parser("create", help="print a bearer token for the HTTP API")
    create.add_argument("--role", required=True,
                        choices=["viewer", "operator", "auditor", "admin", "device"])
    create.add_argument("--user", required=True)
    create.add_argument("--ttl", type=int, default=30 * 86_400, help="seconds (default 30 days)")
    create.add_argument("--facility", action="append", default=None, metavar="F",
                        help="a facility the device may post readings for (repeatable; "
                             "required for --role device)")
    create.add_argument("--data-dir", type=Path, default=Path(".plumeline"))
    keys = token_sub.add_parser("keys", help="list the token keys still accepted")
    rotate = token_sub.add_parser("rotate", help="sign new tokens with a new key; the old "
                                  "key's tokens stay valid until it is retired")
    retire = token_sub.add_parser("retire", help="stop accepting tokens of a key")
    retire.add_argument("kid", help="the key's id, as `token keys` lists it")
    for p_ in (keys, rotate, retire):
        p_.add_argument("--data-dir", type=Path, default=Path(".plumeline"))

    evaluate = sub.add_parser("evaluate",
                              help="the actors against the simulator's injected anomalies")
    evaluate.add_argument("--seed", type=int, default=7)
    evaluate.add_argument("--duration", default="6h", help="event time: 90s, 30m, 6h, 1d")
    evaluate.add_argument("--facilities", type=int, default=8)
    evaluate.add_argument("--sensors-per-facility", type=int, default=9)
    evaluate.add_argument("--json", type=Path, help="write the figures as JSON here")

    backtest = sub.add_parser("forecast-backtest",
                              help="the emissions forecaster against seasonal naive")
    backtest.add_argument("--seed", type=int, default=7)
    backtest.add_argument("--days", type=int, default=42, help="days of simulated history")
    backtest.add_argument("--warmup", type=int, default=14,
                          help="days of history before the first forecast origin")
    backtest.add_argument("--facilities", type=int, default=2,
                          help="a capture plant and a factory by default")
    backtest.add_argument("--json", type=Path, help="write the figures as JSON here")

    nab = sub.add_parser("nab", help="run the production detector on NAB data and score it")
    nab.add_argument("--data", type=Path, required=True, help="NAB data: <category>/<name>.csv")
    nab.add_argument("--out", type=Path, required=True, help="results go to OUT/plumeline/")
    nab.add_argument("--detector", choices=("likelihood", "context", "max"), default="likelihood",
                     help="the score to rank rows by (docs/detection.md)")
    nab.add_argument(
        "--labels", type=Path, help="label windows (default: DATA/../labels/combined_windows.json)"
    )
    from plumeline.infra.score import add_arguments  # plumeline score: its own module

    add_arguments(sub.add_parser("score", help="run the production detectors over a table"))
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from plumeline.infra import logs

    logs.configure()
    try:
        match args.command:
            case "up":
                from plumeline.infra.up import run_up

                return run_up(args)
            case "export":
                from plumeline.infra.audit import export

                return export(args.data_dir, args.output)
            case "verify":
                from plumeline.infra.audit import verify

                return verify(args.bundle, args.data_dir, args.public_key)
            case "audit" if args.audit_command == "reading":
                from plumeline.infra.audit_reading import reading

                return reading(args.data_dir, args.facility, args.sensor, args.at)
            case "audit":
                from plumeline.infra.audit_replay import replay

                return replay(args.data_dir)
            case "bench":
                from plumeline.infra.bench import run_bench

                return run_bench(args)
            case "token":
                from plumeline.infra.tokens import token_command

                return token_command(args)
            case "evaluate":
                from plumeline.infra.evaluate import run_evaluate

                return run_evaluate(args)
            case "forecast-backtest":
                from plumeline.infra.forecast_backtest import run_forecast_backtest

                return run_forecast_backtest(args)
            case "nab":
                from plumeline.infra.nab import run_nab

                return run_nab(args)
            case "score":
                from plumeline.infra.score import run_score

                return run_score(args)
    except KeyboardInterrupt:
        return ExitStatus.INTERRUPTED
    except UserError as exc:
        print(f"plumeline {args.command}: {exc}", file=sys.stderr)
        return ExitStatus.ERROR
    return ExitStatus.ERROR


if __name__ == "__main__":
    # `python -m plumeline.infra.cli` runs this file as __main__: go through the module, so that
    # the UserError other modules raise is the one main() catches
    from plumeline.infra.cli import main as _main

    sys.exit(_main())
