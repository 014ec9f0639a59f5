import asyncio
from types import SimpleNamespace

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse

from plumeline.serve.cache import CachedReader, encode, json_view


def _asking(reader, headers: dict | None = None) -> Request:
    """A GET request to an app whose reader is `reader`."""
    app = SimpleNamespace(state=SimpleNamespace(reader=reader))
    return Request({"type": "http", "method": "GET", "path": "/alerts", "query_string": b"",
                    "headers": [(k.lower().encode(), v.encode())
                                for k, v in (headers or {}).items()], "app": app})


class CountingReader:
    def __init__(self):
        self.calls = 0

    async def query(self, name, **params):
        self.calls += 1
        await asyncio.sleep(0.01)
        if params.get("state") == "bad":
            raise ValueError("state must be one of active, cleared")
        return [name, params, self.calls]


def test_concurrent_askers_share_one_answer_and_it_expires():
    async def go():
        inner = CountingReader()
        reader = CachedReader(inner, ttl=0.2, stale=0)
        answers = await asyncio.gather(*(reader.query("alerts", limit=10) for _ in range(50)))
        assert inner.calls == 1 and all(a == answers[0] for a in answers)
        await reader.query("alerts", limit=11)  # other parameters, other question
        assert inner.calls == 2
        await asyncio.sleep(0.25)
        assert (await reader.query("alerts", limit=10))[2] == 3
        assert inner.calls == 3

    asyncio.run(go())


def test_an_expired_answer_is_served_while_one_refresh_runs():
    async def go():
        inner = CountingReader()
        reader = CachedReader(inner, ttl=0.1, stale=1.0)
        first = await reader.query("alerts", limit=10)
        await asyncio.sleep(0.15)  # expired, within the stale window
        during = await asyncio.gather(*(reader.query("alerts", limit=10) for _ in range(20)))
        assert all(a is first for a in during)  # nobody waited for the refresh
        await asyncio.sleep(0.05)
        assert inner.calls == 2  # one refresh for all of them
        assert (await reader.query("alerts", limit=10))[2] == 2
        await asyncio.sleep(1.2)  # past ttl + stale: the asker waits for a new answer
        assert (await reader.query("alerts", limit=10))[2] == 3

    asyncio.run(go())


def test_a_failed_refresh_keeps_the_answer_and_is_retried():
    class Flaky(CountingReader):
        fail = False

        async def query(self, name, **params):
            answer = await super().query(name, **params)
            if self.fail:
                raise ConnectionError("projections away")
            return answer

    async def go():
        inner = Flaky()
        reader = CachedReader(inner, ttl=0.05, stale=10)
        first = await reader.query("alerts")
        inner.fail = True
        await asyncio.sleep(0.06)
        assert await reader.query("alerts") is first
        await asyncio.sleep(0.02)  # the refresh failed, unlogged, uncached
        assert inner.calls == 2 and await reader.query("alerts") is first
        inner.fail = False
        await asyncio.sleep(0.02)
        assert inner.calls == 3 and (await reader.query("alerts"))[2] == 3

    asyncio.run(go())


def test_bodies_are_encoded_once_per_answer_as_starlette_would():
    def shape(answer, params):
        shape.calls += 1
        return {"rows": answer, "limit": params["limit"], "text": "µg/m³"}
    shape.calls = 0

    async def go():
        inner = CountingReader()
        reader = CachedReader(inner, ttl=10)
        bodies = {(await json_view(_asking(reader), "alerts", shape, limit=5)).body
                  for _ in range(5)}
        plain = await json_view(_asking(CountingReader()), "alerts", shape, limit=5)
        assert shape.calls == 2 and bodies == {plain.body}
        assert plain.body == JSONResponse({"rows": ["alerts", {"limit": 5}, 1], "limit": 5,
                                           "text": "µg/m³"}).body == encode(
            {"rows": ["alerts", {"limit": 5}, 1], "limit": 5, "text": "µg/m³"})
        assert plain.headers["content-type"] == "application/json"

    asyncio.run(go())


def test_errors_reach_every_asker_and_are_not_cached():
    async def go():
        inner = CountingReader()
        reader = CachedReader(inner, ttl=10)
        results = await asyncio.gather(
            *(reader.query("alerts", state="bad") for _ in range(5)), return_exceptions=True)
        assert all(isinstance(r, ValueError) for r in results)
        with pytest.raises(ValueError):
            await reader.query("alerts", state="bad")
        assert inner.calls == 2

    asyncio.run(go())
