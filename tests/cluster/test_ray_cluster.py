"""`plumeline up --ray-address`: a system joins a Ray cluster started the way a user
starts one (`ray start --head`, then `ray start --address` on another node), spreads
its shard hosts over the nodes, and loses the worker node (its raylet and the
processes it started, killed with SIGKILL) mid-stream: the hosts that were there resume on the head node, and the
ledger is exactly an uninterrupted derivation of READINGS and verifies.

Both nodes run on this machine, under a temp dir of their own; they are stopped by
the pids of the processes that name it, never by `ray stop` (which would stop every
Ray on the machine)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import structlog
from test_crash import _canonical, _ledger_and_replay

from plumeline.infra.runtime.nats import free_port

pytestmark = pytest.mark.cluster

HERE = Path(__file__).parent
log = structlog.get_logger("plumeline.test.cluster")
RAY = str(Path(sys.executable).parent / "ray")


def _ports(n: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < n:
        ports.add(free_port())
    return sorted(ports)


def _ray_start(temp_dir: str, env: dict, *args: str) -> None:
    node, agent, agent_grpc, runtime_env, metrics, objects = _ports(6)
    run = subprocess.run(
        [RAY, "start", *args, "--num-cpus", "1", "--node-ip-address", "127.0.0.1",
         "--temp-dir", temp_dir, "--node-manager-port", str(node),
         "--object-manager-port", str(objects),
         "--dashboard-agent-listen-port", str(agent),
         "--dashboard-agent-grpc-port", str(agent_grpc),
         "--runtime-env-agent-port", str(runtime_env), "--metrics-export-port", str(metrics),
         "--object-store-memory", str(100 * 1024 * 1024), "--disable-usage-stats",
         # room for both shard hosts on either node, so they can all move to the head
         "--resources", '{"shard_slot": 2}'],
        env=env, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, f"ray start {args}: {(run.stdout + run.stderr)[-3000:]}"


def _pids_naming(text: str) -> dict[int, str]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if text in cmdline:
                found[int(entry.name)] = cmdline
    return found


@pytest.fixture
def ray_cluster():
    """(address, the worker node's raylet pid) of a two-node Ray cluster started
    with `ray start`; every process of it killed afterwards."""
    temp_dir = tempfile.mkdtemp(prefix="plr-", dir="/tmp")  # Ray's socket paths are short
    # a private test cluster on loopback: no token (the worker and the driver join
    # without one)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | {
        "RAY_AUTH_MODE": "disabled"}
    gcs, client = _ports(2)
    try:
        _ray_start(temp_dir, env, "--head", "--port", str(gcs), "--include-dashboard",
                   "false", "--ray-client-server-port", str(client))
        raylets = set(p for p, c in _pids_naming(temp_dir).items() if "/raylet " in c)
        _ray_start(temp_dir, env, "--address", f"127.0.0.1:{gcs}")
        worker = [p for p, c in _pids_naming(temp_dir).items()
                  if "/raylet " in c and p not in raylets]
        assert len(worker) == 1, worker
        yield f"127.0.0.1:{gcs}", worker[0]
    finally:
        for _ in range(3):  # workers a dying raylet leaves are gone a moment later
            for pid in _pids_naming(temp_dir):
                if pid != os.getpid():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)
        subprocess.run(["rm", "-rf", temp_dir], check=False)


def test_a_joined_clusters_lost_node_loses_nothing(ray_cluster, nats_server, tmp_path):
    address, raylet = ray_cluster
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(HERE.parent), str(HERE)]),
                        "RAY_num_prestart_python_workers": "0", "RAY_ADDRESS": address,
                        "RAY_AUTH_MODE": "disabled"}
    run = subprocess.run(
        [sys.executable, str(HERE / "ray_join_scenario.py"), address, nats_server.url,
         str(tmp_path / "plumeline"), str(raylet)],
        env=env, capture_output=True, text=True, timeout=400)
    assert run.returncode == 0, (run.stdout + run.stderr)[-5000:]
    report = json.loads(next(line for line in run.stdout.splitlines()
                             if line.startswith('{"before"')))
    assert len(set(report["before"])) == 2  # spread over both nodes
    assert len(set(report["after"])) == 1  # the head's, the worker being gone
    assert report["verify"] == 0
    log.info("ray_node_lost", recovered_s=report["recovered_s"])

    ledger, replayed = asyncio.run(_ledger_and_replay(nats_server.url))
    ids = [e.id for e in ledger]
    assert len(ids) == len(set(ids)) == report["size"]
    assert ({(e.id, _canonical.encode(e)) for e in ledger}
            == {(e.id, _canonical.encode(e)) for e in replayed})
