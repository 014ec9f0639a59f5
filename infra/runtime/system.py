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
import socket
import time
from functools import partial

import ray
import structlog
from ray import serve

from plumeline.actors import Lane, LedgerWriter, ShardHost, SnapshotPolicy, lanes
from plumeline.events import partition_of, redact
from plumeline.infra.runtime import logs, ray_runtime
from plumeline.infra.runtime.data_dir import clean_leftovers
from plumeline.infra.runtime.export import write_export
from plumeline.infra.runtime.keys import KeyStore
from plumeline.infra.runtime.nats import (
    READINGS,
    NatsServer,
    PartitionsChanged,
    connect,
    ensure_streams,
    free_port,
)
from plumeline.infra.runtime.nats_auth import (
    Credential,
    authorization,
    ensure_credentials,
    outside_credentials,
    url_as,
    write_private,
)
from plumeline.infra.runtime.ray_runtime import resuming, start_ray, stop_ray
from plumeline.infra.runtime.settings import Settings
from plumeline.projections.outbound.notifier import Notifier
from plumeline.projections.runner import ProjectionRunner
from plumeline.serve.deployment import Api
from plumeline.simulator import what_if

__all__ = ["System", "check_shards", "default_shards", "shard_partitions"]

log = structlog.get_logger("plumeline.system")


def shard_partitions(partitions: int, shards: int) -> list[list[int]]:
    return [[p for p in range(partitions) if p % shards == i] for i in range(shards)]


def default_shards(partitions: int) -> int:
    """One shard host per CPU of the Ray cluster, at least one, at most one per
    partition (a partition has one consumer, so more hosts would idle)."""
    cpus = int(ray.cluster_resources().get("CPU", 1))
    return max(1, min(partitions, cpus))


def _check_free(host: str, port: int) -> None:
    from plumeline.infra.runtime.errors import UserError

    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            raise UserError(f"{host}:{port} is in use: stop what holds it or pass --port") from None


def check_shards(s: Settings) -> None:
    """Refuse, before anything starts, shard and replica settings that cannot work."""
    from plumeline.infra.runtime.errors import UserError

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
        # each component's identity on the embedded nats-server (infra/runtime/nats_auth.py),
        # or on an outside NATS made by `nats-config` (DATA_DIR/credentials); none for
        # an outside NATS whose URL carries what it asks for
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
        else:  # a cluster from `nats-config` has the embedded server's users
            self.credentials = outside_credentials(self.nats_url, s.data_dir)
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
            "haproxy_dir": ray_runtime.haproxy_dir() if self.owns_ray else None,
        }))

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until the shard hosts have acknowledged everything in READINGS (the
        simulator has stopped), so that a stop leaves no reading unprocessed; False
        if they have not within `timeout`."""
        s = self.settings
        durables = [lane.durable for lane in lanes(s.partitions, s.pin)]

        async def pending() -> int:
            nc = await connect(self.url_for("setup"), name="drain")
            try:
                js = nc.jetstream()
                infos = [await js.consumer_info(READINGS, d) for d in durables]
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
            await ensure_streams(nc.jetstream(), self.settings.nats_replicas,
                                 self.settings.partitions)
        except PartitionsChanged as e:
            from plumeline.infra.runtime.errors import UserError

            raise UserError(str(e)) from None
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
