"""The packed frame (`frame.v2`): a frame's columns as fixed-width little-endian bytes.

A `Frame` (tag "frame", version 1) is a msgpack map of three lists of Python values;
every reader pays for building and converting an object per reading. A `PackedFrame`
carries the same readings as three byte strings that a reader with numpy views in
place (`numpy.frombuffer`, no copy) and one without reads with the `array` module:

- `names`: the frame's sensor table, each sensor named once;
- `sensors`: one little-endian uint32 per reading, its sensor's place in `names`;
- `times`: one little-endian int64 per reading, event time in ms since the epoch;
- `values`: one little-endian IEEE 754 binary64 per reading.

The table is the frame's own, not an index into the facility's manifest: the frame's
bytes then mean the same to every reader (the readings projection, an auditor proving a
reading, an edge that holds no manifest) whatever was registered before or after it.
It costs a name per distinct sensor, which readers look up once per table, not once
per reading (docs/ledger.md, section 10).

Decoding checks the shape (`__post_init__`): whole columns of one length, at most
MAX_READINGS readings. The per-reading bounds (each time in the schema's range, each
index inside the table) are checked over whole columns where the columns are read
(`plumeline.events.frame_columns`), which refuses the frame whole as decoding would.
"""

from __future__ import annotations

import sys
from array import array
from typing import Annotated

import msgspec

from plumeline.events.acceptance import MAX_READINGS, Label, Name

__all__ = ["INDEX", "TIME", "VALUE", "PackedFrame", "pack", "unpack"]

# (array typecode, bytes per reading, numpy dtype) of each column
INDEX = ("I", 4, "<u4")
TIME = ("q", 8, "<i8")
VALUE = ("d", 8, "<f8")

def _column(width: int):
    return Annotated[bytes, msgspec.Meta(max_length=width * MAX_READINGS)]


class PackedFrame(msgspec.Struct, frozen=True, tag="frame.v2"):
    """Readings of one facility: reading i is (names[sensors[i]], times[i], values[i]),
    each column packed as the module docstring says."""

    facility: Name
    names: Annotated[list[Label], msgspec.Meta(max_length=MAX_READINGS)]
    sensors: _column(INDEX[1])
    times: _column(TIME[1])
    values: _column(VALUE[1])

    def __post_init__(self) -> None:
        for column, (_, width, _) in (("sensors", INDEX), ("times", TIME), ("values", VALUE)):
            if len(getattr(self, column)) % width:
                raise ValueError(f"{column} holds {len(getattr(self, column))} bytes, "
                                 f"not a whole number of {width}-byte readings")
        n = len(self.times) // TIME[1]
        if len(self.sensors) // INDEX[1] != n or len(self.values) // VALUE[1] != n:
            raise ValueError(
                f"frame columns differ in length: sensors={len(self.sensors) // INDEX[1]}, "
                f"times={n}, values={len(self.values) // VALUE[1]}")
        if n and not self.names:
            raise ValueError("readings but no sensor names")

    @property
    def count(self) -> int:
        """How many readings the frame holds."""
        return len(self.times) // TIME[1]


def _little(column: array) -> bytes:
    if sys.byteorder != "little":
        column.byteswap()
    return column.tobytes()


def _read(typecode: str, data: bytes) -> list:
    a = array(typecode)
    a.frombytes(data)
    if sys.byteorder != "little":
        a.byteswap()
    return a.tolist()


def pack(facility: str, sensors: list[str], times: list[int], values: list[float]
         ) -> PackedFrame:
    """A frame given per reading (as JSON and `Frame` give it) packed: the edge's one
    conversion. Raises ValueError or OverflowError on columns that do not pack (a
    time beyond int64); the schema's bounds are the reader's to check."""
    names = list(dict.fromkeys(sensors))  # each once, in the order of its first reading
    place = {name: k for k, name in enumerate(names)}
    return PackedFrame(facility, names, _little(array(INDEX[0], map(place.__getitem__, sensors))),
                       _little(array(TIME[0], times)), _little(array(VALUE[0], values)))


def unpack(frame: PackedFrame) -> tuple[list[str], list[int], list[float]]:
    """(sensors, times, values) per reading, as Python lists, for readers without numpy.
    Raises IndexError for an index past the table."""
    names = frame.names
    return ([names[i] for i in _read(INDEX[0], frame.sensors)], _read(TIME[0], frame.times),
            _read(VALUE[0], frame.values))

