"""The Ray this system runs on: its settings, starting and stopping it, and the actors
that start themselves again when Ray restarts them (`resuming`)."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import warnings

import ray
import structlog

from plumeline.infra.runtime import logs
from plumeline.infra.runtime.data_dir import HAPROXY_PARENT, HAPROXY_PREFIX
from plumeline.infra.runtime.loopback import WORKER_HOOK, loopback_env, ray_on_loopback
from plumeline.infra.runtime.nats import free_port
from plumeline.infra.runtime.settings import Settings

__all__ = ["haproxy_dir", "ray_env", "resuming", "start_ray", "stop_ray"]

log = structlog.get_logger("plumeline.system")  # the name these events had in infra/runtime/system.py

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
    RAY_enable_metrics_collection=1 and RAY_SERVE_HAPROXY_METRICS_ENABLED=1.

    Ray starts its workers at nice 15, a batch job's place. Plumeline's workers are the
    system (the API's replica, shard hosts, ledger writer, projections): at nice 15 any
    ordinary process on the machine, the HTTP clients of a benchmark among them, took
    the replica's core first, and its p99 was the queue that built up meanwhile
    (docs/benchmarks.md, "The API at nice 0"). So nice 0, as nats-server runs."""
    metrics, stats = free_port(), free_port()  # never the same port twice
    return {
        "RAY_worker_niceness": "0",
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
    node id in them. The private Ray listens on 127.0.0.1 only (infra/runtime/loopback.py)."""
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


def haproxy_dir() -> str | None:
    """The directory `start_ray` made for the private Ray's HAProxy, until `stop_ray`."""
    return _haproxy_dir
