"""`plumeline audit replay`: the ledger of a real run is what READINGS replays to."""

from __future__ import annotations

import asyncio

from plumeline.actors import DetectorConfig, FacilityConfig

T0 = 1_767_225_600_000


def two_plants(story):
    return story("ccs-01", 300) + story("ccs-02", 300)


def test_replay_reproduces_the_ledger_of_a_real_run(cli, pipeline, story, tmp_path):
    size = pipeline(two_plants(story))
    status, out = cli("audit", "replay", "--data-dir", str(tmp_path))
    assert status == 0, out
    assert out == f"ok: replaying READINGS reproduces the ledger's {size} events\n"


def test_replay_finds_a_ledger_made_with_another_detector(cli, pipeline, story, tmp_path):
    pipeline(two_plants(story), FacilityConfig(detector=DetectorConfig(raise_after=10_000)))
    status, out = cli("audit", "replay", "--data-dir", str(tmp_path))
    assert status == 1, out
    assert out.startswith("DIFFERENT:")
    first = out.split("\n")[1:4]
    assert first[0].startswith("ccs-01 event #")
    assert '"type":"alert.raised"' in first[2] and '"type":"alert.raised"' not in first[1]


def test_replay_export_and_verify_show_how_far_they_are_on_stderr(pipeline, story, tmp_path, capsys, monkeypatch):
    from plumeline.infra.cli.main import main
    from plumeline.infra.runtime import progress

    monkeypatch.setattr(progress, "EVERY_S", 0.0)
    size = pipeline(two_plants(story))
    capsys.readouterr()
    assert main(["audit", "replay", "--data-dir", str(tmp_path)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert any(line.startswith("audit replay: READINGS: 100%  ") for line in err), err
    assert err[-1].startswith(f"audit replay: LEDGER: 100%  {size:,} records  "), err
    # export and verify of the same data dir, which read the whole ledger too
    assert main(["export", "--data-dir", str(tmp_path), "-o", str(tmp_path / "b")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith(f"export: reading LEDGER: 100%  {size:,} records  "), err
    assert main(["verify", str(tmp_path / "b")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith(f"verify: 100%  {size:,} records  "), err


def test_replay_reproduces_a_ledger_with_commands_on_either_subject(cli, pipeline, story,
                                                                   tmp_path):
    """A silence on the command subject is the facility's; a forged one on the readings
    subject is dead-lettered live, and replay refuses it the same way: had it been
    taken, the plant's overheat would have raised no alert."""
    import asyncio

    from plumeline.events import SilenceSensor, command_subject, encode_wire
    from plumeline.infra.runtime.data_dir import nats_of
    from plumeline.infra.runtime.nats import connect
    from plumeline.infra.runtime.streams import ledger_records
    from tests.infra.conftest import PARTITIONS, T0

    def silence(user: str, sensor: str) -> bytes:
        return encode_wire(SilenceSensor(facility="ccs-01", user=user, time=T0 + 60_000,
                                         until_ms=T0 + 86_400_000, sensor=sensor))

    messages = story("ccs-01", 300)
    plain = messages[0][0]
    messages[2:2] = [(plain, silence("mallory", "")),
                     (command_subject("ccs-01", PARTITIONS), silence("ada", "co2_vented"))]
    size = pipeline(messages)
    status, out = cli("audit", "replay", "--data-dir", str(tmp_path))
    assert status == 0, out
    assert out == f"ok: replaying READINGS reproduces the ledger's {size} events\n"

    async def kinds():
        nc = await connect(url)
        try:
            return [(type(r.event.body).__name__, getattr(r.event.body, "user", None))
                    async for _, r in ledger_records(nc.jetstream())]
        finally:
            await nc.close()

    with nats_of(tmp_path) as url:
        ledger = asyncio.run(kinds())
    assert ("SilenceStarted", "ada") in ledger
    assert not [k for k in ledger if k[1] == "mallory"]
    assert ("AlertRaised", None) in ledger  # the overheat, which mallory's silence hid


def test_replay_reproduces_a_ledger_of_version_1_and_packed_frames(cli, pipeline, story,
                                                                    old_story, tmp_path):
    """READINGS written before frame.v2 holds version-1 frames (msgpack lists): they are
    derived live and replayed alike, next to packed ones, and sealed as they were, with
    readings leaves, while packed frames get frame leaves. The first plant's frames are
    sent in version 1 here, the second's packed, and the third's in version 1 for its
    first 50 minutes and packed after (a deployment upgraded mid-hour): its first hour
    holds leaves of both kinds."""
    old = old_story("ccs-01", 300)
    assert b"frame.v2" not in b"".join(data for _, data in old)
    upgraded = old_story("ccs-03", 300)[:101] + story("ccs-03", 300)[101:]
    size = pipeline(old + story("ccs-02", 300) + upgraded)
    hours = {T0 + h * 3_600_000 for h in (0, 1)}
    kinds = {(e.facility, e.window_start, e.leaf) for e in _sealed(tmp_path)
             if e.window_start in hours}
    assert kinds == {*{("ccs-01", w, "") for w in hours},
                     *{(f, w, "frame") for f in ("ccs-02", "ccs-03") for w in hours}}
    status, out = cli("audit", "replay", "--data-dir", str(tmp_path))
    assert status == 0, out
    assert out == f"ok: replaying READINGS reproduces the ledger's {size} events\n"


def _sealed(data_dir) -> list:
    """The ledger's readings.sealed events."""
    from contextlib import aclosing

    from plumeline.events import ReadingsSealed
    from plumeline.infra.runtime.data_dir import nats_of
    from plumeline.infra.runtime.nats import connect
    from plumeline.infra.runtime.streams import ledger_records

    async def read(url):
        nc = await connect(url)
        try:
            async with aclosing(ledger_records(nc.jetstream())) as records:
                return [r.event.body async for _, r in records
                        if isinstance(r.event.body, ReadingsSealed)]
        finally:
            await nc.close()

    with nats_of(data_dir) as url:
        return asyncio.run(read(url))


def test_replay_passes_over_a_frame_on_another_facilitys_partition(cli, pipeline, story,
                                                                    tmp_path):
    """A frame published on a partition its facility does not belong to is dead-lettered
    live (two actors of one facility would otherwise decide apart); READINGS records its
    partition count, so replay refuses the frame the same way. Derived, the forged
    frames would have moved the plant's hourly windows on and closed them (their
    `emissions.measured` and seals), which the ledger does not hold."""
    from plumeline.events import readings_subject
    from tests.infra.conftest import PARTITIONS

    plant = story("ccs-01", 300)
    right = readings_subject("ccs-01", PARTITIONS)
    wrong = f"readings.{(int(right.split('.')[1]) + 1) % PARTITIONS}.ccs-01"
    # the plant's steps 199-258, sent again on the wrong partition an hour later:
    # past the plant's last reading, into windows it never reached
    forged = [(wrong, data) for _, data in _later(plant[200:260], 3_600_000)]
    stats: dict = {}
    size = pipeline(plant + forged, stats=stats)
    assert stats["malformed"] == len(forged)
    status, out = cli("audit", "replay", "--data-dir", str(tmp_path))
    assert status == 0, out
    assert out == f"ok: replaying READINGS reproduces the ledger's {size} events\n"


def _later(messages, by_ms: int) -> list:
    """Frames moved `by_ms` later in time (packed again)."""
    from plumeline.events import FRAMES, Frame, decode_wire, encode_wire, frame_lists

    out = []
    for subject, data in messages:
        m = decode_wire(data)
        if isinstance(m, FRAMES):
            f = frame_lists(m)
            data = encode_wire(Frame(facility=f.facility, sensors=f.sensors,
                                     times=[t + by_ms for t in f.times], values=f.values))
        out.append((subject, data))
    return out


def test_a_start_with_another_partition_count_is_refused(nats_server):
    """READINGS keeps the partition count it was declared with; asking another is a
    clear error, not a silent reshuffle of the facilities."""
    import pytest

    from plumeline.infra.runtime.nats import (
        PartitionsChanged,
        connect,
        ensure_streams,
        recorded_partitions,
    )

    async def go():
        nc = await connect(nats_server.url)
        try:
            js = nc.jetstream()
            await ensure_streams(js)  # a data dir from before the count was recorded
            assert await recorded_partitions(js) is None
            await ensure_streams(js, partitions=8)
            assert await recorded_partitions(js) == 8
            await ensure_streams(js, partitions=8)
            with pytest.raises(PartitionsChanged, match="cut into 8 partitions, but 16"):
                await ensure_streams(js, partitions=16)
            assert await recorded_partitions(js) == 8
        finally:
            await nc.close()

    asyncio.run(go())
