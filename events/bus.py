"""How a component reaches NATS: every server of the address, and its own reply inbox.

Components receive the NATS address as one string (it crosses Ray and Serve as an
argument): one URL, or a cluster's, comma-separated, each possibly carrying the
component's identity (`nats://user:password@host:port`). Every connection splits it
here, so that nats-py knows every node of a cluster and reconnects to another when the
one it is on goes away.

Every identity of the embedded nats-server may subscribe to replies under its own name
only (`_INBOX.<user>.>`, infra/runtime/nats_auth.py), so that none reads the answers another
is sent — a KV read of the webhook secrets, say. A URL without a user (a bare test
server) keeps nats-py's `_INBOX`.

The identity goes to nats-py as its login options, not inside the server URLs: a
cluster's nodes tell the client of each other (their client URLs, no user), and
nats-py gives such a discovered server only the login of its options. With the
identity left in the URLs, every reconnect through a discovered node would be
refused ("Authorization Violation") before the client tried the next.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit, urlunsplit

__all__ = ["connect_options", "inbox_prefix", "nats_servers", "redact"]


def connect_options(url: str) -> dict:
    """The keyword arguments of `nats.connect` that the address decides: the servers
    without credentials, and the first one's login (user and password, or token)."""
    servers = [urlsplit(u) for u in nats_servers(url)]
    login = {}
    if servers[0].password is not None:
        login = {"user": unquote(servers[0].username), "password": unquote(servers[0].password)}
    elif servers[0].username:
        login = {"token": unquote(servers[0].username)}
    bare = [urlunsplit(s._replace(netloc=s.netloc.rpartition("@")[2])) for s in servers]
    return {"servers": bare, "inbox_prefix": inbox_prefix(url), **login}


def nats_servers(url: str) -> list[str]:
    """["nats://a:4222", "nats://b:4222"] of "nats://a:4222, nats://b:4222"; an
    address without a scheme gets nats://."""
    servers = [u.strip() for u in url.split(",") if u.strip()]
    if not servers:
        raise ValueError(f"no NATS server in {url!r}")
    return [u if "://" in u else f"nats://{u}" for u in servers]


def inbox_prefix(url: str) -> str:
    first = urlsplit(nats_servers(url)[0])
    # a token alone (nats://TOKEN@host) names no user, and must not ride in subjects
    user = first.username if first.password is not None else None
    return f"_INBOX.{unquote(user)}" if user else "_INBOX"


def redact(url: str | None) -> str | None:
    """The URL with its password (or token) replaced, for logs and messages."""
    if not url:
        return url
    out = []
    for one in url.split(","):
        parts = urlsplit(one.strip())
        if parts.username is None:
            out.append(one.strip())
            continue
        user = parts.username if parts.password is not None else ""
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{user}:***@{host}" if user else f"***@{host}"
        if parts.port:
            netloc += f":{parts.port}"
        out.append(urlunsplit(parts._replace(netloc=netloc)))
    return ",".join(out)
