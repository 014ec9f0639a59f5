"""Shard hosts spread over a three-node Ray cluster; a node is removed mid-stream, Ray
restarts its hosts on the nodes left, they resume, and the ledger holds exactly the
events of an uninterrupted derivation, each once. The cluster runs in a process of its
own (tests/cluster_scenario.py), beside the session's single-node Ray."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import msgspec
from test_crash import _ledger_and_replay

from plumeline.actors import FacilityConfig
from plumeline.infra.cli.audit_replay import replay_differences

HERE = Path(__file__).parent
_canonical = msgspec.json.Encoder(order="sorted")


def test_a_removed_nodes_shard_hosts_resume_elsewhere_and_nothing_is_lost(nats_server,
                                                                          tmp_path):
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(HERE.parent), str(HERE)]),
                        "RAY_num_prestart_python_workers": "0"}
    env.pop("RAY_ADDRESS", None)
    run = subprocess.run(
        [sys.executable, str(HERE / "cluster_scenario.py"), nats_server.url,
         str(tmp_path / "plumeline")],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, (run.stdout + run.stderr)[-5000:]
    report = json.loads(next(line for line in run.stdout.splitlines()
                             if line.startswith('{"before"')))
    assert len(set(report["before"])) >= 2  # spread over the nodes
    assert report["removed"] in report["before"]
    assert report["removed"] not in report["after"]  # restarted on the nodes left

    ledger, replayed = asyncio.run(_ledger_and_replay(nats_server.url))
    ids = [e.id for e in ledger]
    assert len(ids) == len(set(ids)) == report["size"]
    assert {e.type for e in ledger} >= {"alert.raised"}
    assert ({(e.id, _canonical.encode(e)) for e in ledger}
            == {(e.id, _canonical.encode(e)) for e in replayed})
    compared, differences = asyncio.run(
        replay_differences(nats_server.url, FacilityConfig()))
    assert (compared, differences) == (len(ledger), [])
