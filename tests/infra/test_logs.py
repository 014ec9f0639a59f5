"""infra/runtime/logs.py: every process of `plumeline up` logs in the format the CLI chose,
with its bound context; a Ray worker started by `start_ray` included."""

from __future__ import annotations

import json
import logging
import os
import sys

import pytest
import ray
import structlog
from ray.serve.schema import LoggingConfig

from plumeline.infra.runtime import logs, loopback


@pytest.fixture(autouse=True)
def _keep_the_sessions_choice(monkeypatch):
    """`configure` remembers its choice for `start_ray`: the session's Ray is not ours."""
    monkeypatch.setattr(logs, "_chosen", logs._chosen)


def test_a_worker_configured_by_the_hook_writes_json_lines_with_its_context(
        monkeypatch, capsys):
    monkeypatch.setenv(logs.FORMAT_VAR, "json")
    monkeypatch.setenv(logs.LEVEL_VAR, str(logging.INFO))
    logs.configure_worker()
    log = structlog.get_logger("plumeline.shard").bind(shard="shard-0", lane="shard-p3")
    log.debug("not_shown")
    log.info("frame_refused", facility="kiln-2", seq=41)
    (line,) = capsys.readouterr().err.splitlines()
    event = json.loads(line)
    assert event.items() >= {"event": "frame_refused", "level": "info", "shard": "shard-0",
                             "lane": "shard-p3", "facility": "kiln-2", "seq": 41,
                             "pid": os.getpid()}.items()
    assert event["timestamp"].endswith("Z")


def test_on_a_terminal_the_workers_write_readable_lines(monkeypatch, capsys):
    monkeypatch.setenv(logs.FORMAT_VAR, "console")
    monkeypatch.setenv(logs.LEVEL_VAR, str(logging.WARNING))
    logs.configure_worker()
    log = structlog.get_logger("plumeline.ledger")
    log.info("ledger_recovered", size=3)
    log.warning("tree_head_failed", error="disk full")
    (line,) = capsys.readouterr().err.splitlines()
    assert "tree_head_failed" in line and "error='disk full'" in line and "{" not in line
    assert "pid=" not in line  # Ray's prefix names the process


def test_ray_options_put_the_hook_and_the_choice_in_the_runtime_env():
    logs.configure(json=True, level=logging.DEBUG)
    options = logs.ray_options()
    env = options["runtime_env"]
    assert env["worker_process_setup_hook"] == "plumeline.infra.runtime.logs.configure_worker"
    assert env["env_vars"].items() >= {logs.FORMAT_VAR: "json",
                                       logs.LEVEL_VAR: str(logging.DEBUG)}.items()
    assert options["logging_config"].encoding == "JSON"  # no "(pid=…)" prefix on lines
    assert LoggingConfig(**logs.serve_logging()).encoding == "JSON"
    logs.configure(json=False)
    assert "logging_config" not in logs.ray_options()
    assert logs.ray_options()["runtime_env"]["env_vars"][logs.FORMAT_VAR] == "console"
    assert LoggingConfig(**logs.serve_logging()).encoding == "TEXT"


@ray.remote(num_cpus=0)
class Speaker:
    """Logs as a shard host does, and reads back its own stderr: the file Ray
    forwards to the driver's stream."""

    def speak(self) -> list[str]:
        structlog.get_logger("plumeline.shard").bind(shard="shard-1").info(
            "partition_restored", lane="shard-p2", facility="kiln-2", seq=7)
        sys.stderr.flush()
        with open(os.readlink("/proc/self/fd/2"), encoding="utf-8") as err:
            return [line for line in err.read().splitlines() if "partition_restored" in line]


def test_an_actor_started_on_start_rays_cluster_logs_in_the_chosen_format(ray_session):
    runtime_env = ray.get_runtime_context().runtime_env
    # the loopback hook configures the logs too (Ray runs one hook per job)
    assert runtime_env["worker_process_setup_hook"] in (logs.HOOK, loopback.WORKER_HOOK)
    chosen = runtime_env["env_vars"][logs.FORMAT_VAR]
    speaker = Speaker.remote()
    try:
        (line,) = ray.get(speaker.speak.remote(), timeout=120)
    finally:
        ray.kill(speaker)
    if chosen == "json":
        event = json.loads(line)
        assert event.items() >= {"event": "partition_restored", "level": "info",
                                 "shard": "shard-1", "lane": "shard-p2",
                                 "facility": "kiln-2", "seq": 7}.items()
        assert event["pid"] != os.getpid()
    else:
        assert "partition_restored" in line and "shard=shard-1" in line and "seq=7" in line
