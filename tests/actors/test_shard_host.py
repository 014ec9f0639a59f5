"""ShardHost's stop, without NATS: the partition task is a stand-in."""

from __future__ import annotations

import asyncio

from actors import ShardHost


async def _append(payload: bytes) -> int:
    return 0


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


def test_stop_ends_a_fetch_loop_cancelled_as_its_message_arrives():
    """On Python 3.11 wait_for returns the message and drops a cancellation that comes
    at that moment: a single cancel would leave the loop fetching, and stop waiting."""

    async def go():
        host = ShardHost("nats://127.0.0.1:1", [0], _append)
        arrived: list[asyncio.Future] = []
        task = asyncio.create_task(_fetching(arrived))
        host._tasks.append(task)
        await asyncio.sleep(0)  # the loop waits for its first message
        arrived[-1].set_result(b"frame")  # it arrives, and before the loop has it...
        stopping = asyncio.create_task(host.stop())  # ...stop cancels the loop
        await asyncio.wait_for(stopping, 10.0)
        return task

    task = asyncio.run(go())
    assert task.cancelled()
