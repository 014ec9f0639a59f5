"""A progress line on stderr for the commands that read a whole ledger or stream.

`verify`, `export` and `audit replay` read millions of records and print their result
only at the end; this says meanwhile how far they are, how fast, and how long is left.
On a terminal a bar is redrawn in place a few times a second; otherwise (a log, a CI
job) a plain line is written every few seconds, so the log shows the run was alive
without a line per redraw. A run shorter than one interval prints nothing there, so
the output of short runs, and of the tests, stays the result alone.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["EVERY_S", "Progress"]

EVERY_S = 5.0  # between two lines when stderr is not a terminal
REDRAW_S = 0.2  # between two redraws of the bar on a terminal
BAR = 24


class Progress:
    """`update(done)` as work advances, in the units of `total` (which may be unknown,
    None or 0); `items` counts what the rate is given in, when that is not `done`
    itself (bytes read, but records per second). A context manager: leaving it ends
    the line."""

    def __init__(self, label: str, total: int | None = None, *, unit: str = "records",
                 stream: TextIO | None = None, every_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.label, self.total, self.unit = label, total, unit
        self.stream = stream if stream is not None else sys.stderr
        self.tty = _isatty(self.stream)
        self.every_s = (REDRAW_S if self.tty else EVERY_S) if every_s is None else every_s
        self.clock = clock
        self.started = self.last = clock()
        self.done = self.items = 0
        self.shown = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *_) -> None:
        self.close()

    def update(self, done: int, *, items: int | None = None, total: int | None = None) -> None:
        self.done, self.items = done, done if items is None else items
        if total is not None:
            self.total = total
        now = self.clock()
        if now - self.last >= self.every_s:
            self.last = now
            self._show(now)

    def close(self) -> None:
        """The last state, if a line was shown at all; then a new line on a terminal."""
        if self.shown:
            self._show(self.clock())
            if self.tty:
                self.stream.write("\n")
                self.stream.flush()

    def line(self, now: float) -> str:
        elapsed = max(now - self.started, 1e-9)
        rate = self.items / elapsed
        parts = [f"{self.items:,} {self.unit}", f"{rate:,.0f} {self.unit}/s"]
        if self.total:
            share = min(self.done / self.total, 1.0)
            left = (self.total - self.done) / (self.done / elapsed) if self.done else None
            parts.insert(0, f"{share:.0%}")
            if left is not None:
                parts.append(f"ETA {_duration(max(left, 0.0))}")
            if self.tty:
                filled = round(share * BAR)
                parts.insert(0, "[" + "#" * filled + "." * (BAR - filled) + "]")
        else:
            parts.append(f"{_duration(elapsed)} so far")
        return f"{self.label}: " + "  ".join(parts)

    def _show(self, now: float) -> None:
        self.shown = True
        if self.tty:
            self.stream.write("\r" + self.line(now) + "\x1b[K")  # erase what stood after
        else:
            self.stream.write(self.line(now) + "\n")
        self.stream.flush()


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}:{seconds:02d}"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no such method, or a closed stream
        return False
