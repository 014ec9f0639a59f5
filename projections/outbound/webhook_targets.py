"""Where a webhook may be sent: public addresses only, checked when it is subscribed
and again at every connection, to the address checked.

A webhook URL is chosen by whoever holds the `command` scope; without this, the
notifier would POST from inside the deployment to what an outsider cannot reach
(`http://127.0.0.1:4222`, `http://169.254.169.254/…`, a private network). A name
that resolves to a public address when subscribed may resolve to an internal one
later (DNS rebinding), so `PinnedTransport` resolves again at connect time, checks
every address, and connects to the checked one, keeping the name in the Host header
and in TLS's SNI (so certificates are checked against the name, as usual).
`allow_private` lifts the check, for a lab whose receivers live on the same machine.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable

import httpx

from plumeline.projections.webhooks import signature_headers

__all__ = ["PinnedTransport", "Resolver", "TargetRefused", "checked_addresses", "post_signed",
           "refusal", "system_resolver"]

# (host, port) -> the addresses it resolves to, as strings
Resolver = Callable[[str, int], Awaitable[list[str]]]


class TargetRefused(ValueError):
    """A webhook target inside the deployment's networks (or one that will not resolve)."""


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def refusal(address: str) -> str | None:
    """Why an address is no webhook's target, or None for a public one. An IPv4
    address inside an IPv6 one (::ffff:127.0.0.1, 6to4, Teredo) is judged too."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # a zone (fe80::1%eth0) aside
    if isinstance(ip, ipaddress.IPv6Address):  # an IPv4 address inside: judge that one
        inside = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if inside is not None and (why := refusal(str(inside))) is not None:
            return f"{address} holds {why}"
    for kind in ("loopback", "link_local", "multicast", "unspecified", "reserved", "private"):
        if getattr(ip, f"is_{kind}"):
            return f"{address} is {kind.replace('_', '-')}"
    if not ip.is_global:  # shared (100.64/10), documentation and the like
        return f"{address} is not a public address"
    return None


async def checked_addresses(host: str, port: int, resolver: Resolver,
                            allow_private: bool = False) -> list[str]:
    """The addresses of `host`, every one of them public (unless `allow_private`);
    raises TargetRefused naming the first that is not, or if none resolves."""
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
        addresses = [str(literal)]
    except ValueError:
        try:
            addresses = await resolver(host, port)
        except (OSError, UnicodeError) as exc:
            raise TargetRefused(f"{host} does not resolve: {exc}") from None
    if not addresses:
        raise TargetRefused(f"{host} does not resolve")
    if not allow_private:
        for address in addresses:
            if (why := refusal(address)) is not None:
                raise TargetRefused(f"webhook target {host} refused: {why}")
    return addresses


class PinnedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that connects only to checked addresses: each request's
    host is resolved and checked, and the request goes to the first address, with
    the name kept in Host and SNI. A refused target raises TargetRefused."""

    def __init__(self, resolver: Resolver = system_resolver, allow_private: bool = False,
                 inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.resolver = resolver
        self.allow_private = allow_private
        self.inner = inner or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        port = url.port or (443 if url.scheme == "https" else 80)
        address = (await checked_addresses(url.host, port, self.resolver,
                                           self.allow_private))[0]
        request.url = url.copy_with(host=address)
        request.headers.setdefault("Host", url.netloc.decode("ascii"))
        if url.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": url.host}
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def post_signed(http: httpx.AsyncClient, url: str, secret: str, msg_id: str, body: bytes,
                      headers: dict, now_s: int, deadline_s: float, log) -> tuple[int | None, str]:
    """POST `body` signed (Standard Webhooks) within `deadline_s` in all: (HTTP status
    or None, the outcome's class). What the remote said, and any error's text, stay out
    of the answer (in a delivery log they would tell a subscriber whether a port is
    open); `log` keeps the error, for operators. The answer's body is not read: a
    receiver cannot make us download anything."""
    headers = {"Content-Type": "application/json",
               **signature_headers(secret, msg_id, now_s, body), **headers}
    try:
        async with asyncio.timeout(deadline_s):
            async with http.stream("POST", url, content=body, headers=headers) as r:
                status = r.status_code
    except TargetRefused as exc:
        log.warning("delivery_target_refused", reason=str(exc))
        return None, "refused_target"
    except (TimeoutError, httpx.TimeoutException):
        return None, "timeout"
    except (httpx.HTTPError, OSError) as exc:
        log.info("delivery_connect_failed", error=repr(exc))
        return None, "connect_failed"
    if 200 <= status < 300:
        return status, "delivered"
    return status, f"http_{status // 100}xx"
