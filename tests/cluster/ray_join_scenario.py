"""Run by tests/cluster/test_ray_cluster.py in a process of its own: a system that
joins an existing Ray cluster by address (as `plumeline up --ray-address` does), with
its shard hosts spread over the nodes; the worker node's raylet is killed mid-stream.

    python ray_join_scenario.py RAY_ADDRESS NATS_URL DATA_DIR WORKER_RAYLET_PID

Prints one JSON line: the nodes of the shard hosts before and after, the ledger's
size and `plumeline verify`'s exit status, taken while the system still runs."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

import ray
from test_crash import PARTITIONS, _acked, _publish, _workload

from plumeline.infra.cli import main as cli
from plumeline.infra.settings import Settings
from plumeline.infra.system import System, start_ray, stop_ray

DEADLINE_S = 150.0


def _nodes(system: System) -> list[str]:
    return ray.get([s.node.remote() for s in system.shards], timeout=60)


def main(address: str, nats_url: str, data_dir: str, raylet_pid: str) -> int:
    settings = Settings.from_env(data_dir=Path(data_dir), nats_url=nats_url,
                                 ray_address=address, partitions=PARTITIONS, shards=2,
                                 snapshot_every=40, shard_resources={"shard_slot": 1})
    start_ray(settings)  # what System.start does, here first to see both nodes joined
    while len([n for n in ray.nodes() if n["Alive"]]) < 2:
        time.sleep(0.2)
    system = System(settings)
    try:
        system.start(http=False)
        before = _nodes(system)
        workload = _workload()
        half = len(workload) // 2
        last = asyncio.run(_publish(nats_url, workload[:half]))
        deadline = time.monotonic() + DEADLINE_S
        while ray.get(system.ledger.size.remote()) == 0:
            assert time.monotonic() < deadline, "nothing reached the ledger"
            time.sleep(0.05)
        os.kill(int(raylet_pid), signal.SIGKILL)  # the worker machine is lost
        killed = time.monotonic()
        last |= asyncio.run(_publish(nats_url, workload[half:]))
        while not asyncio.run(_acked(nats_url, last, {})):
            assert time.monotonic() < deadline, "not every reading acknowledged"
            time.sleep(0.5)
        recovered = time.monotonic() - killed
        after = _nodes(system)
        size = ray.get(system.ledger.size.remote())
        verified = cli(["verify", "--data-dir", data_dir])
        print(json.dumps({"before": before, "after": after, "size": size,
                          "verify": int(verified), "recovered_s": round(recovered, 2)}),
              flush=True)
    finally:
        system.stop()
        stop_ray()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
