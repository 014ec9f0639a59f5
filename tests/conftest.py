"""Shared fixtures: one private Ray for the whole run, a fresh nats-server per test."""

from __future__ import annotations

import asyncio
import os

import pytest

os.environ.setdefault("RAY_num_prestart_python_workers", "0")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """`plumeline` commands run in-process point structlog at the test's captured
    stdout, which closes with the test: set it back to the defaults as soon as the
    test's body is done, before fixtures log their teardown."""
    yield
    import structlog

    structlog.reset_defaults()


@pytest.fixture(scope="session")
def ray_session():
    import ray

    from plumeline.infra.runtime.ray_runtime import start_ray, stop_ray
    from plumeline.infra.runtime.settings import Settings

    start_ray(Settings(num_cpus=2))
    yield ray
    stop_ray()


@pytest.fixture
def nats_server(tmp_path):
    from plumeline.infra.runtime.nats import NatsServer

    with NatsServer(tmp_path / "nats") as server:
        yield server


@pytest.fixture
def js_run(nats_server):
    """Run a coroutine `fn(js)` against the test's nats-server with its streams declared."""
    from plumeline.infra.runtime.nats import connect, ensure_streams

    def run(fn):
        async def go():
            nc = await connect(nats_server.url)
            try:
                js = nc.jetstream()
                await ensure_streams(js)
                return await fn(js)
            finally:
                await nc.close()

        return asyncio.run(go())

    return run


@pytest.fixture(scope="module")
def system(ray_session, tmp_path_factory):
    """The whole system (nats-server, Ray actors, chDB, Serve on a free port), one per
    test module; READINGS has 4 partitions."""
    from plumeline.infra.runtime.nats import free_port
    from plumeline.infra.runtime.settings import Settings
    from plumeline.infra.runtime.system import System

    data = tmp_path_factory.mktemp("plumeline")
    # webhooks reach test receivers on 127.0.0.1: the lab use of allow_private_webhooks
    s = System(Settings(data_dir=data, port=free_port(), partitions=4, shards=2,
                        allow_private_webhooks=True)).start()
    yield s
    s.stop()
