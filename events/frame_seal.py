"""A seal leaf per frame: the READINGS message's own bytes, and which of its readings
a window took (docs/ledger.md §8, "Frame leaves").

A readings leaf (events/seal.py) writes out every accepted reading as canonical JSON:
a float's shortest form, a tuple, a string per reading, paid in Python per reading. A
frame leaf instead commits to the message as READINGS stores it, by the SHA-256 of
its bytes, and names the readings the window took by their positions in the frame, as
runs `[start, stop)`: one run for a frame taken whole. What it costs is a hash over the
message's bytes in C and a few numbers, whatever the frame holds, and it does not care
how a frame is encoded: the bytes are the evidence, and whoever checks a reading
decodes them as READINGS' consumers do.

Proving one reading takes the message's bytes, the reading's position, and the leaf's
inclusion proof: the bytes hash to the leaf's `frame`, the position lies in one of its
runs, and the frame's reading at that position is the one claimed. A changed reading
changes the bytes and so the hash; a reading the window did not take is in no run.
"""

from __future__ import annotations

from collections.abc import Iterable
from hashlib import sha256

import msgspec

__all__ = ["FrameLeaf", "decode_frame_leaf", "frame_leaf", "holds", "runs"]

_canonical = msgspec.json.Encoder(order="sorted")


class FrameLeaf(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a frame leaf holds: READINGS message `seq` of `facility`, the SHA-256 of
    its bytes (`frame`, 64 hex), and the positions of its readings the window took."""

    facility: str
    frame: str
    positions: list[tuple[int, int]]
    seq: int


_leaf_decoder = msgspec.json.Decoder(FrameLeaf)


def runs(positions: Iterable[int]) -> list[tuple[int, int]]:
    """Positions (ascending, no repeats) as maximal runs [start, stop)."""
    out: list[tuple[int, int]] = []
    for p in positions:
        if out and out[-1][1] == p:
            out[-1] = (out[-1][0], p + 1)
        elif out and p < out[-1][1]:
            raise ValueError(f"positions must ascend without repeats, got {p} after "
                             f"{out[-1][1] - 1}")
        else:
            out.append((p, p + 1))
    return out


def frame_leaf(facility: str, seq: int, message: bytes,
               positions: Iterable[int] | list[tuple[int, int]]) -> bytes:
    """The leaf data of message `seq` (its bytes as READINGS holds them) for the
    readings at `positions` (ints, or runs already): canonical JSON, e.g.
    b'{"facility":"ccs-07","frame":"9f86…","positions":[[0,250]],"seq":4711}'."""
    positions = list(positions)
    if positions and isinstance(positions[0], int):
        positions = runs(positions)
    return _canonical.encode(FrameLeaf(facility, sha256(message).hexdigest(),
                                       positions, seq))


def decode_frame_leaf(data: bytes) -> FrameLeaf:
    return _leaf_decoder.decode(data)


def holds(leaf: bytes, message: bytes, seq: int, position: int) -> bool:
    """The leaf is of message `seq` with these bytes, and takes its reading at
    `position`. What that reading is, the caller reads from the bytes."""
    held = _leaf_decoder.decode(leaf)
    return (held.seq == seq and held.frame == sha256(message).hexdigest()
            and any(start <= position < stop for start, stop in held.positions))
