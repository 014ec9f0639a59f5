"""A JetStream cluster of nats-server nodes: their configuration files, and a launcher
that runs them on this machine (for tests, and to try a cluster out).

Each node has its own store, client port and cluster port, and routes to every node;
JetStream elects a leader per stream among the nodes holding its replicas. With three
nodes and streams of three replicas (`plumeline up --replicas 3`), any one node can
be lost: the others elect new leaders within seconds and nothing stored is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from plumeline.events import SigningKey
from plumeline.infra.runtime.nats import (
    _quote,
    connect,
    free_port,
    nats_server_binary,
    wait_listening,
)
from plumeline.infra.runtime.nats_auth import (
    Credential,
    authorization,
    credentials_dir,
    ensure_credentials,
    url_as,
    write_private,
)
from plumeline.infra.runtime.nats_routes import (
    ROUTE_FILE,
    cluster_authorization,
    ensure_route_credential,
    route_url,
)

__all__ = ["CLUSTER_NAME", "NatsCluster", "NatsNode", "node_config", "run_nats_config",
           "write_configs"]

log = structlog.get_logger("plumeline.nats_cluster")

CLUSTER_NAME = "plumeline"


def node_config(name: str, *, host: str, port: int, cluster_host: str, cluster_port: int,
                routes: list[str], store_dir: Path | str, monitor_port: int | None = None,
                extra: str = "", route: Credential | None = None) -> str:
    """One node's nats-server configuration. `routes`: every node's cluster address
    (host:port), this one's included (a server skips the route to itself).
    `monitor_port`: HTTP monitoring, whose /healthz says when the node is current.
    `extra` is appended as it is: an `authorization { ... }` block, say. `route`: the
    identity a node must log in as to join (infra/runtime/nats_routes.py); None: any may."""
    lines = [
        f"server_name: {name}",
        f"listen: {host}:{port}",
        *([f"http: {host}:{monitor_port}"] if monitor_port else []),
        "max_payload: 8MB",
        f"jetstream {{ store_dir: {_quote(Path(store_dir))}, max_memory_store: 1GB }}",
        "cluster {",
        f"  name: {CLUSTER_NAME}",
        f"  listen: {cluster_host}:{cluster_port}",
        *(cluster_authorization(route) if route else []),
        "  routes: [",
        *(f"    {route_url(peer, route)}" for peer in routes),
        "  ]",
        "}",
    ]
    text = "\n".join(lines) + "\n"
    return text + (extra.rstrip("\n") + "\n" if extra else "")


def write_configs(out: Path, hosts: list[str], *, port: int = 4222, cluster_port: int = 6222,
                  store_dir: str = "/var/lib/plumeline/nats", extra: str = "",
                  route: Credential | None = None, monitor_port: int = 8222,
                  bind_hosts: bool = False) -> list[Path]:
    """`plumeline nats-config`: a configuration file per machine, nats-N.conf, each
    listening on all interfaces (or, `bind_hosts`, on its own host's address only:
    several nodes on one machine) and routing to the others by hostname, its store in
    `store_dir`/nats-N. Written 0600: `extra` and `route` hold passwords."""
    out.mkdir(parents=True, exist_ok=True)
    routes = [f"{h}:{cluster_port}" for h in hosts]
    written = []
    for i, host in enumerate(hosts, 1):
        path = out / f"nats-{i}.conf"
        listen = host if bind_hosts else "0.0.0.0"
        write_private(path, node_config(f"nats-{i}", host=listen, port=port,
                                        cluster_host=listen, cluster_port=cluster_port,
                                        routes=routes, store_dir=Path(store_dir) / f"nats-{i}",
                                        monitor_port=monitor_port, extra=extra, route=route))
        written.append(path)
    return written


def run_nats_config(args) -> int:
    from plumeline.infra.runtime.errors import UserError
    from plumeline.infra.runtime.settings import Settings

    hosts = ([h.strip() for h in args.hosts.split(",") if h.strip()] if args.hosts
             else [f"nats-{i}" for i in range(1, args.nodes + 1)])
    if len(hosts) != args.nodes:
        raise UserError(f"--hosts names {len(hosts)} machines, --nodes says {args.nodes}")
    if args.nodes < 1:
        raise UserError(f"--nodes must be at least 1, not {args.nodes}")
    # the same users as the embedded server's (infra/runtime/nats_auth.py), made once in
    # OUT/credentials and reused by a later run, so that configs written again agree
    credentials = ensure_credentials(args.out)
    auth = authorization(credentials, Settings().partitions)
    paths = write_configs(args.out, hosts, port=args.port, cluster_port=args.cluster_port,
                          store_dir=args.store_dir, extra=auth,
                          route=ensure_route_credential(args.out),
                          monitor_port=args.monitor_port, bind_hosts=args.bind_hosts)
    for host, path in zip(hosts, paths):
        print(f"{path}  ->  {host}: `nats-server -c {path.name}` (holds every user's password)")
    print(f"{args.out / ROUTE_FILE}  stays here: the routes' password, already in every "
          "nats-N.conf (read when the files are written again)")
    # made here, not by the first writer to start, so that it can go out with the
    # credentials: a writer that finds none makes a key of its own
    key = Settings(data_dir=args.out).key_path
    SigningKey.load_or_create(key)
    print(f"{key}  ->  every Ray node, as DATA_DIR/ledger.key (or DATA_DIR on storage they "
          "share): the ledger writer signs with it wherever Ray restarts it")
    creds = credentials_dir(args.out)
    components = sorted(u for u, c in credentials.items() if c.facility is None)
    print(f"{creds}/  ->  the machine that runs `plumeline up`, as DATA_DIR/credentials "
          f"({', '.join(f'{u}.json' for u in components)}: each component logs in as its own user)")
    for user, cred in sorted(credentials.items()):
        if cred.facility is not None:
            print(f"{creds / user}.json  ->  the devices of {cred.facility}")
    urls = ",".join(f"nats://{h}:{args.port}" for h in hosts)
    replicas = min(3, args.nodes)
    print(f"then `plumeline up --data-dir DATA_DIR --nats {urls} --replicas {replicas}`")
    return 0


@dataclass
class NatsNode:
    name: str
    dir: Path
    port: int
    cluster_port: int
    monitor_port: int
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class NatsCluster:
    """`n` nats-server processes on 127.0.0.1 forming one JetStream cluster, their
    stores and logs under `base_dir`/<node name>. `extra_config` goes at the end of
    every node's configuration; `login` is the identity the cluster's own checks
    connect as when it holds users (`setup`'s rights suffice); `route`, the identity a
    node must log in as to join (None: any may). `secured` makes a deployment's."""

    n: int
    base_dir: Path
    extra_config: str = ""
    login: Credential | None = None
    route: Credential | None = None
    nodes: list[NatsNode] = field(default_factory=list)

    @classmethod
    def secured(cls, n: int, base_dir: Path, data_dir: Path, partitions: int) -> NatsCluster:
        """A cluster as `nats-config` configures one: the components' users of
        `data_dir` (made there if new), so `up --data-dir` logs each in as itself, and
        routes that need the route password (made once in `base_dir`)."""
        credentials = ensure_credentials(data_dir)
        return cls(n, base_dir, extra_config=authorization(credentials, partitions),
                   login=credentials["setup"], route=ensure_route_credential(Path(base_dir)))

    def __post_init__(self) -> None:
        self.base_dir = Path(self.base_dir)
        ports: set[int] = set()
        while len(ports) < 3 * self.n:
            ports.add(free_port())
        p = sorted(ports)
        self.nodes = [NatsNode(f"n{i}", self.base_dir / f"n{i}", *p[3 * i:3 * i + 3])
                      for i in range(self.n)]

    @property
    def url(self) -> str:
        """Every node's URL, comma-separated: what `--nats` takes."""
        return ",".join(node.url for node in self.nodes)

    def _logged_in(self, url: str) -> str:
        return url_as(url, self.login) if self.login else url

    def start(self, timeout: float = 30.0) -> NatsCluster:
        routes = [f"127.0.0.1:{node.cluster_port}" for node in self.nodes]
        for node in self.nodes:
            node.dir.mkdir(parents=True, exist_ok=True)
            (node.dir / "nats-server.conf").write_text(node_config(
                node.name, host="127.0.0.1", port=node.port, cluster_host="127.0.0.1",
                cluster_port=node.cluster_port, routes=routes, store_dir=node.dir / "js",
                monitor_port=node.monitor_port, extra=self.extra_config, route=self.route))
            self._launch(node)
        try:
            for node in self.nodes:
                self._wait_listening(node, timeout)
            asyncio.run(self._wait_jetstream(timeout))
        except BaseException:
            self.stop()
            raise
        log.info("nats_cluster_started", url=self.url, nodes=self.n)
        return self

    def _launch(self, node: NatsNode) -> None:
        with open(node.dir / "nats-server.log", "ab") as logfile:
            node.process = subprocess.Popen(
                [nats_server_binary(), "-c", str(node.dir / "nats-server.conf")],
                stdout=logfile, stderr=subprocess.STDOUT, start_new_session=True)

    @staticmethod
    def _wait_listening(node: NatsNode, timeout: float) -> None:
        wait_listening(node.process, node.port, node.dir / "nats-server.log", timeout)

    async def _wait_jetstream(self, timeout: float) -> None:
        """Until the cluster has a JetStream meta leader: before that, declaring a
        stream fails."""
        nc = await connect(self._logged_in(self.url), name="cluster-check")
        try:
            js = nc.jetstream()
            deadline = time.monotonic() + timeout
            while True:
                try:
                    await js.account_info()
                    return
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.2)
        finally:
            await nc.close()

    def kill(self, i: int) -> None:
        """SIGKILL node i: a machine lost, nothing flushed."""
        node = self.nodes[i]
        if node.running:
            _kill(node.process)
            log.warning("nats_node_killed", node=node.name)

    def restart(self, i: int, timeout: float = 60.0) -> None:
        """Start node i again on its ports and store, and wait until it has caught up
        with the others on every stream and consumer (its /healthz): only then can
        another node be lost without a group losing its quorum."""
        node = self.nodes[i]
        started = time.monotonic()
        self._launch(node)
        self._wait_listening(node, timeout)
        self._wait_healthy(node, timeout)
        log.info("nats_node_restarted", node=node.name,
                 seconds=round(time.monotonic() - started, 2))

    @staticmethod
    def _wait_healthy(node: NatsNode, timeout: float) -> None:
        url = f"http://127.0.0.1:{node.monitor_port}/healthz"
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:
                    if json.load(answer).get("status") == "ok":
                        return
            except (OSError, ValueError):  # 503 while it catches up
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"nats-server {node.name} not healthy within {timeout}s")
            time.sleep(0.2)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to every node at once (JetStream flushes its store), SIGKILL to any
        still running `timeout` seconds later."""
        running = [node.process for node in self.nodes if node.running]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.1, deadline - time.monotonic()))
            if process.poll() is None:
                _kill(process)
        log.info("nats_cluster_stopped", url=self.url)

    def index(self, server_name: str) -> int:
        return next(i for i, node in enumerate(self.nodes) if node.name == server_name)

    async def leader(self, stream: str, timeout: float = 30.0) -> int:
        """The index of the node leading `stream` now (waiting while it has none)."""
        nc = await connect(self._logged_in(",".join(n.url for n in self.nodes if n.running)),
                           name="cluster-leader")
        try:
            js = nc.jetstream()
            deadline = time.monotonic() + timeout
            while True:
                try:
                    cluster = (await js.stream_info(stream)).cluster
                    if cluster is not None and cluster.leader:
                        return self.index(cluster.leader)
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{stream} has no leader")
                await asyncio.sleep(0.2)
        finally:
            await nc.close()

    def __enter__(self) -> NatsCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _kill(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGKILL)  # its own session: the server and nothing else
    process.wait()
