import asyncio

import pytest

from serve.cache import CachedReader


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
        reader = CachedReader(inner, ttl=0.2)
        answers = await asyncio.gather(*(reader.query("alerts", limit=10) for _ in range(50)))
        assert inner.calls == 1 and all(a == answers[0] for a in answers)
        await reader.query("alerts", limit=11)  # other parameters, other question
        assert inner.calls == 2
        await asyncio.sleep(0.25)
        await reader.query("alerts", limit=10)
        assert inner.calls == 3

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
