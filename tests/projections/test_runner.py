"""ProjectionRunner's stop, without NATS or ClickHouse: the follower is a stand-in."""

from __future__ import annotations

import asyncio

from plumeline.projections.runner import ProjectionRunner


class _Store:
    closed = False

    def close(self) -> None:
        self.closed = True


async def _fetching(arrived: list[asyncio.Future]) -> None:
    """A fetch loop as the actors' over nats-py's, which awaits each message in
    `asyncio.wait_for`: an empty fetch times out, and the loop fetches again."""
    loop = asyncio.get_running_loop()
    while True:
        arrived.append(loop.create_future())
        try:
            await asyncio.wait_for(arrived[-1], 0.25)
        except TimeoutError:
            continue


def test_stop_ends_a_follower_cancelled_as_its_message_arrives():
    """On Python 3.11 wait_for returns the message and drops a cancellation that comes
    at that moment: a single cancel would leave the follower fetching, and stop
    waiting."""

    async def go():
        runner = ProjectionRunner("nats://127.0.0.1:1")
        runner.store, runner._readings_store = _Store(), _Store()
        arrived: list[asyncio.Future] = []
        task = asyncio.create_task(_fetching(arrived))
        runner._tasks = [task]
        await asyncio.sleep(0)  # the follower waits for its first message
        arrived[-1].set_result(b"record")  # it arrives, and before the loop has it...
        stopping = asyncio.create_task(runner.stop())  # ...stop cancels the loop
        await asyncio.wait_for(stopping, 10.0)
        return runner, task

    runner, task = asyncio.run(go())
    assert task.cancelled()
    assert runner.store.closed and runner._readings_store.closed


def test_a_lingering_fetch_stops_at_an_empty_answer():
    """nats-py answers a stray status message with no messages at once: the readings
    follower's linger must take that as the end of what there is, not ask again in a
    loop for the rest of its linger (which spun a core while the system was idle)."""
    calls: list[int] = []

    class _Subscription:
        async def fetch(self, batch: int, timeout: float) -> list:
            calls.append(batch)
            return [b"message"] if len(calls) == 1 else []

    runner = ProjectionRunner("nats://127.0.0.1:1", batch=10)
    msgs = asyncio.run(runner._fetch(_Subscription(), linger=5.0))
    assert msgs == [b"message"]
    assert calls == [10, 9]


class _Message:
    def __init__(self, size: int) -> None:
        self.data = b"x" * size


class _Backlog:
    """A consumer with `waiting` messages of `size` bytes each behind it."""

    def __init__(self, waiting: int, size: int = 100) -> None:
        self.waiting, self.size, self.calls = waiting, size, []

    async def fetch(self, batch: int, timeout: float) -> list:
        self.calls.append(batch)
        n = min(batch, self.waiting)
        self.waiting -= n
        if not n:
            raise TimeoutError
        return [_Message(self.size) for _ in range(n)]


def test_the_readings_follower_gathers_a_backlog_into_one_insert():
    """With a backlog, the readings follower takes up to `readings_batch` messages,
    `batch` a fetch, without lingering; the ledger's follower one fetch, as before."""
    runner = ProjectionRunner("nats://127.0.0.1:1", batch=10)
    backlog = _Backlog(waiting=100)
    msgs = asyncio.run(runner._fetch(backlog, linger=5.0, most=35, max_bytes=1 << 20))
    assert len(msgs) == 35 and backlog.calls == [10, 10, 10, 5]
    backlog = _Backlog(waiting=100)
    assert len(asyncio.run(runner._fetch(backlog, linger=0.0))) == 10
    assert backlog.calls == [10]


def test_the_readings_follower_stops_gathering_at_its_bytes():
    """Frames may be large (up to 100,000 readings): the bytes, not only the count,
    bound what one insert holds."""
    runner = ProjectionRunner("nats://127.0.0.1:1", batch=10)
    backlog = _Backlog(waiting=100, size=1000)
    msgs = asyncio.run(runner._fetch(backlog, linger=0.0, most=100, max_bytes=25_000))
    assert len(msgs) == 30 and backlog.calls == [10, 10, 10]


def test_a_short_first_fetch_lingers_then_gathers_what_came():
    runner = ProjectionRunner("nats://127.0.0.1:1", batch=10)
    backlog = _Backlog(waiting=4)
    msgs = asyncio.run(runner._fetch(backlog, linger=0.01, most=40, max_bytes=1 << 20))
    assert len(msgs) == 4 and backlog.calls == [10, 10]  # the second found nothing
