"""The cluster as a deployment runs it: its nodes take only the components' users
(anonymous clients are refused, the cluster's own checks log in), and a server joins
as a route only with the route password — one without it never becomes a peer."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
import urllib.request
from pathlib import Path

import nats
import pytest

from plumeline.infra.runtime.nats import (
    LEDGER,
    connect,
    ensure_streams,
    free_port,
    nats_server_binary,
    wait_listening,
)
from plumeline.infra.runtime.nats_auth import Credential, url_as
from plumeline.infra.runtime.nats_cluster import NatsCluster, node_config

pytestmark = pytest.mark.cluster


def _route_names(monitor_port: int) -> set[str]:
    """The names of the servers this one has routes with (its /routez)."""
    url = f"http://127.0.0.1:{monitor_port}/routez"
    with urllib.request.urlopen(url, timeout=5) as answer:
        return {route["remote_name"] for route in json.load(answer)["routes"]}


@contextlib.contextmanager
def _one_more_server(cluster: NatsCluster, name: str, route: Credential, base: Path):
    """A nats-server routing to every node of `cluster`, logging in as `route`;
    yields (its monitoring port, its log)."""
    port, cluster_port, monitor_port = free_port(), free_port(), free_port()
    base.mkdir(parents=True)
    conf, logfile = base / "nats-server.conf", base / "nats-server.log"
    conf.write_text(node_config(
        name, host="127.0.0.1", port=port, cluster_host="127.0.0.1", cluster_port=cluster_port,
        routes=[f"127.0.0.1:{n.cluster_port}" for n in cluster.nodes], store_dir=base / "js",
        monitor_port=monitor_port, route=route))
    with open(logfile, "ab") as out:
        process = subprocess.Popen([nats_server_binary(), "-c", str(conf)], stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_listening(process, port, logfile, 30)
        yield monitor_port, logfile
    finally:
        process.kill()
        process.wait()


def _wait_for(what: str, ok, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {timeout} s")
        time.sleep(0.2)


async def _declare_as(url: str) -> list[str]:
    nc = await connect(url, name="routes-test")
    try:
        js = nc.jetstream()
        await ensure_streams(js, replicas=3)
        return (await js.stream_info(LEDGER)).cluster.replicas
    finally:
        await nc.close()


async def _anonymous(url: str) -> None:
    nc = await nats.connect(url, allow_reconnect=False, connect_timeout=5)
    await nc.close()


def test_only_the_components_users_and_the_route_password_get_in(tmp_path):
    data = tmp_path / "plumeline"
    with NatsCluster.secured(3, tmp_path / "nats", data, partitions=4) as cluster:
        # the readiness check logged in as `setup`; so does `up` declaring R3 streams
        setup = url_as(cluster.url, cluster.login)
        assert len(asyncio.run(_declare_as(setup))) == 2  # two followers beside the leader
        with pytest.raises(nats.errors.Error, match="Authorization Violation"):
            asyncio.run(_anonymous(cluster.nodes[0].url))
        peers = {n.name for n in cluster.nodes}
        for node in cluster.nodes:
            assert _route_names(node.monitor_port) == peers - {node.name}

        wrong = Credential(cluster.route.user, "not-the-route-password")
        first_log = cluster.nodes[0].dir / "nats-server.log"
        with _one_more_server(cluster, "stranger", wrong, tmp_path / "stranger") as (port, _):
            # it has tried: the node turned its route down (more tries change nothing)
            _wait_for("the stranger's route refused", lambda: (
                'authentication error - User "route"' in first_log.read_text()))
            assert _route_names(port) == set()
            for node in cluster.nodes:
                assert "stranger" not in _route_names(node.monitor_port)

        # the same server with the password is let in: the check above can see a join
        with _one_more_server(cluster, "joiner", cluster.route, tmp_path / "joiner"):
            _wait_for("the joiner's routes", lambda: all(
                "joiner" in _route_names(n.monitor_port) for n in cluster.nodes))
