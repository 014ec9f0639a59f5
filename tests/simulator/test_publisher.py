"""The publisher against a real nats-server with JetStream, started here for these tests.

Kept local on purpose: the shared fixture of tests/conftest.py belongs to infra/, and the
simulator must be testable with nothing but the nats-server binary from the virtualenv.
"""

import asyncio
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nats
import pytest

from plumeline.events.wire import Manifest, PackedFrame, decode_wire, frame_lists, partition_of
from plumeline.simulator import Published, Simulation, frame_headers, publish

START = 1_763_856_000_000
PARTITIONS = 4
BINARY = Path(sys.executable).parent / "nats-server"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def jetstream_url():
    if not BINARY.exists():
        pytest.skip(f"no nats-server at {BINARY}")
    store = tempfile.mkdtemp(prefix="plumeline-sim-nats-")
    port = _free_port()
    cmd = [str(BINARY), "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", store]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("nats-server did not start") from None
                time.sleep(0.05)
        yield f"nats://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(store, ignore_errors=True)


def run(url, fn):
    """Connect, declare a READINGS stream for `readings.>`, run `fn(js)`."""

    async def go():
        nc = await nats.connect(url)
        try:
            js = nc.jetstream()
            await js.add_stream(name="READINGS", subjects=["readings.>"])
            return await fn(js)
        finally:
            await nc.close()

    return asyncio.run(go())


def test_publish_puts_manifests_then_every_frame_on_the_stream(jetstream_url):
    sim = Simulation(1, 3, 8, 10.0, START)
    seen = []

    async def go(js):
        published = await publish(
            js, sim, partitions=PARTITIONS, steps=60, realtime=False, steps_per_frame=5,
            in_flight=7, progress=seen.append,
        )  # fmt: skip
        info = await js.stream_info("READINGS")
        sub = await js.pull_subscribe("readings.>", durable="check")
        messages = await sub.fetch(6, timeout=5)
        return published, info.state.messages, messages

    published, stored, messages = run(jetstream_url, go)
    assert published.frames == 3 * 12
    assert published.readings == sum(
        len(f.values) for f in Simulation(1, 3, 8, 10.0, START).frames(0, 60)
    )
    assert stored == 3 + published.frames
    assert seen and seen[-1] == published
    first = [decode_wire(m.data) for m in messages]
    assert [type(m) for m in first[:3]] == [Manifest] * 3
    assert all(isinstance(m, PackedFrame) for m in first[3:])
    for msg, decoded in zip(messages, first):
        partition = partition_of(decoded.facility, PARTITIONS)
        assert msg.subject == f"readings.{partition}.{decoded.facility}"
    assert messages[3].headers["Nats-Msg-Id"] == f"{first[3].facility}:{frame_lists(first[3]).times[0]}"


def test_a_restarted_simulator_is_deduplicated(jetstream_url):
    async def twice(js):
        for _ in range(2):
            sim = Simulation(1, 2, 8, 10.0, START)
            await publish(js, sim, partitions=PARTITIONS, steps=40, realtime=False)
        return (await js.stream_info("READINGS")).state.messages

    # 2 manifests and, at 31 steps a frame by default, 2 frames for each facility
    assert run(jetstream_url, twice) == 2 + 2 * 2


def test_realtime_paces_steps_by_the_wall_clock_and_stops_when_told(jetstream_url):
    async def go(js):
        sim = Simulation(1, 2, 4, 20.0, START)
        began = time.monotonic()
        paced = await publish(js, sim, partitions=PARTITIONS, steps=10, realtime=True)
        elapsed = time.monotonic() - began

        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.3, stop.set)
        endless = await publish(
            js, Simulation(2, 1, 4, 20.0, START), partitions=PARTITIONS, steps=None,
            realtime=True, stop=stop,
        )  # fmt: skip
        return paced, elapsed, endless

    paced, elapsed, endless = run(jetstream_url, go)
    assert paced == Published(frames=20, readings=80)
    assert 0.4 < elapsed < 2.0  # the tenth step is due 9/20 s after the first
    assert 3 <= endless.frames <= 12


def test_frame_headers_name_facility_and_first_event_time():
    assert frame_headers("ccs-01", 1_767_225_600_000) == {
        "Nats-Msg-Id": "ccs-01:1767225600000"
    }
