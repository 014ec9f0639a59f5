"""The one place that configures structlog (global state lives here and only here).

A terminal gets coloured key=value lines; anything else (CI, a log shipper) gets JSON.

The CLI's process chooses, and every Ray worker it starts (shard hosts, the ledger
writer, the projection runner, the notifier, Serve's replicas) is configured the same
way as it starts: `ray_options()` puts `configure_worker` in the job's runtime_env as
Ray's worker_process_setup_hook, with the choice in two environment variables, so
`plumeline up` writes one stream in one format. A worker's stderr is a file that Ray
forwards to the driver's; in JSON, Ray's "(ShardHost pid=…)" prefix would break every
line, so the job gets a Ray LoggingConfig, which drops the prefix (and puts Ray's own
warnings in JSON too), and each JSON line says its process's `pid` itself.
"""

from __future__ import annotations

import logging
import os
import sys

import structlog

__all__ = ["configure", "configure_worker", "ray_options", "serve_logging"]

FORMAT_VAR = "PLUMELINE_LOG_FORMAT"  # "json" or "console", set for Ray's workers
LEVEL_VAR = "PLUMELINE_LOG_LEVEL"  # a logging level number
HOOK = "plumeline.infra.runtime.logs.configure_worker"
RAY_LEVEL = "WARNING"  # Ray's and Serve's own logs: what needs attention, not chatter

_chosen: tuple[bool, int] | None = None  # (json, level) of the last `configure`


def configure(*, json: bool | None = None, level: int = logging.INFO,
              pid: bool = False) -> None:
    """Set structlog up for this process; `pid` adds the process id to every line
    (for Ray's workers, whose lines reach the driver's stream without a prefix)."""
    global _chosen
    if json is None:
        json = not sys.stderr.isatty()
    _chosen = (json, level)
    # Ray folds worker lines that differ only in digits (shard-0 and shard-1, seq 41 and
    # 42) into one "[repeated 2x]" line: read when ray is imported, which comes later.
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    renderer = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            *([_add_pid] if pid else []),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # file.write, not print: a Serve replica replaces builtins.print with one that
        # logs the repr of its arguments, ('{"event": …}',)
        logger_factory=_StderrLogger,
        cache_logger_on_first_use=True,
    )


def _add_pid(_logger, _method: str, event: dict) -> dict:
    event["pid"] = os.getpid()
    return event


def configure_worker() -> None:
    """Ray's worker_process_setup_hook: the format and level the driver chose."""
    json = os.environ.get(FORMAT_VAR, "json") != "console"
    # on a terminal Ray's "(ShardHost pid=…)" prefix already says which process
    configure(json=json, level=int(os.environ.get(LEVEL_VAR, logging.INFO)), pid=json)


def _choice() -> tuple[bool, int]:
    return _chosen if _chosen is not None else (not sys.stderr.isatty(), logging.INFO)


def ray_options() -> dict:
    """Keyword arguments for `ray.init`: the hook and the choice in the job's
    runtime_env, and in JSON a LoggingConfig, without which Ray prefixes each line."""
    import ray

    json, level = _choice()
    options: dict = {"runtime_env": {
        "worker_process_setup_hook": HOOK,
        "env_vars": {FORMAT_VAR: "json" if json else "console", LEVEL_VAR: str(level)},
    }}
    if json:
        options["logging_config"] = ray.LoggingConfig(encoding="JSON", log_level=RAY_LEVEL)
    # this process's Serve logger, set up (INFO, text) when ray.serve was imported:
    # "Started Serve", "Application ... is ready" are for `up` to say, once
    logging.getLogger("ray.serve").setLevel(RAY_LEVEL)
    return options


def serve_logging() -> dict:
    """Serve's LoggingConfig for its controller, proxies and replicas: the same
    encoding, Serve's own lines at WARNING, and no access log (a line per request)."""
    json, _ = _choice()
    return {"encoding": "JSON" if json else "TEXT", "log_level": RAY_LEVEL,
            "enable_access_log": False}


class _StderrLogger:
    """structlog's WriteLogger, but to whatever `sys.stderr` is when a line is written,
    not when the first logger was made (loggers are cached, and a command run
    in-process, a test's, swaps stderr), and picklable: Ray pickles a class made at run
    time (`resuming`) by value, with the module loggers its methods refer to."""

    def __init__(self, *_args) -> None:
        pass

    def msg(self, message: str) -> None:
        stream = sys.stderr
        stream.write(message + "\n")
        stream.flush()

    log = debug = info = warn = warning = msg
    fatal = failure = err = error = critical = exception = msg
