"""A real nats-server started with the users `plumeline up` generates, and a way to
connect to it as any of them, collecting what the server refuses."""

from __future__ import annotations

import asyncio

import nats
import pytest

from plumeline.infra.runtime.nats import NatsServer, ensure_streams, free_port
from plumeline.infra.runtime.nats_auth import add_device, authorization, ensure_credentials, url_as

PARTITIONS = 16


class Login:
    """A connection as one identity; `refused` holds the server's permission errors."""

    def __init__(self, nc, refused: list[str]) -> None:
        self.nc = nc
        self.js = nc.jetstream(timeout=2.0)  # a refused request is never answered
        self.refused = refused

    async def settle(self) -> list[str]:
        """The refusals so far, after a round trip that lets any still on the way arrive
        (the server answers the PING after the -ERR; nats-py hands the -ERR to the
        error callback in a task of its own, which then needs a turn of the loop)."""
        await self.nc.flush()
        await asyncio.sleep(0.2)
        return self.refused


def refused_as(login, user: str, attempt) -> list[str]:
    """Log in as `user`, run `attempt(login)`, and return what the server refused."""

    async def go():
        who = await login(user)
        try:
            await attempt(who)
            return list(await who.settle())
        finally:
            await who.nc.close()

    return asyncio.run(go())


@pytest.fixture
def bus(tmp_path):
    """(server, credentials, login): the generated configuration, a device of ccs-01,
    and the streams declared by the setup identity, as `up` does."""
    add_device(tmp_path, "ccs-01", PARTITIONS)
    credentials = ensure_credentials(tmp_path)
    server = NatsServer(tmp_path / "nats", mqtt_port=free_port(),
                        auth=authorization(credentials, PARTITIONS)).start()

    async def login(user: str) -> Login:
        from plumeline.events import inbox_prefix

        refused: list[str] = []

        async def on_error(exc: Exception) -> None:
            refused.append(str(exc).lower())

        url = url_as(server.url, credentials[user])
        nc = await nats.connect(url, name=user, error_cb=on_error, allow_reconnect=False,
                                inbox_prefix=inbox_prefix(url))
        return Login(nc, refused)

    async def declare():
        setup = await login("setup")
        await ensure_streams(setup.js)
        await setup.nc.close()

    asyncio.run(declare())
    try:
        yield server, credentials, login
    finally:
        server.stop()
