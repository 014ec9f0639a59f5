"""Fixtures of the infra tests: a plant's READINGS story, and a shard host with the
ledger writer in the test's own process on a real nats-server (the same classes System
places in Ray actors, without Ray)."""

from __future__ import annotations

import asyncio
import json
import os
import time

import pytest

from plumeline.actors import FacilityConfig, LedgerWriter, ShardHost
from plumeline.events import Frame, Manifest, SensorSpec, encode_wire, readings_subject
from plumeline.infra.runtime.nats import READINGS, connect, ensure_streams

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
PARTITIONS = 4
SPECS = [
    SensorSpec("flue_co2", "CO2 flow", "t/h", "emitted"),
    SensorSpec("co2_captured", "CO2 flow", "t/h", "captured"),
    SensorSpec("co2_injected", "CO2 flow", "t/h", "stored"),
    SensorSpec("co2_vented", "CO2 flow", "t/h", "vented"),
    SensorSpec("solvent_temp", "temperature", "degC"),
]


def plant_story(facility: str, steps: int, every_s: int = 30) -> list[tuple[str, bytes]]:
    """(subject, payload): a manifest, then one frame per `every_s` seconds of event
    time; the solvent overheats for ten frames half-way, and the vent sensor is silent
    for a quarter of an hour after the first hour."""
    subject = readings_subject(facility, PARTITIONS)
    out = [(subject, encode_wire(Manifest(facility=facility, name=facility, kind="ccs",
                                          sensors=SPECS, time=T0)))]
    for s in range(steps):
        values = {"flue_co2": 400.0 + s % 3, "co2_captured": 360.0 + s % 2,
                  "co2_injected": 350.0, "co2_vented": 40.0 - s % 2,
                  "solvent_temp": 55.0 if steps // 2 <= s < steps // 2 + 10 else 40.0 + s % 5 * .2}
        if 120 <= s < 150:
            del values["co2_vented"]
        out.append((subject, encode_wire(Frame(
            facility=facility, sensors=list(values), times=[T0 + s * every_s * 1000] * len(values),
            values=list(values.values())))))
    return out


def version_1(messages: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """The messages with their frames in version 1 (msgpack lists, "type":"frame"), as
    READINGS held them before frame.v2."""
    import msgspec

    from plumeline.events import FRAMES, decode_wire, frame_lists

    out = []
    for subject, data in messages:
        message = decode_wire(data)
        if isinstance(message, FRAMES):
            data = msgspec.msgpack.encode(frame_lists(message))
        out.append((subject, data))
    return out


async def run_pipeline(url: str, data_dir, messages: list[tuple[str, bytes]],
                       config: FacilityConfig | None = None, *, snapshots=None,
                       stats: dict | None = None) -> int:
    """Publish, let a shard host and the ledger writer take everything in, stop them;
    return the ledger's size (and the host's stats() in `stats`, if given). Leaves
    data_dir/runtime.json pointing at `url`."""
    nc = await connect(url)
    js = nc.jetstream()
    await ensure_streams(js, partitions=PARTITIONS)
    writer = LedgerWriter(url, str(data_dir / "ledger.key"))
    await writer.start()
    host = ShardHost(url, list(range(PARTITIONS)), writer.append, config=config,
                     snapshots=snapshots, partition_count=PARTITIONS)
    await host.start()
    for subject, payload in messages:
        await js.publish(subject, payload)
    last = (await js.stream_info(READINGS)).state.last_seq
    deadline = time.monotonic() + 60
    while not await _all_acked(js, last):
        assert time.monotonic() < deadline, host.stats()
        await asyncio.sleep(0.1)
    if stats is not None:
        stats.update(host.stats())
    await host.stop()
    await writer.stop()
    await nc.close()
    (data_dir / "runtime.json").write_text(json.dumps({"pid": os.getpid(), "nats_url": url}))
    return writer.size()


async def _all_acked(js, last: int) -> bool:
    floor = 0
    for p in range(PARTITIONS):
        try:
            info = await js.consumer_info(READINGS, f"shard-p{p}")
        except Exception:
            continue
        if info.num_pending or info.num_ack_pending:
            return False
        floor = max(floor, info.ack_floor.stream_seq)
    return floor == last


@pytest.fixture
def story():
    return plant_story


@pytest.fixture
def old_story():
    """`plant_story` with its frames in version 1."""
    return lambda *args, **kw: version_1(plant_story(*args, **kw))


@pytest.fixture
def pipeline(nats_server, tmp_path):
    """`pipeline(messages, config=None, snapshots=None, stats=None)`: run them through;
    the ledger's size."""
    return lambda messages, config=None, **more: asyncio.run(
        run_pipeline(nats_server.url, tmp_path, messages, config, **more))


@pytest.fixture
def cli(capsys):
    """`cli(*argv)`: (exit status, stdout) of `plumeline argv` (tests/conftest.py sets
    structlog back to its defaults after the test)."""
    from plumeline.infra.cli.main import main

    def run(*argv: str) -> tuple[int, str]:
        capsys.readouterr()
        status = main(list(argv))
        return status, capsys.readouterr().out

    return run
