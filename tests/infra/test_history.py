"""Where `up`'s simulator starts: hours in the past on a new data dir, never before the
newest reading on one that has readings; and the replay of that past onto READINGS."""

from __future__ import annotations

import asyncio
import time

from plumeline.events import decode_wire, frame_lists
from plumeline.infra.runtime.history import (
    HOUR_MS,
    default_history_h,
    latest_reading_ms,
    plan_start,
    replay,
)
from plumeline.infra.runtime.nats import READINGS
from plumeline.infra.runtime.settings import Settings
from plumeline.simulator import Simulation

NOON = 1_796_644_800_000  # 2026-12-07T12:00:00Z


def test_the_default_history_reaches_back_to_the_midnight_two_days_before_the_last():
    assert default_history_h(NOON) == 60.0
    assert default_history_h(NOON - 12 * HOUR_MS) == 48.0  # at midnight itself
    assert default_history_h(NOON + 11 * HOUR_MS + 1_800_000) == 71.5
    start = plan_start(NOON + 1234, default_history_h(NOON + 1234), None, 1.0)
    assert start.replay and start.start_ms == NOON - 60 * HOUR_MS


def test_up_refuses_a_negative_history(capsys, tmp_path):
    from plumeline.infra.cli.main import main

    for bad in ("-1", "nan"):
        assert main(["up", "--data-dir", str(tmp_path / "d"), "--history", bad]) == 2
        assert "--history must be 0 or more hours" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()  # refused before anything started


def test_a_new_data_dir_starts_hours_ago_on_an_hour_boundary():
    start = plan_start(NOON + 1_234_567, 3, None, 1.0)
    assert start.replay and start.start_ms == NOON - 3 * HOUR_MS
    assert plan_start(NOON + 5, 0, None, 1.0) == (NOON + 5, False)


def test_a_data_dir_with_readings_resumes_after_the_newest_and_replays_nothing():
    assert plan_start(NOON, 48, NOON - 60_000, 1.0) == (NOON, False)
    # readings newer than the clock (a clock set back, a replay that ran ahead): the
    # simulator goes on after them, not back into windows already sealed
    later = plan_start(NOON, 48, NOON + 30_000, 1.0)
    assert not later.replay and later.start_ms > NOON + 30_000


def test_the_past_is_replayed_onto_readings_up_to_now(js_run):
    settings = Settings(facilities=1, sensors_per_facility=2)

    async def go(js):
        assert await latest_reading_ms(js) is None
        now_ms = _now_ms()
        sim = Simulation(seed=3, facilities=1, sensors_per_facility=2, rate_hz=1.0,
                         start_ms=now_ms - 2 * 60_000)
        first = await replay(js, sim, settings, asyncio.Event())
        info = await js.stream_info(READINGS)
        last = frame_lists(decode_wire((await js.get_msg(READINGS, info.state.last_seq)).data))
        return now_ms, first, await latest_reading_ms(js), last, sim

    now_ms, first, latest, last, sim = js_run(go)
    assert first >= 120  # two minutes of steps at 1 Hz, and those that passed meanwhile
    assert latest == max(last.times) == sim.start_ms + (first - 1) * 1000
    assert now_ms - 2000 <= latest <= _now_ms()


def _now_ms() -> int:
    return int(time.time() * 1000)
