"""Run by tests/cluster/test_ray_cluster.py in a process of its own: a system that
joins an existing Ray cluster by address (as `plumeline up --ray-address` does), with
its shard hosts spread over the nodes; the worker node (its raylet and the processes
it started) is killed mid-stream.

    python ray_join_scenario.py RAY_ADDRESS NATS_URL DATA_DIR WORKER_RAYLET_PID

Prints one JSON line: the nodes of the shard hosts before and after, the ledger's
size and `plumeline verify`'s exit status, taken while the system still runs."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path

import ray
from cluster_scenario import lose_a_node_mid_stream
from test_crash import PARTITIONS

from plumeline.infra.cli.main import main as cli
from plumeline.infra.runtime.data_dir import descendants
from plumeline.infra.runtime.ray_runtime import start_ray, stop_ray
from plumeline.infra.runtime.settings import Settings
from plumeline.infra.runtime.system import System


def main(address: str, nats_url: str, data_dir: str, raylet_pid: str) -> int:
    settings = Settings.from_env(data_dir=Path(data_dir), nats_url=nats_url,
                                 ray_address=address, partitions=PARTITIONS, shards=2,
                                 snapshot_every=40, shard_resources={"shard_slot": 1})
    start_ray(settings)  # what System.start does, here first to see both nodes joined
    while len([n for n in ray.nodes() if n["Alive"]]) < 2:
        time.sleep(0.2)
    system = System(settings)

    def kill_the_worker(before: list[str]) -> dict:
        """The worker machine is lost: its raylet and the worker processes it started
        (the shard hosts among them), with SIGKILL, at once."""
        doomed = descendants(int(raylet_pid)) + [int(raylet_pid)]
        for pid in doomed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return {"killed": len(doomed)}

    try:
        report = lose_a_node_mid_stream(system, nats_url, kill_the_worker)
        report["verify"] = int(cli(["verify", "--data-dir", data_dir]))  # while it runs
        print(json.dumps(report), flush=True)
    finally:
        system.stop()
        stop_ray()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
