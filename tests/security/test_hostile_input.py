"""Hostile input costs nothing: a frame with an impossible time, a message no follower
can apply, a year-2200 reading. Each is refused or dead-lettered with its reason, and
every view keeps moving."""

from __future__ import annotations

import asyncio
import threading
import time

import msgspec
import nats.js.errors
import pytest

from plumeline.events import (
    AcknowledgeAlert,
    Causation,
    Envelope,
    Frame,
    Manifest,
    SensorSpec,
    decode_wire,
    edge_refusal,
    encode_wire,
    readings_subject,
)
from plumeline.events.domain import FacilityRegistered
from plumeline.infra.runtime.nats import DEADLETTER, READINGS, connect, ensure_streams
from plumeline.projections.runner import ProjectionRunner

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MAX_U64 = 2**64 - 1
YEAR_2200 = 7_258_118_400_000
PARTITIONS = 4
FACILITY = "ccs-hostile"
SPECS = [SensorSpec("flue_co2", "CO2 flow", "t/h", "emitted"),
         SensorSpec("solvent_temp", "temperature", "degC")]


def raw_frame(facility: str = FACILITY, **fields) -> bytes:
    """A frame as an attacker writes it: msgpack of anything, no constructor."""
    return msgspec.msgpack.encode({"type": "frame", "facility": facility, **fields})


def hostile_frames(now_ms: int) -> list[bytes]:
    return [
        raw_frame(sensors=["flue_co2"], times=[MAX_U64], values=[1.0]),
        raw_frame(sensors=["flue_co2"], times=[YEAR_2200], values=[1.0]),
        raw_frame(sensors=["flue_co2"], times=[-1], values=[1.0]),
        raw_frame(sensors=["flue_co2"], times=[now_ms + 3_600_000], values=[1.0]),  # an hour on
        raw_frame(sensors=["solvent_temp"], times=[now_ms], values=[float("nan")]),
        raw_frame(sensors=["x" * 10_000], times=[now_ms], values=[1.0]),
        b"\xc1 not msgpack",
    ]


def test_the_schema_refuses_impossible_times_and_unbounded_fields():
    for times in ([MAX_U64], [YEAR_2200], [0], [-(2**63)]):
        with pytest.raises(msgspec.ValidationError, match="times"):
            decode_wire(raw_frame(sensors=["a"], times=times, values=[1.0]))
    with pytest.raises(msgspec.ValidationError, match="sensors"):
        decode_wire(raw_frame(sensors=["a" * 65], times=[T0], values=[1.0]))
    with pytest.raises(msgspec.ValidationError):
        decode_wire(raw_frame(sensors=["a"] * 100_001, times=[T0] * 100_001,
                              values=[1.0] * 100_001))
    ack = AcknowledgeAlert(facility=FACILITY, user="ada", time=T0, alert_id="a1",
                           note="n" * 2001)
    with pytest.raises(msgspec.ValidationError, match="note"):
        decode_wire(encode_wire(ack))
    ok = decode_wire(raw_frame(sensors=["a"], times=[T0], values=[float("nan")]))
    assert isinstance(ok, Frame)  # a value's finiteness is judged per reading, downstream


def test_an_edge_with_a_clock_refuses_a_day_ahead_and_non_finite_values():
    now = T0
    assert edge_refusal([now + 86_400_000], [1.0], now) is None
    assert "a day" in edge_refusal([now + 86_400_001], [1.0], now)
    assert "finite" in edge_refusal([now], [float("inf")], now)


class _Poisoned:
    """A projection with a bug we do not know of yet: it cannot apply one message."""

    name = "readings"

    def __init__(self) -> None:
        self.applied: list[int] = []
        self.skipped: list[int] = []
        self.store = self

    def rows(self, sql):
        return [{"1": 1}]

    def apply(self, batch, stored=None, subjects=None):
        if any(b"poison" in data for _, data in batch):
            raise KeyError("a bug")
        self.applied += [s for s, _ in batch]

    def skip(self, seq):
        self.skipped.append(seq)


def test_a_follower_dead_letters_what_it_cannot_apply_and_moves_on(nats_server):
    async def go():
        nc = await connect(nats_server.url)
        js = nc.jetstream()
        await ensure_streams(js)
        subject = readings_subject(FACILITY, PARTITIONS)
        for data in (b"one", b"poison", b"three"):
            await js.publish(subject, data)
        sub = await js.pull_subscribe(subject, stream=READINGS)
        msgs = await sub.fetch(3, timeout=5)
        runner = ProjectionRunner(nats_server.url)
        runner.js = js
        projection = _Poisoned()
        await runner._apply("readings", projection, threading.Lock(), msgs)
        dead = await js.get_last_msg(DEADLETTER, "deadletter.projection_readings")
        await nc.close()
        return runner, projection, dead

    runner, projection, dead = asyncio.run(go())
    assert projection.applied == [1, 3] and projection.skipped == [2]
    assert runner.dead_lettered == {"ledger": 0, "readings": 1}
    assert dead.data == b"poison"
    assert dead.headers["Plumeline-Source-Seq"] == "2"
    assert "KeyError" in dead.headers["Plumeline-Reason"]


