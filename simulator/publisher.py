"""Putting a simulation on JetStream: manifests first, then frames.

The only module of the simulator that talks to NATS. It takes a JetStream context
(`nc.jetstream()`) rather than a URL, so connecting and stream set-up stay in `infra/`.
Every frame carries a `Nats-Msg-Id` derived from its facility and first step, so a
simulator restarted over the same steps (and the same frame size) is deduplicated by
JetStream within the stream's duplicate window instead of doubling readings.
"""

from __future__ import annotations

import asyncio
import itertools
import struct
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from plumeline.events.wire import PackedFrame, encode_wire, readings_subject
from plumeline.simulator.simulation import Simulation

if TYPE_CHECKING:
    from nats.js import JetStreamContext

__all__ = ["Published", "frame_headers", "manifest_headers", "publish"]

# Readings generated per call into the simulation when publishing as fast as possible:
# big enough for numpy to pay off, small enough to keep memory flat.
CHUNK_READINGS = 100_000
FRAME_READINGS = 250


class Published(NamedTuple):
    frames: int
    readings: int


def frame_headers(facility: str, first_time_ms: int) -> dict[str, str]:
    """JetStream's de-duplication key of a frame: its facility and the event time of its
    first reading. Not the step: a simulator restarted on the same data dir counts
    steps from 0 again, and its new frames must not pass for the old ones."""
    return {"Nats-Msg-Id": f"{facility}:{first_time_ms}"}


def manifest_headers(facility: str, payload: bytes) -> dict[str, str]:
    # keyed by content: a restarted simulator repeats an identical manifest harmlessly,
    # but one restarted with other sensors must not be swallowed as a duplicate
    return {"Nats-Msg-Id": f"{facility}:manifest:{zlib.crc32(payload):08x}"}


async def publish(
    js: JetStreamContext,
    sim: Simulation,
    *,
    partitions: int,
    steps: int | None,
    realtime: bool,
    steps_per_frame: int | None = None,
    first_step: int = 0,
    in_flight: int = 1000,
    progress: Callable[[Published], None] | None = None,
    stop: asyncio.Event | None = None,
) -> Published:
    """Publish the manifests, then steps [first_step, first_step + steps) as frames.

    `steps=None` runs until `stop` is set. Realtime paces steps by the wall clock at
    `sim.rate_hz` and sends each frame as soon as its last step is due (default one
    step per frame, so readings are never held back); otherwise frames go out as fast
    as JetStream acknowledges them, up to `in_flight` awaiting acks, each holding about
    250 readings by default. `progress` is called with the running totals after each
    batch of acknowledgements.
    """
    if steps_per_frame is None:
        steps_per_frame = 1 if realtime else sim.steps_for_frames_of(FRAME_READINGS)
    subjects = {f: readings_subject(f, partitions) for f in sim.facilities}
    stop = stop or asyncio.Event()

    acks = []
    for manifest in sim.manifests():
        payload = encode_wire(manifest)
        headers = manifest_headers(manifest.facility, payload)
        acks.append(js.publish(subjects[manifest.facility], payload, headers=headers))
    await asyncio.gather(*acks)

    def send(frame: PackedFrame):
        first = struct.unpack_from("<q", frame.times)[0]  # its first time (int64, LE)
        headers = frame_headers(frame.facility, first)
        return js.publish(subjects[frame.facility], encode_wire(frame), headers=headers)

    frames = readings = 0
    if realtime:
        chunk = steps_per_frame
    else:
        per_frame = steps_per_frame * sim.sensors_per_facility * len(sim.facilities)
        chunk = steps_per_frame * max(1, CHUNK_READINGS // per_frame)
    end = None if steps is None else first_step + steps
    loop = asyncio.get_running_loop()
    started = loop.time()
    pending = []
    for lo in itertools.count(first_step, chunk):
        if stop.is_set() or (end is not None and lo >= end):
            break
        hi = lo + chunk if end is None else min(lo + chunk, end)
        if realtime:
            due = started + (hi - 1 - first_step) / sim.rate_hz
            try:
                await asyncio.wait_for(stop.wait(), timeout=max(0.0, due - loop.time()))
                break
            except TimeoutError:
                pass
        for frame in sim.packed_frames(lo, hi, steps_per_frame):
            pending.append(send(frame))
            frames += 1
            readings += frame.count
            if len(pending) >= in_flight:
                await asyncio.gather(*pending)
                pending = []
                if progress:
                    progress(Published(frames, readings))
        if realtime and pending:
            await asyncio.gather(*pending)
            pending = []
            if progress:
                progress(Published(frames, readings))
    await asyncio.gather(*pending)
    if progress and pending:
        progress(Published(frames, readings))
    return Published(frames, readings)
