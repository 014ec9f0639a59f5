"""Who may join the NATS cluster as a route: the nodes share one route user and password.

A route is a server-to-server connection: a node that joins as one receives every
message of every account and takes part in JetStream's elections, so a stranger
reaching the route port must not get in. Each node's `cluster { authorization }`
asks for the route user, and each node logs in with it on the routes it dials (the
credentials ride in the `nats-route://` URLs, as nats-server wants for routes listed
explicitly). The password is made once, like the components' (0600, O_EXCL), in
`nats-route.json` beside the configuration files: it is needed only to write them
again, and goes to no Plumeline machine.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from pathlib import Path

from plumeline.infra.runtime.nats_auth import Credential, write_private

__all__ = ["ROUTE_FILE", "ROUTE_USER", "cluster_authorization", "ensure_route_credential",
           "route_url"]

ROUTE_FILE = "nats-route.json"
ROUTE_USER = "route"


def ensure_route_credential(directory: Path) -> Credential:
    """The cluster's route identity, made on the first call and read after."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / ROUTE_FILE
    body = {"user": ROUTE_USER, "password": secrets.token_urlsafe(32)}
    with contextlib.suppress(FileExistsError):  # made by an earlier run: keep it
        write_private(path, json.dumps(body, indent=2) + "\n", exclusive=True)
    body = json.loads(path.read_text())
    return Credential(body["user"], body["password"])


def cluster_authorization(route: Credential) -> list[str]:
    """The lines of the `cluster` block that refuse a route without the password."""
    return [
        "  authorization {",
        f"    user: {json.dumps(route.user)}",
        f"    password: {json.dumps(route.password)}",
        "    timeout: 2",
        "  }",
    ]


def route_url(host_port: str, route: Credential | None) -> str:
    """The quoted `nats-route://` URL of a node, logging in as `route` if given."""
    login = f"{route.user}:{route.password}@" if route else ""
    return json.dumps(f"nats-route://{login}{host_port}")
