"""The simulated plant's past: hours of readings replayed through the whole loop before
it goes live, so that a first `plumeline up` opens on balances, charts, a forecast and
a few alerts rather than on empty views.

One `Simulation` covers the past and the present: it starts `history_h` hours ago (on
an hour boundary, so the first window is whole), its steps up to now are published as
fast as the shard hosts take them, and the live feed continues with the next step at
real time. The ground truth of the run is therefore one schedule, one file.

A data dir whose READINGS already hold readings replays nothing: the simulator starts
at now, or just after the newest reading there should that be later, since a
facility refuses readings older than the window it has sealed.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, NamedTuple

import structlog

from plumeline.actors import lanes
from plumeline.events.wire import FRAMES, Manifest, decode_wire, frame_lists
from plumeline.infra.runtime.nats import READINGS
from plumeline.simulator import Simulation, publish

if TYPE_CHECKING:
    from nats.js import JetStreamContext

    from plumeline.infra.runtime.settings import Settings

__all__ = ["Start", "check_history", "default_history_h", "feed", "latest_reading_ms", "plan_start",
           "replay", "simulation"]

log = structlog.get_logger("plumeline.history")

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
FORECAST_DAYS = 2  # whole days of hourly windows before the last midnight a forecast needs
# Readings (in frames) published but not yet taken by the shard hosts above which the
# replay waits: enough to keep the hosts busy, few enough that the live view, the
# projections and a stop (which drains READINGS) never trail by more than seconds.
MAX_BEHIND_FRAMES = 500
LOG_EVERY_S = 5.0


class Start(NamedTuple):
    start_ms: int  # the simulation's step 0
    replay: bool  # whether steps before now are to be published before going live


def check_history(s: Settings) -> None:
    """Refuse, before anything starts, a history that cannot be replayed."""
    from plumeline.infra.runtime.errors import UserError

    if s.history_h is not None and not 0 <= s.history_h < float("inf"):
        raise UserError(f"--history must be 0 or more hours, not {s.history_h}")


def default_history_h(now_ms: int) -> float:
    """Hours back to the midnight (UTC) two days before the last one: a forecast fits
    on whole days up to the last midnight, so 48 to 72 hours depending on the hour."""
    return (now_ms - (now_ms // DAY_MS - FORECAST_DAYS) * DAY_MS) / HOUR_MS


def plan_start(now_ms: int, history_h: float, latest_ms: int | None, rate_hz: float) -> Start:
    """Where the simulator's clock starts. Never before the newest reading READINGS
    holds: a second `up` resumes after it rather than replaying history again."""
    if latest_ms is not None:
        return Start(max(now_ms, latest_ms + int(1000 / rate_hz) + 1), replay=False)
    if history_h <= 0:
        return Start(now_ms, replay=False)
    return Start((now_ms - int(history_h * HOUR_MS)) // HOUR_MS * HOUR_MS, replay=True)


async def latest_reading_ms(js: JetStreamContext) -> int | None:
    """The event time of the newest message in READINGS, None if it holds none."""
    info = await js.stream_info(READINGS)
    if not info.state.messages:
        return None
    message = decode_wire((await js.get_msg(READINGS, info.state.last_seq)).data)
    if isinstance(message, FRAMES):
        return max(frame_lists(message).times)
    if isinstance(message, Manifest):
        return message.time
    return None


async def simulation(js: JetStreamContext, s: Settings) -> tuple[Simulation, bool]:
    """The simulated plant of `up`, and whether its past is to be replayed first."""
    now_ms = int(time.time() * 1000)
    hours = default_history_h(now_ms) if s.history_h is None else s.history_h
    start = plan_start(now_ms, hours, await latest_reading_ms(js), s.rate_hz)
    if not start.replay and hours > 0:
        log.info("history_kept", reason="READINGS already holds readings")
    sim = Simulation(seed=s.seed, facilities=s.facilities,
                     sensors_per_facility=s.sensors_per_facility, rate_hz=s.rate_hz,
                     start_ms=start.start_ms)
    return sim, start.replay


async def feed(js: JetStreamContext, sim: Simulation, s: Settings, replaying: bool,
               stop: asyncio.Event) -> None:
    """The past as fast as the system takes it, if asked, then the present in real time."""
    first = await replay(js, sim, s, stop) if replaying else 0
    if not stop.is_set():
        await publish(js, sim, partitions=s.partitions, steps=None, realtime=True,
                      first_step=first, stop=stop)


async def _behind(js: JetStreamContext, settings: Settings) -> int:
    """Frames in READINGS the shard hosts have not yet acknowledged."""
    total = 0
    for lane in lanes(settings.partitions, settings.pin):
        try:
            info = await js.consumer_info(READINGS, lane.durable)
        except Exception:  # a lane not made yet has nothing outstanding
            continue
        total += info.num_pending + info.num_ack_pending
    return total


async def replay(js: JetStreamContext, sim: Simulation, settings: Settings,
                 stop: asyncio.Event) -> int:
    """Publish the steps from 0 up to now as fast as the system takes them; return the
    first step not published, the live feed's first. Catches up in rounds, since time
    goes on while the past is replayed."""
    started, first = time.monotonic(), 0
    readings = 0
    last_log = started
    hours_total = (time.time() * 1000 - sim.start_ms) / HOUR_MS
    log.info("history_replay_started", hours=round(hours_total, 1),
             facilities=len(sim.facilities), sensors=len(sim.sensor_ids))
    # an hour of steps per round at most, then wait for the shard hosts to catch up
    hour_steps = max(1, int(3600 * sim.rate_hz))
    while not stop.is_set():
        now_step = sim.step_of(int(time.time() * 1000))
        if now_step - first < 1:
            break
        upto = min(now_step, first + hour_steps)
        done = await publish(js, sim, partitions=settings.partitions, steps=upto - first,
                             realtime=False, first_step=first, stop=stop)
        readings += done.readings
        first = upto
        while not stop.is_set() and await _behind(js, settings) > MAX_BEHIND_FRAMES:
            await asyncio.sleep(0.2)
        if time.monotonic() - last_log >= LOG_EVERY_S:
            last_log = time.monotonic()
            _log_progress(sim, first, readings, started)
    # replayed means taken by the shard hosts, not only published
    while not stop.is_set() and await _behind(js, settings) > 0:
        await asyncio.sleep(0.2)
    _log_progress(sim, first, readings, started, done=True)
    return first


def _log_progress(sim: Simulation, step: int, readings: int, started: float,
                  done: bool = False) -> None:
    seconds = max(time.monotonic() - started, 1e-3)
    replayed = step / sim.rate_hz / 3600
    log.info("history_replayed" if done else "history_replay",
             hours_replayed=round(replayed, 2), readings=readings,
             readings_per_s=round(readings / seconds), seconds=round(seconds, 1))

