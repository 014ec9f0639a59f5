"""Where the NATS servers are: one address, or a cluster's, comma-separated.

Components receive the NATS address as one string (it crosses Ray and Serve as an
argument); every connection splits it here, so that nats-py knows every node of a
cluster and reconnects to another when the one it is on goes away.
"""

from __future__ import annotations

__all__ = ["nats_servers"]


def nats_servers(url: str) -> list[str]:
    """["nats://a:4222", "nats://b:4222"] of "nats://a:4222, nats://b:4222"; an
    address without a scheme gets nats://."""
    servers = [u.strip() for u in url.split(",") if u.strip()]
    if not servers:
        raise ValueError(f"no NATS server in {url!r}")
    return [u if "://" in u else f"nats://{u}" for u in servers]
