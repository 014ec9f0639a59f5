"""The packed frame (frame.v2): any frame packs to bytes that read back as the same
columns; version-1 frames still decode to the same columns; a packed frame whose
bytes do not make whole, equal columns inside the schema is refused with a reason."""

from __future__ import annotations

import math
import struct

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plumeline.events import (
    EARLIEST_MS,
    LATEST_MS,
    Frame,
    PackedFrame,
    decode_wire,
    encode_wire,
    frame_lists,
)
from plumeline.events.frame_columns import MalformedFrame, columns_of

names = st.text("abcXYZ019_-", min_size=1, max_size=8)
readings = st.lists(st.tuples(names, st.integers(EARLIEST_MS, LATEST_MS),
                              st.floats(allow_nan=True, allow_infinity=True)), max_size=60)


def _same_floats(a, b) -> bool:
    """Equal bit for bit: NaN is NaN, -0.0 is not 0.0."""
    return np.asarray(a, np.float64).tobytes() == np.asarray(b, np.float64).tobytes()


@settings(max_examples=200, deadline=None)
@given(facility=names, rows=readings)
def test_any_frame_packs_to_bytes_that_read_back_as_the_same_columns(facility, rows):
    frame = Frame(facility, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
    data = encode_wire(frame)
    message = decode_wire(data)
    assert isinstance(message, PackedFrame) and message.count == len(rows)
    columns = columns_of(message)
    assert columns.facility == facility
    assert columns.sensors() == frame.sensors
    assert columns.times.tolist() == frame.times
    assert _same_floats(columns.values, frame.values)
    assert len(set(columns.names)) == len(columns.names)  # each sensor named once
    # the columns are views of the message's bytes, not copies
    assert columns.times.base is not None and not columns.times.flags.owndata
    back = frame_lists(message)
    assert (back.sensors, back.times) == (frame.sensors, frame.times)
    # the same frame in version 1 reads as the same columns
    old = columns_of(decode_wire(msgspec.msgpack.encode(frame)))
    assert old.sensors() == columns.sensors() and old.key == columns.key
    assert old.times.tolist() == columns.times.tolist()
    assert _same_floats(old.values, columns.values)


def test_a_version_1_frame_still_decodes_as_it_was_written():
    """The bytes the code before frame.v2 wrote: a msgpack map of three lists."""
    data = msgspec.msgpack.encode({"type": "frame", "facility": "ccs-01",
                                   "sensors": ["co2", "temp", "co2"],
                                   "times": [EARLIEST_MS + 1, EARLIEST_MS + 1, EARLIEST_MS + 2],
                                   "values": [1.5, 20.0, 1.75]})
    message = decode_wire(data)
    assert message == Frame("ccs-01", ["co2", "temp", "co2"],
                            [EARLIEST_MS + 1, EARLIEST_MS + 1, EARLIEST_MS + 2], [1.5, 20.0, 1.75])
    columns = columns_of(message)
    assert columns.names == ["co2", "temp"] and columns.index.tolist() == [0, 1, 0]


def _packed(**columns) -> bytes:
    body = {"type": "frame.v2", "facility": "ccs-01", "names": ["co2", "temp"],
            "sensors": struct.pack("<2I", 0, 1),
            "times": struct.pack("<2q", EARLIEST_MS, EARLIEST_MS + 1),
            "values": struct.pack("<2d", 1.0, 2.0)}
    return msgspec.msgpack.encode({**body, **columns})


@pytest.mark.parametrize(("change", "reason"), [
    ({"times": struct.pack("<q", EARLIEST_MS)[:7] + struct.pack("<q", EARLIEST_MS)},
     "not a whole number of 8-byte readings"),
    ({"sensors": struct.pack("<2I", 0, 1)[:-1]}, "not a whole number of 4-byte readings"),
    ({"values": struct.pack("<d", 1.0)}, "frame columns differ in length"),
    ({"sensors": struct.pack("<3I", 0, 1, 1)}, "frame columns differ in length"),
    ({"names": []}, "readings but no sensor names"),
    ({"names": ["no.dots"] * 2}, None),  # a Label: any short text; only facilities are Names
    ({"facility": "bad facility"}, "matching regex"),
    ({"values": [1.0, 2.0]}, "Expected `bytes`"),
])
def test_a_packed_frame_whose_columns_do_not_fit_is_refused_at_decoding(change, reason):
    if reason is None:
        assert columns_of(decode_wire(_packed(**change))).names == ["no.dots"] * 2
        return
    with pytest.raises(msgspec.ValidationError, match=reason):
        decode_wire(_packed(**change))


@pytest.mark.parametrize(("change", "reason"), [
    ({"sensors": struct.pack("<2I", 0, 2)}, "sensor index 2 past the frame's table of 2"),
    ({"sensors": struct.pack("<2I", 0, 2**32 - 1)}, "sensor index 4294967295 past"),
    ({"times": struct.pack("<2q", EARLIEST_MS - 1, EARLIEST_MS)}, f"time {EARLIEST_MS - 1} "),
    ({"times": struct.pack("<2q", EARLIEST_MS, LATEST_MS + 1)}, f"time {LATEST_MS + 1} "),
    ({"times": struct.pack("<2q", EARLIEST_MS, -(2**63))}, "outside"),
])
def test_a_packed_frame_outside_the_schemas_bounds_is_refused_with_a_reason(change, reason):
    message = decode_wire(_packed(**change))
    with pytest.raises(MalformedFrame, match=reason):
        columns_of(message)


def test_values_not_finite_pack_and_are_left_to_the_acceptance_rule():
    """NaN and inf are readings the actors refuse one by one (events/acceptance.py),
    as in version 1: the frame itself is well formed."""
    frame = Frame("ccs-01", ["a", "b", "c"], [EARLIEST_MS] * 3, [math.nan, math.inf, 1.0])
    columns = columns_of(decode_wire(encode_wire(frame)))
    assert math.isnan(columns.values[0]) and columns.values[1] == math.inf