def test_the_stream_feed_dead_letters_an_unreadable_record(nats_server):
    from plumeline.serve.feed import LedgerFeed

    async def go():
        nc = await connect(nats_server.url)
        js = nc.jetstream()
        await ensure_streams(js)
        feed = LedgerFeed(nats_server.url)
        listener = await feed.listen()
        await js.publish("ledger.records", b'{"seq": 1, "event": "not an event"}')
        deadline = time.monotonic() + 20
        while True:
            try:
                dead = await js.get_last_msg(DEADLETTER, "deadletter.stream_feed")
                break
            except nats.js.errors.NotFoundError:
                assert time.monotonic() < deadline, "nothing dead-lettered"
                await asyncio.sleep(0.05)
        assert feed.dead_lettered == 1
        feed.leave(listener)
        await feed.close()
        await nc.close()
        return dead

    dead = asyncio.run(go())
    assert dead.headers["Plumeline-Source-Seq"] == "1"
    assert "cannot stream" in dead.headers["Plumeline-Reason"]


def test_projections_pass_hostile_messages_and_unappliable_records(ray_session, nats_server,
                                                                  tmp_path):
    """The projection runner, as the system places it (a Ray actor on chDB), over a
    LEDGER with a record it cannot apply and a READINGS full of hostile frames."""
    from plumeline.infra.runtime.ray_runtime import resuming

    async def feed():
        nc = await connect(nats_server.url)
        js = nc.jetstream()
        await ensure_streams(js)
        registered = Envelope.wrap(FacilityRegistered(facility=FACILITY, name="x", kind="ccs"),
                                   time=T0, causation=Causation("readings", 1, 0))
        from plumeline.events import Ledger

        [record] = Ledger().seal([registered])
        await js.publish("ledger.records", record.data)
        await js.publish("ledger.records", b'{"seq": 2, "event": {"type": "alert.raised"}}')
        subject = readings_subject(FACILITY, PARTITIONS)
        now = int(time.time() * 1000)
        await js.publish(subject, encode_wire(Manifest(facility=FACILITY, name="x", kind="ccs",
                                                       sensors=SPECS, time=T0)))
        await js.publish(subject, encode_wire(Frame(
            facility=FACILITY, sensors=["flue_co2", "solvent_temp"], times=[now, now],
            values=[400.0, 40.0])))
        for data in hostile_frames(now):
            await js.publish(subject, data)
        last = (await js.stream_info(READINGS)).state.last_seq
        await nc.close()
        return now, last

    now, last = asyncio.run(feed())
    runner = resuming(ProjectionRunner).options(num_cpus=0).remote(
        nats_server.url, clickhouse_path=str(tmp_path / "chdb"))
    try:
        ray_session.get(runner.start.remote())
        deadline = time.monotonic() + 60
        while (ray_session.get(runner.checkpoint.remote()) < 2
               or ray_session.get(runner.readings_checkpoint.remote()) < last):
            assert time.monotonic() < deadline, "a projection stopped"
            time.sleep(0.1)
        latest = ray_session.get(runner.query.remote("latest_readings", facility=FACILITY))
        assert {(r["sensor"], r["time_ms"]) for r in latest} == {
            ("flue_co2", now), ("solvent_temp", now)}
        figures = ray_session.get(runner.query.remote("figures"))
        assert figures["dead_lettered"] == {"ledger": 1, "readings": 0}
        assert [f["facility"] for f in ray_session.get(runner.query.remote("facilities"))] == [
            FACILITY]

        async def dead():
            nc = await connect(nats_server.url)
            try:
                return await nc.jetstream().get_last_msg(DEADLETTER,
                                                         "deadletter.projection_ledger")
            finally:
                await nc.close()
        refused = asyncio.run(dead())
        assert refused.headers["Plumeline-Source-Seq"] == "2"
    finally:
        ray_session.get(runner.stop.remote())
        ray_session.kill(runner)


def test_export_skips_a_malformed_tree_head_with_a_warning(nats_server, tmp_path, capsys):
    from plumeline.infra.cli.main import main
    from plumeline.infra.runtime.nats import TREEHEADS
    from tests.infra.conftest import plant_story, run_pipeline

    size = asyncio.run(run_pipeline(nats_server.url, tmp_path, plant_story(FACILITY, 40)))
    assert size > 0

    async def spoil():
        nc = await connect(nats_server.url)
        js = nc.jetstream()
        await js.publish("ledger.heads", b'{"size": "many", "root": 7}')
        await js.publish("ledger.heads", b'{"size": 1, "root": "zz", "timestamp": 0, '
                                         b'"signature": "00"}')
        last = (await js.stream_info(TREEHEADS)).state.last_seq
        await nc.close()
        return last

    last = asyncio.run(spoil())
    bundle = tmp_path / "ledger.bundle"
    capsys.readouterr()
    assert main(["export", "--data-dir", str(tmp_path), "-o", str(bundle)]) == 0
    err = capsys.readouterr().err
    assert f"skipped tree head {last - 1}" in err and f"skipped tree head {last}" in err
    assert main(["verify", str(bundle)]) == 0
