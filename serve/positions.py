"""Where the projections are, as this replica last heard: what a cached answer is
current as of (serve/cache.py).

One small task per replica asks the projection runner for two numbers every
`every_s`: the last ledger seq the views show (`visible`) and the last READINGS
sequence the readings projection applied. An answer to a view is current for as
long as the numbers it depends on have not moved, so two hundred dashboards polling
`GET /alerts` cost the projections one question per change instead of one per
request or per second.

Only views whose answer is a function of the projections' state and the request's
parameters are named here. A view that also reads the clock (silences end by the
clock, not by a record) or keeps state of its own (the forecasts) is not: the cache
keeps those by age, as it does every view while the runner does not answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import structlog

__all__ = ["LEDGER_VIEWS", "READINGS_VIEWS", "ProjectionPositions"]

# views of what the ledger's projector writes: current while `visible` stays
LEDGER_VIEWS = frozenset({
    "alerts", "alert", "recommendations", "recommendation", "facilities", "hotspots",
    "emissions_recent", "seq_at", "seq_of", "caused_by", "ledger_events",
    "rejections_summary",
})
# views that also read the raw readings: current while both numbers stay
READINGS_VIEWS = frozenset({
    "facility_metrics", "latest_readings", "sensor_history", "emissions_current",
    "emissions_summary", "emissions_report",
})

# () -> (ledger seq the views show, READINGS seq the readings projection applied)
Ask = Callable[[], Awaitable[tuple[int, int]]]


class ProjectionPositions:
    def __init__(self, ask: Ask, *, every_s: float = 0.05, trust_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """Positions older than `trust_s` (the runner busy or away) are not trusted:
        `of` then says None, and the cache falls back to keeping answers by age."""
        self.ask = ask
        self.every_s = every_s
        self.trust_s = trust_s
        self.clock = clock
        self.ledger: int | None = None
        self.readings: int | None = None
        self.heard_at = float("-inf")
        self._task: asyncio.Task | None = None
        self.log = structlog.get_logger("plumeline.serve.positions")

    def of(self, view: str) -> int | tuple[int, int] | None:
        """The position `view`'s answers depend on; None if it depends on more than
        positions, or the positions are not known now."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._follow())
        if self.clock() - self.heard_at > self.trust_s:
            return None
        if view in LEDGER_VIEWS:
            return self.ledger
        if view in READINGS_VIEWS:
            return (self.ledger, self.readings)
        return None

    def heard(self, ledger: int, readings: int) -> None:
        self.ledger, self.readings, self.heard_at = ledger, readings, self.clock()

    async def _follow(self) -> None:
        failing = False
        while True:
            try:
                self.heard(*await self.ask())
                failing = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the runner away: answers are kept by age meanwhile
                if not failing:
                    self.log.warning("projection_positions_unknown", error=repr(exc))
                failing = True
            await asyncio.sleep(self.every_s)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
