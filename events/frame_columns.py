"""A frame's readings as numpy columns, and the schema's per-reading bounds over them.

The one place where a frame of either version becomes arrays: a packed frame's columns
are views of its bytes (`numpy.frombuffer`, no copy), a version-1 frame's lists are
converted once. The bounds a version-1 frame's decoder checks per reading (each time
between EARLIEST_MS and LATEST_MS) are checked here over whole columns for a packed
one, with the index of each reading inside the frame's sensor table: a frame outside
them is refused whole (`MalformedFrame`), as decoding refuses one.

Imported as a submodule, not from `plumeline.events`: the package's root stays free of
numpy for an auditor's verifier, which reads no frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from plumeline.events.acceptance import EARLIEST_MS, LATEST_MS
from plumeline.events.packed import INDEX, TIME, VALUE, PackedFrame
from plumeline.events.wire import Frame

__all__ = ["FrameColumns", "MalformedFrame", "columns_of"]


class MalformedFrame(ValueError):
    """A frame whose columns break the schema's bounds; the message says which."""


@dataclass(frozen=True, slots=True)
class FrameColumns:
    """Reading i is (names[index[i]], times[i], values[i]). `key` identifies the
    frame's sensors, reading by reading: equal keys, equal sensor columns."""

    facility: str
    names: list[str]
    index: np.ndarray  # uint32
    times: np.ndarray  # int64, ms
    values: np.ndarray  # float64
    key: tuple[tuple[str, ...], bytes]

    def __len__(self) -> int:
        return len(self.times)

    def sensors(self) -> list[str]:
        """Each reading's sensor name, for the per-reading paths (taken by numpy from
        the table, not looked up in Python per reading)."""
        table = np.empty(len(self.names), dtype=object)
        table[:] = self.names
        return table[self.index].tolist()

    def readings(self) -> list[tuple[str, int, float]]:
        """(sensor, time, value) of each reading, in the frame's order."""
        return list(zip(self.sensors(), self.times.tolist(), self.values.tolist()))

    def as_frame(self) -> Frame:
        """The readings as a version-1 Frame of Python lists (what `FacilityActor.observe`
        takes one reading at a time)."""
        return Frame(self.facility, self.sensors(), self.times.tolist(), self.values.tolist())


def columns_of(frame: Frame | PackedFrame) -> FrameColumns:
    """The frame's columns; raises MalformedFrame for a packed frame whose columns break
    the schema's bounds (version 1's decoder has checked them)."""
    if isinstance(frame, PackedFrame):
        index = np.frombuffer(frame.sensors, INDEX[2])
        times = np.frombuffer(frame.times, TIME[2])
        values = np.frombuffer(frame.values, VALUE[2])
        if len(index):
            if (top := int(index.max())) >= len(frame.names):
                raise MalformedFrame(f"sensor index {top} past the frame's table of "
                                     f"{len(frame.names)} names")
            lo, hi = int(times.min()), int(times.max())
            if lo < EARLIEST_MS or hi > LATEST_MS:
                bad = lo if lo < EARLIEST_MS else hi
                raise MalformedFrame(f"time {bad} outside [{EARLIEST_MS}, {LATEST_MS}]")
        return FrameColumns(frame.facility, frame.names, index, times, values,
                            (tuple(frame.names), frame.sensors))
    table: dict[str, int] = {}
    index = np.fromiter((table.setdefault(s, len(table)) for s in frame.sensors), np.uint32,
                        len(frame.sensors))
    return FrameColumns(frame.facility, list(table), index, np.array(frame.times, np.int64),
                        np.array(frame.values, np.float64),
                        (tuple(table), index.astype(INDEX[2]).tobytes()))
