"""Answers kept by the projections' position: a request while nothing moved is no
query and no encoding; a move is a new answer and a new ETag; a matching ETag is 304."""

import asyncio

from plumeline.serve.cache import CachedReader, json_view
from plumeline.serve.positions import LEDGER_VIEWS, READINGS_VIEWS, ProjectionPositions
from tests.serve.test_cache import _asking


class Projections:
    """A store whose answers are its ledger position, and the positions it reports."""

    def __init__(self):
        self.ledger, self.readings, self.queries = 1, 10, 0
        self.away = False

    async def query(self, name, **params):
        self.queries += 1
        return [{"seq": self.ledger, "readings": self.readings, "params": params}]

    async def ask(self):
        if self.away:
            raise ConnectionError("runner away")
        return self.ledger, self.readings


def _shape(rows, params):
    _shape.calls += 1
    return {"alerts": rows, "count": len(rows)}


_shape.calls = 0


async def _settled(positions: ProjectionPositions) -> None:
    await asyncio.sleep(positions.every_s * 3)


async def _following(stale: float = 0, min_age: float = 0):
    """A store, its positions followed every 10 ms, and a cache over it by position."""
    store = Projections()
    positions = ProjectionPositions(store.ask, every_s=0.01)
    reader = CachedReader(store, ttl=0.01, stale=stale, positions=positions, min_age=min_age)
    positions.of("alerts")  # starts following
    await _settled(positions)
    return store, positions, reader


def test_cached_answers_change_exactly_when_the_checkpoint_moves():
    async def go():
        store, positions, reader = await _following()
        first = await json_view(_asking(reader), "alerts", _shape, limit=5)
        queries, encoded = store.queries, _shape.calls
        for _ in range(5):  # far past the ttl, and nothing moved: no query, no encoding
            await asyncio.sleep(0.02)
            again = await json_view(_asking(reader), "alerts", _shape, limit=5)
            assert again.body == first.body and again.headers["etag"] == first.headers["etag"]
        assert (store.queries, _shape.calls) == (queries, encoded)

        not_modified = await json_view(
            _asking(reader, {"If-None-Match": f'W/"x", {first.headers["etag"]}'}),
            "alerts", _shape, limit=5)
        assert not_modified.status_code == 304 and not_modified.body == b""
        assert not_modified.headers["etag"] == first.headers["etag"]

        store.readings += 1  # the readings moved, not the ledger: /alerts is still current
        await _settled(positions)
        await json_view(_asking(reader), "alerts", _shape, limit=5)
        assert store.queries == queries

        store.ledger += 1  # a new event
        await _settled(positions)
        moved = await json_view(_asking(reader, {"If-None-Match": first.headers["etag"]}),
                                "alerts", _shape, limit=5)
        assert moved.status_code == 200 and b'"seq":2' in moved.body
        assert moved.headers["etag"] != first.headers["etag"] and store.queries == queries + 1
        assert moved.headers["cache-control"] == "private, no-cache"
        await positions.close()

    asyncio.run(go())


def test_the_key_is_every_parameter_and_readings_views_follow_both_positions():
    async def go():
        store, positions, reader = await _following()
        five = await json_view(_asking(reader), "alerts", _shape, limit=5)
        six = await json_view(_asking(reader), "alerts", _shape, limit=6)
        assert five.headers["etag"] != six.headers["etag"] and store.queries == 2
        metrics = await reader.query("facility_metrics", facility="f1")
        store.readings += 1
        await _settled(positions)
        assert await reader.query("facility_metrics", facility="f1") is not metrics
        assert store.queries == 4
        await positions.close()

    asyncio.run(go())


def test_without_positions_answers_are_kept_by_age():
    async def go():
        store = Projections()
        positions = ProjectionPositions(store.ask, every_s=0.01, trust_s=0.05)
        reader = CachedReader(store, ttl=0.02, stale=0, positions=positions)
        store.away = True  # never heard: nothing is trusted
        await reader.query("alerts")
        await asyncio.sleep(0.05)
        await reader.query("alerts")
        assert store.queries == 2
        # a view that reads the clock is kept by age even while positions are known
        store.away = False
        await _settled(positions)
        assert positions.of("silences") is None and positions.of("alerts") == 1
        await reader.query("silences")
        await asyncio.sleep(0.03)
        await reader.query("silences")
        assert store.queries == 4
        await positions.close()

    asyncio.run(go())


def test_views_named_by_position_are_disjoint():
    assert not LEDGER_VIEWS & READINGS_VIEWS


def test_a_moving_projection_is_asked_at_most_every_min_age():
    async def go():
        store, positions, reader = await _following(stale=5, min_age=0.3)
        first = await reader.query("alerts")
        store.ledger += 1
        await _settled(positions)
        assert await reader.query("alerts") is first and store.queries == 1
        await asyncio.sleep(0.3)
        assert await reader.query("alerts") is first  # served while the refresh runs
        await asyncio.sleep(0.02)
        assert store.queries == 2 and (await reader.query("alerts"))[0]["seq"] == 2
        await positions.close()

    asyncio.run(go())
