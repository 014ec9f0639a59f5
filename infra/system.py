"""Starting and stopping the whole of Plumeline: NATS, Ray actors, projections, HTTP.

The embedded default puts everything on this machine (nats-server in the data dir, a
private Ray, chDB in the data dir); URLs and a Ray address point the same code at a
real cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import tempfile
import time
import warnings
from functools import partial

import ray
import structlog
from ray import serve

from plumeline.actors import Lane, LedgerWriter, ShardHost, SnapshotPolicy
from plumeline.events import partition_of, redact
from plumeline.infra import logs
from plumeline.infra.audit import write_export
from plumeline.infra.loopback import WORKER_HOOK, loopback_env, ray_on_loopback
from plumeline.infra.nats import READINGS, NatsServer, connect, ensure_streams, free_port
from plumeline.infra.nats_auth import (
    Credential,
    authorization,
    ensure_credentials,
    url_as,
    write_private,
)
from plumeline.infra.runtime import HAPROXY_PARENT, HAPROXY_PREFIX, clean_leftovers
from plumeline.infra.settings import Settings
from plumeline.infra.tokens import KeyStore
from plumeline.projections.notifier import Notifier
from plumeline.projections.runner import ProjectionRunner
from plumeline.serve.deployment import Api
from plumeline.simulator import what_if

__all__ = ["System", "check_shards", "default_shards", "ray_env", "resuming",
           "shard_partitions", "start_ray", "stop_ray"]

# Serve's HAProxy keeps its config, sockets and server state in one directory per Ray
# node under these paths, /tmp/haproxy-serve/... by default, which nothing removes.
HAPROXY_PATHS = {
    "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": "haproxy.cfg",
    "RAY_SERVE_HAPROXY_SOCKET_PATH": "admin.sock",
    "RAY_SERVE_HAPROXY_METRICS_SOCKET_PATH": "metrics.sock",
    "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": "",
    "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": "server-state",
}
_haproxy_dir: str | None = None  # made by start_ray for the local Ray, removed by stop_ray

def ray_env() -> dict[str, str]:
    """Ray settings this system runs with, each kept where the environment already sets
    it (on a real cluster, set them in the cluster's environment). Read by Ray's
    processes, so set before Ray starts.

    Serve's HAProxy ingress and direct data plane (Ray >= 2.55): on this 2-core
    machine GET /alerts goes from ~300 to ~2,000 requests/s (wrk, 200 connections, see
    docs/benchmarks.md). HAProxy's stats and metrics ports are fixed by default, so two
    systems on one machine (a test run beside `plumeline up`) would collide: free ones.
    A replica being stopped waits out a draining period so that an outside load balancer
    can stop routing to it (30 s by default); our ingress is Serve's own and stops with
    it, so 2 s: `up` stops in seconds, not half a minute.

    Ray's own metrics are not collected: every 10 s their export stalled the API's
    replica for 100-340 ms, which was its p99 (at 2,000 requests/s, 54-78 ms with the
    export, 8-28 ms without, docs/benchmarks.md). Nor does HAProxy log each request to
    Serve for its request metrics, which then went nowhere: parsing those lines took
    Serve's HAProxy manager 13 % of a core at 2,000 requests/s, and HAProxy 4 % more.
    Plumeline's figures are its own (GET /metrics); a cluster that scrapes Ray's sets
    RAY_enable_metrics_collection=1 and RAY_SERVE_HAPROXY_METRICS_ENABLED=1."""
    metrics = free_port()
    while (stats := free_port()) == metrics:
        pass
    return {
        "RAY_SERVE_ENABLE_HA_PROXY": "1",
        "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
        "RAY_SERVE_HAPROXY_METRICS_PORT": str(metrics),
        "RAY_SERVE_HAPROXY_STATS_PORT": str(stats),
        "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": "2",
        "RAY_SERVE_PROXY_MIN_DRAINING_PERIOD_S": "2",
        "RAY_enable_metrics_collection": "0",
        "RAY_SERVE_HAPROXY_METRICS_ENABLED": "0",
    }

def start_ray(s: Settings) -> None:
    """A private Ray on this machine, or the cluster at `s.ray_address`; `stop_ray`
    stops it. A system started while Ray is up runs on it and leaves it up when it
    stops, so that a caller running several systems in turn (the benchmark) starts Ray
    once.

    The settings of `ray_env` are in the environment only while Ray starts: its
    processes take them from there, and a process this one starts afterwards (`up`
    run by a test, say) must choose its own free ports and directory, not share this
    Ray's. The private Ray's HAProxy files go in a directory of its own, which
    `stop_ray` removes: /tmp/plh-XXXXXXXX, as short as Serve's own default, since
    HAProxy takes socket paths of at most 97 bytes and Serve puts the 56-character
    node id in them. The private Ray listens on 127.0.0.1 only (infra/loopback.py)."""
    global _haproxy_dir
    env = {name: value for name, value in ray_env().items() if name not in os.environ}
    if s.ray_address is None and not any(name in os.environ for name in HAPROXY_PATHS):
        _haproxy_dir = tempfile.mkdtemp(prefix=HAPROXY_PREFIX, dir=HAPROXY_PARENT)
        env |= {name: os.path.join(_haproxy_dir, file) for name, file in HAPROXY_PATHS.items()}
        env |= {k: v for k, v in loopback_env(_haproxy_dir).items() if k not in os.environ}
    if s.ray_address is None:
        ray_on_loopback()
    options = logs.ray_options()  # every worker logs as this process does
    if s.ray_address is None:  # and, on the private Ray, keeps Serve's gRPC on loopback
        options["runtime_env"]["worker_process_setup_hook"] = WORKER_HOOK
    os.environ.update(env)
    try:
        ray.init(
            address=s.ray_address or "local",
            num_cpus=s.num_cpus if s.ray_address is None else None,
            include_dashboard=False,
            logging_level="WARNING",
            **options,
        )
    finally:
        for name in env:
            del os.environ[name]


def stop_ray() -> None:
    """Stop Ray (or leave the cluster), and remove what `start_ray` made for it."""
    global _haproxy_dir
    try:
        ray.shutdown()
    finally:
        if _haproxy_dir is not None:
            shutil.rmtree(_haproxy_dir, ignore_errors=True)
            _haproxy_dir = None


log = structlog.get_logger("plumeline.system")


def resuming(cls: type):
    """`ray.remote(cls)`, for a host class with an async `start()`, whose actors start
    themselves again when Ray restarts them after a crash (max_restarts): the driver
    calls `start()` once, and a restarted actor runs only `__init__`. An async actor's
    `__init__` runs in its event loop (Ray 2.60), so the restarted one schedules its
    own start there, and retries until it succeeds. The host classes stay plain
    Python; only their placement in Ray knows about restarts."""

    class Resuming(cls):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self._resumed: asyncio.Task | None = None
            with warnings.catch_warnings():  # Ray 2.60 deprecates what it calls inside
                warnings.simplefilter("ignore", DeprecationWarning)
                restarted = ray.get_runtime_context().was_current_actor_reconstructed
            if restarted:
                self._resumed = asyncio.get_running_loop().create_task(self._resume())

        def node(self) -> str:
            """The Ray node the actor runs on."""
            return ray.get_runtime_context().get_node_id()

        async def _resume(self) -> None:
            while True:
                try:
                    await self.start()
                    log.warning("actor_resumed", actor=cls.__name__, pid=os.getpid())
                    return
                except Exception as exc:  # NATS not reachable yet, say: try again
                    log.warning("actor_resume_failed", actor=cls.__name__, error=repr(exc))
                    await asyncio.sleep(1.0)

        def pid(self) -> int:
            """The process the actor runs in (the crash tests kill it)."""
            return os.getpid()

    Resuming.__name__ = Resuming.__qualname__ = cls.__name__
    return ray.remote(Resuming)


def shard_partitions(partitions: int, shards: int) -> list[list[int]]:
    return [[p for p in range(partitions) if p % shards == i] for i in range(shards)]


def default_shards(partitions: int) -> int:
    """One shard host per CPU of the Ray cluster, at least one, at most one per
    partition (a partition has one consumer, so more hosts would idle)."""
    cpus = int(ray.cluster_resources().get("CPU", 1))
    return max(1, min(partitions, cpus))


def _check_free(host: str, port: int) -> None:
    from plumeline.infra.cli import UserError

    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            raise UserError(f"{host}:{port} is in use: stop what holds it or pass --port") from None


def check_shards(s: Settings) -> None:
    """Refuse, before anything starts, shard and replica settings that cannot work."""
    from plumeline.infra.cli import UserError

    if s.shards is not None and s.shards < 1:
        raise UserError(f"--shards must be at least 1, not {s.shards}")
    if not 1 <= s.nats_replicas <= 5:  # JetStream's own bounds
        raise UserError(f"--replicas must be 1 to 5, not {s.nats_replicas}")
    if s.api_replicas < 1:
        raise UserError(f"--api-replicas must be at least 1, not {s.api_replicas}")
    for f in s.pin:
        if not f or any(c in f for c in " \t*>") or f.startswith(".") or f.endswith("."):
            raise UserError(f"--pin {f!r}: not a facility name (no blanks, '*' or '>')")


def _wait_until_free(host: str, port: int, timeout: float = 15.0) -> None:
    """Serve's ingress lets go of its port a moment after shutdown; a system started
    again on the same port right away must not find it taken."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                pass
        except OSError:
            return
        time.sleep(0.1)
    log.warning("port_still_busy", host=host, port=port)


class System:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.nats: NatsServer | None = None
        self.nats_url = settings.nats_url
        self.mqtt_url: str | None = None  # known only for the embedded nats-server
        # each component's identity on the embedded nats-server (infra/nats_auth.py);
        # none for an outside NATS, whose URL carries what it asks for
        self.credentials: dict[str, Credential] = {}
        self.owns_ray = False
        self.ledger = None
        self.projections = None
        self.notifier = None
        self.shards: list = []
        self.serving = False
        self._wrote_runtime = False

    def url_for(self, identity: str) -> str:
        """The NATS URL `identity` connects with: logging in as itself on the embedded
        nats-server, the URL given otherwise. Never log it: `redact` it."""
        cred = self.credentials.get(identity)
        return url_as(self.nats_url, cred) if cred else self.nats_url

    @property
    def http_url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.port}"

    def start(self, *, http: bool = True) -> System:
        """Start everything, or nothing: if a step fails, what the steps before it
        started is stopped before the error goes on. A half-started system would leave
        its nats-server running (it has a session of its own), and the actors with it."""
        try:
            return self._start(http)
        except BaseException:
            self.stop()
            raise

    def _start(self, http: bool) -> System:
        s = self.settings
        check_shards(s)
        s.data_dir.mkdir(parents=True, exist_ok=True)
        if clean_leftovers(s.data_dir) and http:
            _wait_until_free(s.host, s.port)  # the dead run's ingress, going down
        if http:
            _check_free(s.host, s.port)
        started = time.monotonic()
        if self.nats_url is None:
            # devices that speak MQTT publish frames on readings/<partition>/<facility>
            self.credentials = ensure_credentials(s.data_dir)
            self.nats = NatsServer(s.data_dir / "nats", mqtt_port=s.mqtt_port or free_port(),
                                   auth=authorization(self.credentials, s.partitions)).start()
            self.nats_url = self.nats.url
            self.mqtt_url = f"mqtt://127.0.0.1:{self.nats.mqtt_port}"
        asyncio.run(self._declare_streams())
        if not ray.is_initialized():
            start_ray(s)
            self.owns_ray = True
        self._write_runtime(None)
        # every actor is made at once, so that Ray brings their worker processes up
        # side by side (each is seconds of imports); their constructors only keep
        # arguments, and `start()` runs in the order the system needs
        actor = {"num_cpus": 0, "max_restarts": -1}
        self.ledger = resuming(LedgerWriter).options(**actor).remote(
            self.url_for("ledger"), str(s.key_path)
        )
        self.projections = resuming(ProjectionRunner).options(**actor).remote(
            self.url_for("projections"),
            clickhouse_url=s.clickhouse_url,
            clickhouse_path=None if s.clickhouse_url else str(s.data_dir / "clickhouse"),
        )
        self.notifier = resuming(Notifier).options(**actor).remote(
            self.url_for("notifier"), allow_private=self.settings.allow_private_webhooks)
        self.shards = self._place_shards()
        ray.get(self.ledger.start.remote())
        ray.get(self.projections.start.remote())
        # before the shard hosts: its durable consumer starts at the ledger's end
        ray.get(self.notifier.start.remote())
        ray.get([shard.start.remote() for shard in self.shards])
        if http:
            serve.start(http_options={"host": s.host, "port": s.port},
                        logging_config=logs.serve_logging())
            api = Api.options(num_replicas=s.api_replicas, logging_config=logs.serve_logging())
            serve.run(api.bind(self.projections, self.ledger, nats_url=self.url_for("serve"),
                               partitions=s.partitions,
                               token_keys=KeyStore.of(s).ring(),
                               signer=KeyStore.of(s).signing(),
                               limits=s.http_limits,
                               exporter=partial(write_export, s.data_dir),
                               open_reads=s.open_reads, what_if=what_if,
                               notifier=self.notifier),
                      name="plumeline", route_prefix="/")
            self.serving = True
        self._write_runtime(self.http_url if http else None)
        log.info("system_started", seconds=round(time.monotonic() - started, 1),
                 nats=redact(self.nats_url), mqtt=self.mqtt_url, http=self.http_url if http else None)
        return self

    def _place_shards(self) -> list:
        """K shared hosts for the partitions, and one host per pinned facility, which
        reads only its facility's subject (`Lane`); the shared hosts pass over the
        pinned facilities' messages. SPREAD tries to put the hosts on different nodes
        of a cluster (on one machine it changes nothing); `shard_resources` bounds how
        many a node takes. Ray restarts them on any node that fits."""
        s = self.settings
        shards = s.shards or default_shards(s.partitions)
        snapshots = (SnapshotPolicy(s.snapshot_every, int(s.snapshot_every_s * 1000))
                     if s.snapshot_every > 0 else None)
        placed = resuming(ShardHost).options(num_cpus=0, max_restarts=-1,
                                             scheduling_strategy="SPREAD",
                                             resources=dict(s.shard_resources))
        hosts = [
            placed.remote(self.url_for("shard"), parts, name=f"shard-{i}", skip=s.pin,
                          snapshots=snapshots, partition_count=s.partitions)
            for i, parts in enumerate(shard_partitions(s.partitions, shards))
        ]
        hosts += [
            placed.remote(self.url_for("shard"), [Lane(partition_of(f, s.partitions), f)],
                          name=f"pinned-{f}", snapshots=snapshots,
                          partition_count=s.partitions)
            for f in s.pin
        ]
        log.info("shards_placed", shared=shards, pinned=list(s.pin))
        return hosts

    def _write_runtime(self, http_url: str | None) -> None:
        """Where the running system is, for `verify` and `audit` while it runs, and
        what it started, for the next start to clean up should this process die
        without stopping (`clean_leftovers`)."""
        session = None
        if self.owns_ray:
            with contextlib.suppress(Exception):  # private API: only a cleanup hint
                session = ray._private.worker._global_node.get_session_dir_path()
        self._wrote_runtime = True
        # 0600: an outside NATS's URL may carry its password
        write_private(self.settings.runtime_path, json.dumps({
            "pid": os.getpid(), "nats_url": self.nats_url, "mqtt_url": self.mqtt_url,
            "http_url": http_url,
            "nats_pid": self.nats.process.pid if self.nats else None, "ray_session": session,
            "haproxy_dir": _haproxy_dir if self.owns_ray else None,
        }))

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until the shard hosts have acknowledged everything in READINGS (the
        simulator has stopped), so that a stop leaves no reading unprocessed; False
        if they have not within `timeout`."""
        s = self.settings
        lanes = [Lane(p).durable for p in range(s.partitions)]
        lanes += [Lane(partition_of(f, s.partitions), f).durable for f in s.pin]

        async def pending() -> int:
            nc = await connect(self.url_for("setup"), name="drain")
            try:
                js = nc.jetstream()
                infos = [await js.consumer_info(READINGS, lane) for lane in lanes]
            finally:
                await nc.close()
            return sum(i.num_pending + i.num_ack_pending for i in infos)

        deadline = time.monotonic() + timeout
        left = None
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                left = asyncio.run(pending())
                if left == 0:
                    return True
            time.sleep(0.25)
        log.warning("drain_incomplete", pending=left)
        return False

    async def _declare_streams(self) -> None:
        nc = await connect(self.url_for("setup"), name="setup")
        try:
            await ensure_streams(nc.jetstream(), self.settings.nats_replicas)
        finally:
            await nc.close()

    def stop(self) -> None:
        """Stop what this system started, in reverse order; whatever fails, the rest is
        still stopped (a leaked nats-server or Ray would outlive the command)."""
        if self._wrote_runtime:  # not another run's, which names what it left behind
            self.settings.runtime_path.unlink(missing_ok=True)
        started = time.monotonic()
        try:
            if self.serving:
                self.serving = False
                serve.shutdown()
                _wait_until_free(self.settings.host, self.settings.port)
            for group in (self.shards, [self.ledger], [self.projections], [self.notifier]):
                self._stop_actors([a for a in group if a is not None])
            self.shards, self.ledger, self.projections, self.notifier = [], None, None, None
        finally:
            try:
                if self.owns_ray:
                    self.owns_ray = False
                    stop_ray()
            finally:
                if self.nats is not None:
                    self.nats.stop()
                    self.nats = None
        log.info("system_stopped", seconds=round(time.monotonic() - started, 1))

    @staticmethod
    def _stop_actors(actors: list) -> None:
        if not actors:
            return
        try:
            ray.get([a.stop.remote() for a in actors], timeout=30)
        except Exception as exc:  # a dead or stuck actor is killed below all the same
            log.warning("actor_stop_failed", error=repr(exc))
        for a in actors:
            ray.kill(a)

    def stats(self) -> dict:
        shards = ray.get([s.stats.remote() for s in self.shards])
        return {
            "ledger_size": ray.get(self.ledger.size.remote()),
            "projected": ray.get(self.projections.checkpoint.remote()),
            "readings_projected": ray.get(self.projections.readings_checkpoint.remote()),
            "readings": sum(s["readings"] for s in shards),
            "rejected": sum(s["rejected"] for s in shards),
            "events": sum(s["events"] for s in shards),
            "webhooks": ray.get(self.notifier.stats.remote()),
        }

    def __enter__(self) -> System:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
