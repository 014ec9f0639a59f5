"""Intake: a READINGS message read, checked against its subject, and its frame's columns.

What a derivation does before any facility sees a message: decode it (a frame of
either wire version becomes `FrameColumns`, events/frame_columns.py; a packed one
`PackedColumns`, which keeps the message's bytes for its seal leaf), refuse it whole
when it is malformed or misfiled, and the `Derived` a refused message gives. No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from plumeline.actors.facility import Rejected
from plumeline.events import (
    FRAMES,
    IDENTITY,
    IDENTITY_COMMANDS,
    Causation,
    Envelope,
    PackedFrame,
    ReadingsRejected,
    decode_wire,
    misfiled,
    subject_facility,
)
from plumeline.events.frame_columns import FrameColumns, MalformedFrame, columns_of

__all__ = ["CAUSE", "Derived", "FrameColumns", "PackedColumns", "decode_message", "wrap"]

CAUSE = "readings"


@dataclass(frozen=True, slots=True)
class PackedColumns(FrameColumns):
    """A packed frame's columns and the message's bytes as READINGS stores them: what
    its seal leaf commits to (a frame leaf, docs/ledger.md §8), instead of its readings
    written out. The leaf's kind follows the message, not the code that reads it, so a
    replay of version-1 frames seals them as they were sealed."""

    data: bytes = b""


@dataclass(slots=True)
class Derived:
    """The events of one message, and what a live host does besides appending them.

    `deadletter` is (reason, payload) when something was refused; payload None means
    the message as it came. `counts` feed the host's counters.
    """

    envelopes: list[Envelope]
    deadletter: tuple[str, bytes | None] | None = None
    counts: dict[str, int] = field(default_factory=dict)
    rejected: Rejected | None = None


def decode_message(subject: str, seq: int, arrived: int, data: bytes):
    """(facility, message, None), or (facility, None, the Derived of a message refused
    whole). A frame comes as its `FrameColumns`. A message on a subject that may not
    carry it (`misfiled`: a command on a readings subject, say) is dead-lettered and
    causes nothing, as a message on another partition's subject is
    (`lanes.wrong_partition`): it never reached the facility, so the facility's record
    does not show it."""
    found = subject_facility(subject)
    if found is None:
        return subject, None, Derived([], (misfiled(None, subject), None), {"malformed": 1})
    facility_name = found[0]
    try:
        message = decode_wire(data)
        if isinstance(message, FRAMES):
            columns = columns_of(message)
            if isinstance(message, PackedFrame):
                columns = PackedColumns(columns.facility, columns.names, columns.index,
                                        columns.times, columns.values, columns.key, data)
    except (msgspec.DecodeError, msgspec.ValidationError, MalformedFrame) as exc:
        body = ReadingsRejected(facility=facility_name, count=0,
                                reasons={"malformed frame": 1})
        return facility_name, None, Derived(wrap([(arrived, body)], seq),
                                            (f"malformed frame: {exc}", None), {"malformed": 1})
    if (reason := misfiled(message, subject)) is not None:
        return facility_name, None, Derived([], (reason, None), {"malformed": 1})
    if (facility_name == IDENTITY) != isinstance(message, IDENTITY_COMMANDS):
        # the reserved name takes identity commands only, and they go nowhere else
        kind = "Frame" if isinstance(message, FRAMES) else type(message).__name__
        reason = f"{kind} on the subject of {facility_name!r}"
    elif message.facility != facility_name:
        reason = f"frame names facility {message.facility!r} on subject of {facility_name!r}"
    else:
        return facility_name, columns if isinstance(message, FRAMES) else message, None
    body = ReadingsRejected(facility=facility_name, count=0, reasons={reason: 1})
    return facility_name, None, Derived(wrap([(arrived, body)], seq), (reason, None))


def wrap(caused: list, seq: int) -> list[Envelope]:
    return [
        Envelope.wrap(event, time=t, causation=Causation(CAUSE, seq, i))
        for i, (t, event) in enumerate(caused)
    ]
