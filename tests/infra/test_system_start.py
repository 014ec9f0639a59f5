"""A system whose start fails part-way stops what it had started: its embedded
nats-server runs in a session of its own and would outlive the failure."""

from __future__ import annotations

import os

import pytest

from plumeline.infra.runtime.nats import free_port
from plumeline.infra.runtime.settings import Settings
from plumeline.infra.runtime.system import System


def test_a_start_that_fails_part_way_stops_the_nats_server_it_started(
        ray_session, tmp_path, monkeypatch):
    started: list[int] = []

    def fail_placing(self):  # a step after the nats-server and the first actors
        started.append(self.nats.process.pid)
        raise RuntimeError("no room for the shard hosts")

    monkeypatch.setattr(System, "_place_shards", fail_placing)
    system = System(Settings(data_dir=tmp_path / "data", port=free_port(), partitions=4,
                             shards=2))
    with pytest.raises(RuntimeError, match="no room"):
        system.start(http=False)
    assert started, "the failure came before the nats-server started"
    assert system.nats is None and system.ledger is None
    with pytest.raises(ProcessLookupError):
        os.kill(started[0], 0)  # stopped, and reaped
    assert not (tmp_path / "data" / "runtime.json").exists()
