"""Sealing a window of readings: their canonical bytes and a running RFC 6962 root.

A `ReadingsSealed` event commits the ledger to the exact readings a facility accepted
in a window, without putting them in the ledger: its root is the RFC 6962 Merkle tree
head over one leaf per READINGS message and window, the canonical bytes of the
message's readings accepted in the window, so any single reading can later be proven
to be in the window with an ordinary inclusion proof of its message's leaf
(docs/ledger.md §8). A leaf per message rather than per reading: the encoding, the
leaf hash and the node hashes are paid once per frame of hundreds of readings, not
once per reading.

A facility sees a window's messages one by one and must not hold them all (an hour of
a large plant is many thousands), so `SealFrontier` keeps only the roots of the
perfect subtrees so far, the "compact range" of the left edge: O(log n) hashes, and
the same root `MerkleTree` gives for the same leaves.
"""

from __future__ import annotations

from collections.abc import Iterable
from hashlib import sha256

import msgspec

from plumeline.events.merkle import EMPTY_ROOT, node_hash

__all__ = ["SealFrontier", "SealedReadings", "readings_leaf"]

_canonical = msgspec.json.Encoder(order="sorted")


class SealedReadings(msgspec.Struct, frozen=True):
    """What a leaf holds: the readings (sensor, time, value) of READINGS message `seq`
    that `facility` accepted in one window, in the order it accepted them."""

    facility: str
    seq: int
    readings: list[tuple[str, int, float]]


def readings_leaf(facility: str, seq: int, readings: list[tuple[str, int, float]]) -> bytes:
    """The leaf data of a message's readings in a window: canonical JSON (docs/ledger.md
    §1) of {"facility", "readings", "seq"}, e.g.
    b'{"facility":"ccs-07","readings":[["flue_co2",1767225600000,400.0]],"seq":4711}'.

    One encode for the whole list. The values must be floats already (a frame decoded
    at the edge has nothing else; `FacilityActor.observe` makes sure of it for frames
    built in Python), so that `400.0` is never written `400`."""
    return _canonical.encode(SealedReadings(facility, seq, readings))


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
        """`append` each of `leaves` in turn, with the hashes of `leaf_hash` and
        `node_hash` written out: no call per leaf."""
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
