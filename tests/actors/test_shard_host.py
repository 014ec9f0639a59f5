"""ShardHost without NATS: its stop, with a stand-in partition task, and its lanes'
batches judged together."""

from __future__ import annotations

import asyncio

from plumeline.actors import Derivation, FacilityConfig, ShardHost, shard_host
from plumeline.events import encode_wire, readings_subject
from plumeline.simulator import Simulation


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


def _lane_messages(lanes: int) -> list[list[tuple[str, int, int, bytes]]]:
    """Each lane's READINGS messages: a plant's manifest, then its frames."""
    sim = Simulation(seed=3, facilities=lanes, sensors_per_facility=20, rate_hz=1,
                     start_ms=1_767_225_600_000)
    out: list[list] = [[] for _ in range(lanes)]
    seq = 0
    for k, m in enumerate(sim.manifests()):
        seq += 1
        out[k].append((readings_subject(m.facility, 1), seq, sim.start_ms, encode_wire(m)))
    lane_of = {m.facility: k for k, m in enumerate(sim.manifests())}
    for f in sim.frames(0, 40, 20):
        seq += 1
        out[lane_of[f.facility]].append((readings_subject(f.facility, 1), seq, max(f.times),
                                         encode_wire(f)))
    return out


def _derived_alone(messages) -> list:
    d = Derivation(FacilityConfig())
    return [e.body for x in d.derive_batch(messages) for e in x.envelopes]


def test_lanes_with_batches_ready_are_derived_in_one_round(monkeypatch):
    """Every lane has a batch: one call judges them all, without waiting `gather_s`;
    two lanes of three: one call, once `gather_s` has passed. Each lane gets the
    events its own batch gives alone."""
    calls: list[int] = []
    real = shard_host.derive_batches
    monkeypatch.setattr(shard_host, "derive_batches",
                        lambda pairs: calls.append(len(pairs)) or real(pairs))
    lanes = _lane_messages(3)

    async def go(host, which):
        parts = list(host.partitions.values())
        loop = asyncio.get_running_loop()
        started = loop.time()
        derived = await asyncio.gather(*(host._derive_with_others(parts[k].derivation, lanes[k])
                                         for k in which))
        return derived, loop.time() - started

    derived, waited = asyncio.run(go(ShardHost("nats://127.0.0.1:1", [0, 1, 2], _append,
                                               gather_s=30.0), [0, 1, 2]))
    assert calls == [3] and waited < 30.0
    assert all(_derived_alone(lane) for lane in lanes)  # each lane has events to compare
    for k in range(3):
        assert [e.body for x in derived[k] for e in x.envelopes] == _derived_alone(lanes[k])

    derived, waited = asyncio.run(go(ShardHost("nats://127.0.0.1:1", [0, 1, 2], _append,
                                               gather_s=0.2), [0, 2]))
    assert calls == [3, 2] and waited >= 0.2
    assert [e.body for x in derived[1] for e in x.envelopes] == _derived_alone(lanes[2])
