"""Sealing a window of readings: their canonical bytes and a running RFC 6962 root.

A `ReadingsSealed` event commits the ledger to the exact readings a facility accepted
in a window, without putting them in the ledger: its root is the RFC 6962 Merkle tree
head over one leaf per reading, so any single reading can later be proven to be in
the window with an ordinary inclusion proof (docs/ledger.md §8).

A facility sees a window's readings one by one and must not hold them all (an hour of
a large plant is many thousands), so `SealFrontier` keeps only the roots of the
perfect subtrees so far, the "compact range" of the left edge: O(log n) hashes, and
the same root `MerkleTree` gives for the same leaves.
"""

from __future__ import annotations

from collections.abc import Iterable
from hashlib import sha256

import msgspec

from events.merkle import EMPTY_ROOT, node_hash

__all__ = ["SealFrontier", "reading_leaf", "reading_leaves"]

_canonical = msgspec.json.Encoder(order="sorted")


class _Reading(msgspec.Struct, frozen=True):
    facility: str
    sensor: str
    time: int
    value: float


def reading_leaf(facility: str, sensor: str, time: int, value: float) -> bytes:
    """The leaf data of one reading: canonical JSON (docs/ledger.md §1) of
    {"facility", "sensor", "time", "value"}, e.g.
    b'{"facility":"ccs-07","sensor":"flue_co2","time":1767225600000,"value":400.0}'."""
    return _canonical.encode(_Reading(facility, sensor, time, float(value)))


def reading_leaves(facility: str, readings: Iterable[tuple[str, int, float]]) -> list[bytes]:
    """`reading_leaf` of each (sensor, time, value) of one facility, in order."""
    encode = _canonical.encode
    return [encode(_Reading(facility, s, t, float(v))) for s, t, v in readings]


class SealFrontier(msgspec.Struct):
    """The running RFC 6962 root of a sequence of leaves.

    `peaks[i]` is the root of a perfect subtree; their sizes are the binary digits of
    `size`, largest first, which is exactly how RFC 6962 §2.1 splits a tree ("k is the
    largest power of two smaller than n"): the left part is the largest perfect
    subtree, the right part the tree of the rest.
    """

    size: int = 0
    peaks: list[bytes] = msgspec.field(default_factory=list)

    def append(self, data: bytes) -> None:
        """Add the leaf whose data is `data` (hashed here as SHA-256(0x00 || data))."""
        self.extend((data,))

    def extend(self, leaves: Iterable[bytes]) -> None:
        """`append` each of `leaves` in turn (a frame's readings at once), with the
        hashes of `leaf_hash` and `node_hash` written out: no call per leaf."""
        peaks, size = self.peaks, self.size
        for data in leaves:
            peaks.append(sha256(b"\x00" + data).digest())  # leaf_hash(data)
            size += 1
            # the binary carry of the new size: two equal perfect subtrees make one
            carry = size
            while carry % 2 == 0:
                right = peaks.pop()
                peaks[-1] = sha256(b"\x01" + peaks[-1] + right).digest()  # node_hash
                carry //= 2
        self.size = size

    def root(self) -> bytes:
        """MTH of the leaves so far; MTH({}) = SHA-256("") for none."""
        if not self.peaks:
            return EMPTY_ROOT
        acc = self.peaks[-1]
        for peak in reversed(self.peaks[:-1]):
            acc = node_hash(peak, acc)  # MTH(D[n]) = SHA-256(0x01 || MTH(left) || MTH(right))
        return acc
