"""Run by tests/test_multinode.py in a process of its own (the test session's Ray is a
single local instance): a three-node `ray.cluster_utils.Cluster`, a system on it
with three shard hosts spread across the nodes, a node removed mid-stream.

    python tests/cluster_scenario.py NATS_URL DATA_DIR

Prints one JSON line: the nodes of the shard hosts before and after, and the ledger's
size. The test then compares the ledger with a derivation of READINGS itself."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import ray
from ray.cluster_utils import Cluster
from test_crash import PARTITIONS, _acked, _publish, _workload

from plumeline.infra.runtime.settings import Settings
from plumeline.infra.runtime.system import System

MB = 1024 * 1024
DEADLINE_S = 150.0


def _nodes(system: System) -> list[str]:
    """The shard hosts' nodes; a host whose node was just lost answers once Ray has
    noticed and restarted it elsewhere."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        try:
            return ray.get([s.node.remote() for s in system.shards], timeout=60)
        except ray.exceptions.ActorUnavailableError:
            assert time.monotonic() < deadline, "a shard host never came back"
            time.sleep(1.0)


def lose_a_node_mid_stream(system: System, nats_url: str,
                           lose: Callable[[list[str]], dict]) -> dict:
    """Start `system`, publish half the workload, `lose(the shard hosts' nodes)` once
    the ledger has grown, publish the rest, wait until every reading is acknowledged.
    The report: the hosts' nodes before and after, the ledger's size, the seconds
    from the loss to every reading acknowledged, and what `lose` said."""
    system.start(http=False)
    before = _nodes(system)
    workload = _workload()
    half = len(workload) // 2
    last = asyncio.run(_publish(nats_url, workload[:half]))
    deadline = time.monotonic() + DEADLINE_S
    while ray.get(system.ledger.size.remote()) == 0:
        assert time.monotonic() < deadline, "nothing reached the ledger"
        time.sleep(0.05)
    told = lose(before)
    lost = time.monotonic()
    last |= asyncio.run(_publish(nats_url, workload[half:]))
    while not asyncio.run(_acked(nats_url, last, {})):
        assert time.monotonic() < deadline, "not every reading acknowledged"
        time.sleep(0.5)
    recovered = round(time.monotonic() - lost, 2)
    return {"before": before, "after": _nodes(system),
            "size": ray.get(system.ledger.size.remote()), "recovered_s": recovered, **told}


def main(nats_url: str, data_dir: str) -> int:
    # two shard slots a node: three hosts cover two nodes at least, and two nodes
    # still have room for all three
    node = {"num_cpus": 1, "object_store_memory": 100 * MB, "resources": {"shard_slot": 2}}
    # no dashboard: its process is killed at shutdown and would leave its
    # multiprocessing directory (/tmp/pymp-*) behind
    cluster = Cluster(initialize_head=True, head_node_args=node | {"include_dashboard": False})
    workers = [cluster.add_node(**node) for _ in range(2)]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, logging_level="WARNING")
    settings = Settings(data_dir=Path(data_dir), nats_url=nats_url, partitions=PARTITIONS,
                        shards=3, snapshot_every=40, shard_resources={"shard_slot": 1})
    system = System(settings)

    def remove_a_worker(before: list[str]) -> dict:
        ids = {w.node_id: w for w in workers}
        victim_id = next(n for n in before if n in ids)  # a worker with a host
        cluster.remove_node(ids[victim_id])  # mid-stream: its hosts die with it
        return {"removed": victim_id}

    try:
        report = lose_a_node_mid_stream(system, nats_url, remove_a_worker)
        print(json.dumps(report), flush=True)
    finally:
        system.stop()
        ray.shutdown()
        cluster.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
