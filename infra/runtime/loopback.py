"""Keep the private Ray and its HAProxy on 127.0.0.1.

Ray binds its GCS, raylet and workers to every interface, on the address it finds
for the machine, unless it believes clusters are off (its setting for Windows and
macOS), when it takes the loopback address; Serve's HAProxy binds its stats page and
Prometheus exporter to every interface, with no setting to change it. On the
embedded default nothing but the HTTP API (`--host`) need be reached from outside,
and Ray's token authentication is a second line, not the first.
"""

from __future__ import annotations

import shlex
from pathlib import Path

__all__ = ["WORKER_HOOK", "grpc_on_loopback", "loopback_env", "ray_on_loopback", "worker_setup"]

_RAY_CLUSTERS = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"

# every `bind *:PORT` or `bind :PORT` of the config Serve writes (stats, exporter)
_REBIND = r"s/^\([[:space:]]*bind[[:space:]]\+\)\*\?:\([0-9]\)/\1127.0.0.1:\2/"


def ray_on_loopback() -> None:
    """This process (the driver) picks 127.0.0.1 as its node's address; the processes
    it starts read the same from `loopback_env`'s environment."""
    from ray._private import ray_constants  # the setting is read from here at ray.init

    ray_constants.ENABLE_RAY_CLUSTER = False


def loopback_env(directory: str) -> dict[str, str]:
    """Environment for a private Ray's processes: loopback addresses, and an HAProxy
    started through a wrapper in `directory` that rebinds the config's wildcard
    listeners to 127.0.0.1 before it runs the real binary."""
    from ray.serve._private.haproxy import get_haproxy_binary

    wrapper = Path(directory) / "haproxy"
    wrapper.write_text(
        "#!/bin/sh\n"
        "# Serve's HAProxy config binds stats and metrics to every interface: loopback only\n"
        'prev=""\n'
        'for arg in "$@"; do\n'
        f'  [ "$prev" = "-f" ] && sed -i {shlex.quote(_REBIND)} "$arg"\n'
        '  prev="$arg"\n'
        "done\n"
        f'exec {shlex.quote(get_haproxy_binary())} "$@"\n'
    )
    wrapper.chmod(0o700)
    return {_RAY_CLUSTERS: "0", "RAY_SERVE_HAPROXY_BINARY_PATH": str(wrapper)}


# every worker of the private Ray: ray.init(runtime_env={"worker_process_setup_hook": ...});
# a job has one hook, so this one runs the logs' (infra/runtime/logs.py) too
WORKER_HOOK = "plumeline.infra.runtime.loopback.worker_setup"


def worker_setup() -> None:
    from plumeline.infra.runtime import logs

    grpc_on_loopback()
    logs.configure_worker()


def grpc_on_loopback() -> None:
    """In each worker of the private Ray, before it runs anything: a Serve replica's
    server for calls between deployments binds "[::]:0", with no setting to change
    it; on a Ray whose node address is 127.0.0.1 that is where its callers look for
    it anyway. The replica's module imports the function when it is first imported,
    after this."""
    from ray._common import tls_utils

    bind = tls_utils.add_port_to_grpc_server

    def on_loopback(server, address: str):
        return bind(server, address.replace("[::]", "127.0.0.1", 1))

    tls_utils.add_port_to_grpc_server = on_loopback
