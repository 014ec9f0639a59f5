"""How a component names itself on NATS: the identity in its URL picks its reply inbox.

Every identity of the embedded nats-server may subscribe to replies under its own name
only (`_INBOX.<user>.>`, infra/nats_auth.py), so that none reads the answers another
is sent — a KV read of the webhook secrets, say. A component passes
`inbox_prefix(url)` to `nats.connect`; a URL without a user (a bare test server)
keeps nats-py's `_INBOX`.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

__all__ = ["inbox_prefix", "redact"]


def inbox_prefix(url: str) -> str:
    user = _first(url).username
    return f"_INBOX.{user}" if user else "_INBOX"


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


def _first(url: str):
    return urlsplit(url.split(",")[0].strip())
