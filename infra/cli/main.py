"""`plumeline`: up, export, verify, bench, evaluate, forecast-backtest.

`main(argv)` returns an ExitStatus; the console script is a shim around it, so tests
call `main` directly. Errors a user can act on are one clear line, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from plumeline.infra.runtime.errors import ExitStatus, UserError

__all__ = ["main"]


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
    up.add_argument("--history", type=float, default=None, metavar="HOURS",
                    help="hours of simulated past replayed before going live, on a new data "
                         "dir (default: two days up to the last midnight and today so far, "
                         "what a forecast needs; 0: none)")
    up.add_argument("--nats", metavar="URL[,URL...]",
                    help="URL of a NATS server, or a cluster's URLs comma-separated, with "
                         "credentials: nats://USER:PASSWORD@HOST:PORT or nats://TOKEN@HOST:PORT; "
                         "every component logs in with them (default: the embedded nats-server, "
                         "one identity per component, made in DATA_DIR/credentials). "
                         "Without credentials, a warning: anyone reaching it can write")
    up.add_argument("--replicas", type=int, default=None, metavar="N",
                    help="copies of each stream on the NATS cluster (default 1; 3 for a "
                         "cluster of 3 or more)")
    up.add_argument("--ray-address", default=None, metavar="ADDR",
                    help="join this Ray cluster, e.g. 10.0.0.1:6379 (default: $RAY_ADDRESS, "
                         "or a private local Ray)")
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
    up.add_argument("--rate-limits", default=None, metavar="SPEC",
                    help="requests per second/burst, e.g. identity=100/500,address=200/1000,"
                         "device=50/200 (default generous: serve/ratelimit.py)")
    up.add_argument("--allow-private-webhooks", action="store_true", default=None,
                    help="let webhooks reach loopback and private networks (a lab, not a plant)")

    nats_config = sub.add_parser("nats-config",
                                 help="write the configuration files of a NATS cluster")
    nats_config.add_argument("--nodes", type=int, default=3)
    nats_config.add_argument("--out", type=Path, required=True, help="nats-N.conf go here")
    nats_config.add_argument("--hosts", default=None,
                             help="the machines' hostnames, comma-separated (default nats-1,...)")
    nats_config.add_argument("--port", type=int, default=4222, help="client port")
    nats_config.add_argument("--cluster-port", type=int, default=6222, help="route port")
    nats_config.add_argument("--store-dir", default="/var/lib/plumeline/nats",
                             help="node N stores its streams in STORE_DIR/nats-N")
    nats_config.add_argument("--monitor-port", type=int, default=8222,
                             help="HTTP monitoring port (/healthz)")
    nats_config.add_argument("--bind-hosts", action="store_true",
                             help="each node listens on its --hosts address only, not on every "
                                  "interface: several nodes on one machine (127.0.0.2,...)")

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
    who = audit_sub.add_parser("identities", help="who could do what at a time, from the ledger")
    who.add_argument("--at", default=None, help="ISO-8601 or epoch ms (default now)")
    who.add_argument("--data-dir", type=Path, default=Path(".plumeline"))

    bench = sub.add_parser("bench", help="throughput of the whole loop next to the raw pipe")
    bench.add_argument("--quick", action="store_true")
    bench.add_argument("--fairness", action="store_true",
                       help="also one identity's 10x burst against the others' p99 (~90 s)")
    bench.add_argument("--json", type=Path, help="write the figures as JSON here")
    bench.add_argument("--facilities", type=int, default=None)
    bench.add_argument("--sensors-per-facility", type=int, default=None)
    bench.add_argument("--seconds", type=float, default=None)
    bench.add_argument("--soak", metavar="DURATION", default=None,
                       help="instead: run 10,000 sensors at 1 Hz for DURATION (90s, 30m, 6h), "
                            "sampling memory and lag every --sample (default 1m)")
    bench.add_argument("--sample", metavar="DURATION", default="1m")

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
    listed = token_sub.add_parser("list", help="the API keys issued, and which are revoked")
    revoke = token_sub.add_parser("revoke", help="refuse an API key from now on")
    revoke.add_argument("id", help="the key's id, as `token list` shows it")
    for p_ in (keys, rotate, retire, listed, revoke):
        p_.add_argument("--data-dir", type=Path, default=Path(".plumeline"))

    user = sub.add_parser("user", help="people who sign in to the dashboard and API")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    add = user_sub.add_parser("add", help="add a user; the password is asked for "
                              "(or read from stdin when it is not a terminal)")
    add.add_argument("name")
    add.add_argument("--role", required=True)
    disable = user_sub.add_parser("disable", help="refuse the user's sign-ins and tokens")
    disable.add_argument("name")
    set_role = user_sub.add_parser("set-role", help="change a user's role")
    set_role.add_argument("name")
    set_role.add_argument("role")
    for p_ in (add, disable, set_role, user_sub.add_parser("list", help="the users")):
        p_.add_argument("--data-dir", type=Path, default=Path(".plumeline"))

    device = sub.add_parser(
        "device", help="identities devices publish readings with",
        description="A device logs in to the embedded nats-server (NATS or MQTT) with an "
                    "identity of its own, which may publish its facility's readings and "
                    "nothing else. `device add` writes its credentials to "
                    "DATA_DIR/credentials/device-FACILITY.json (user, password, subject, "
                    "MQTT topic) and has a running `plumeline up` load them.")
    device_sub = device.add_subparsers(dest="device_command", required=True)
    add_device = device_sub.add_parser(
        "add", help="make FACILITY's device identity, and load it into the running server")
    add_device.add_argument("facility", metavar="FACILITY")
    add_device.add_argument("--data-dir", type=Path, default=Path(".plumeline"))

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
    nab.add_argument("--detector", choices=("likelihood", "context", "max", "ensemble",
                                                 "compact"),
                     default="likelihood", help="the score to rank rows by (docs/detection.md)")
    nab.add_argument(
        "--labels", type=Path, help="label windows (default: DATA/../labels/combined_windows.json)"
    )
    # numpy is imported only when `score` runs: verify's workers fork from a process
    # without BLAS threads
    score = sub.add_parser("score", help="run the production detectors over a table")
    score.add_argument("file", type=Path, help="delimited file: a timestamp column, numeric columns")
    score.add_argument("--out", type=Path, required=True, help="timestamp,anomaly_score,alert")
    score.add_argument("--time-column", help="default: timestamp/time/datetime/date, else the first")
    score.add_argument("--sep", default=",", help="column separator (default ,)")
    score.add_argument("--train-rows", type=int, default=None, metavar="N",
                       help="the first N rows are normal: the facility model learns from them only")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from plumeline.infra.runtime import logs

    logs.configure()
    try:
        match args.command:
            case "up":
                from plumeline.infra.cli.up import run_up

                return run_up(args)
            case "nats-config":
                from plumeline.infra.runtime.nats_cluster import run_nats_config

                return run_nats_config(args)
            case "export":
                from plumeline.infra.cli.audit import export

                return export(args.data_dir, args.output)
            case "verify":
                from plumeline.infra.cli.audit import verify

                return verify(args.bundle, args.data_dir, args.public_key)
            case "audit" if args.audit_command == "reading":
                from plumeline.infra.cli.audit_reading import reading

                return reading(args.data_dir, args.facility, args.sensor, args.at)
            case "audit" if args.audit_command == "identities":
                from plumeline.infra.cli.audit_identities import identities

                return identities(args.data_dir, args.at)
            case "audit":
                from plumeline.infra.cli.audit_replay import replay

                return replay(args.data_dir)
            case "bench":
                from plumeline.infra.bench.run import run_bench

                return run_bench(args)
            case "token":
                from plumeline.infra.cli.tokens import token_command

                return token_command(args)
            case "user":
                from plumeline.infra.cli.users import user_command

                return user_command(args)
            case "device":
                from plumeline.infra.cli.devices import add

                return add(args)
            case "evaluate":
                from plumeline.infra.cli.evaluate import run_evaluate

                return run_evaluate(args)
            case "forecast-backtest":
                from plumeline.infra.cli.forecast_backtest import run_forecast_backtest

                return run_forecast_backtest(args)
            case "nab":
                from plumeline.infra.cli.nab import run_nab

                return run_nab(args)
            case "score":
                from plumeline.infra.cli.score import run_score

                return run_score(args)
    except KeyboardInterrupt:
        return ExitStatus.INTERRUPTED
    except UserError as exc:
        print(f"plumeline {args.command}: {exc}", file=sys.stderr)
        return ExitStatus.ERROR
    return ExitStatus.ERROR

