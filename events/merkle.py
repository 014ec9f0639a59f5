"""The ledger's Merkle tree, as RFC 6962 §2.1 defines it.

The tree keeps the hash of every perfect subtree — a complete subtree of 2^level
leaves starting at a multiple of 2^level — in one bytearray per level, 32 bytes per
node. Those nodes never change once their last leaf arrives, so appending is
amortised O(1). Any other node is "ephemeral": it lies on the right edge of some tree
size and is recomputed from perfect subtrees when a root or proof asks for it, in
O(log n) hashes. So roots and proofs are available for every historic size, which is
what consistency proofs and old signed tree heads need. Ten million leaves take
about 640 MB.
"""

from __future__ import annotations

import hashlib

__all__ = ["EMPTY_ROOT", "MerkleTree", "leaf_hash", "node_hash"]

HASH_SIZE = 32

# RFC 6962 §2.1: "The hash of an empty list is the hash of an empty string: MTH({}) = SHA-256()."
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 §2.1: MTH({d(0)}) = SHA-256(0x00 || d(0))."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 §2.1: MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """RFC 6962 §2.1: "k is the largest power of two smaller than n (i.e., k < n <= 2k)"."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """An append-only RFC 6962 tree of leaf hashes, answering for every size up to its own."""

    def __init__(self) -> None:
        # _levels[h] holds, in order, the hashes of the perfect subtrees of 2^h leaves.
        self._levels: list[bytearray] = [bytearray()]
        self._size = 0

    @property
    def size(self) -> int:
        return self._size

    def append(self, leaf_hash: bytes) -> None:
        """Add the hash of one leaf (already SHA-256(0x00 || data))."""
        if len(leaf_hash) != HASH_SIZE:
            raise ValueError(f"a leaf hash is {HASH_SIZE} bytes, not {len(leaf_hash)}")
        self._size += 1
        levels = self._levels
        levels[0] += leaf_hash
        level, count = 0, self._size
        # Each time a level gains an even-numbered node, its pair completes a perfect
        # subtree one level up: the binary carry of the new size.
        while count % 2 == 0:
            # node_hash(left, right) of the level's last two nodes, hashed in place
            parent = hashlib.sha256(b"\x01" + levels[level][-2 * HASH_SIZE :]).digest()
            level += 1
            count //= 2
            if level == len(levels):
                levels.append(bytearray())
            levels[level] += parent

    def extend(self, leaf_hashes: bytes | bytearray) -> None:
        """Add many leaf hashes at once, 32 bytes each, concatenated: the same tree as
        appending them one by one, built level by level, which saves the per-leaf
        carry loop (a verifier adds millions of leaves)."""
        if len(leaf_hashes) % HASH_SIZE:
            raise ValueError(f"leaf hashes come in {HASH_SIZE}-byte pieces, "
                             f"not {len(leaf_hashes)} bytes")
        levels, sha256, pair = self._levels, hashlib.sha256, 2 * HASH_SIZE
        levels[0] += leaf_hashes
        self._size += len(leaf_hashes) // HASH_SIZE
        level = 0
        # A level of c nodes has c // 2 parents one level up; compute the missing ones.
        while (len(levels[level]) // pair) > (
            done := len(levels[level + 1]) // HASH_SIZE if level + 1 < len(levels) else 0
        ):
            nodes = levels[level]
            parents = bytearray()
            for i in range(done * pair, len(nodes) // pair * pair, pair):
                parents += sha256(b"\x01" + nodes[i : i + pair]).digest()
            if level + 1 == len(levels):
                levels.append(bytearray())
            levels[level + 1] += parents
            level += 1

    def leaf(self, index: int) -> bytes:
        if not 0 <= index < self._size:
            raise IndexError(f"leaf {index} outside tree of size {self._size}")
        return self._node(0, index)

    def root(self, size: int | None = None) -> bytes:
        """MTH(D[0:size]), by default of the whole tree."""
        size = self._size if size is None else size
        self._check_size(size)
        return self._subtree(0, size) if size else EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """PATH(index, D[0:size]) of RFC 6962 §2.1.1, ordered from the leaf upwards."""
        self._check_size(size)
        if not 0 <= index < size:
            raise ValueError(f"index {index} outside tree of size {size}")
        path = []
        lo, hi = 0, size
        # "PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n]) for m < k; and
        #  PATH(m, D[n]) = PATH(m - k, D[k:n]) : MTH(D[0:k]) for m >= k"
        # walked from the root down, so the nodes come out in reverse.
        while hi - lo > 1:
            k = _split(hi - lo)
            if index < lo + k:
                path.append(self._subtree(lo + k, hi))
                hi = lo + k
            else:
                path.append(self._subtree(lo, lo + k))
                lo += k
        path.reverse()
        return path

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """PROOF(first, D[0:second]) of RFC 6962 §2.1.2; empty if first is 0 or second."""
        self._check_size(second)
        if not 0 <= first <= second:
            raise ValueError(f"no consistency proof from size {first} to size {second}")
        if first in (0, second):
            return []
        proof = []
        lo, hi, whole = 0, second, True
        # "SUBPROOF(m, D[n], b) = SUBPROOF(m, D[0:k], b) : MTH(D[k:n]) for m <= k; and
        #  SUBPROOF(m, D[n], b) = SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k]) for m > k"
        while hi != first:
            k = _split(hi - lo)
            if first - lo <= k:
                proof.append(self._subtree(lo + k, hi))
                hi = lo + k
            else:
                proof.append(self._subtree(lo, lo + k))
                lo += k
                whole = False
        # "SUBPROOF(m, D[m], false) = {MTH(D[m])}": the old subtree's own hash, unless
        # it is the old root itself, which the verifier already holds.
        if not whole:
            proof.append(self._subtree(lo, hi))
        proof.reverse()
        return proof

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self._size:
            raise ValueError(f"size {size} outside 0..{self._size}: the tree is not that big")

    def _node(self, level: int, index: int) -> bytes:
        offset = index * HASH_SIZE
        return bytes(self._levels[level][offset : offset + HASH_SIZE])

    def _subtree(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) of a non-empty subtree met in RFC 6962's recursion, where
        `start` is a multiple of the largest power of two not above the width.

        The recursion splits off perfect subtrees from the left, each stored, and
        hashes them together from the right: only the ephemeral nodes of the right
        edge are computed, at most one per level."""
        nodes = []
        while start < end:
            width = end - start
            k = width if width & (width - 1) == 0 else _split(width)
            nodes.append(self._node(k.bit_length() - 1, start // k))
            start += k
        result = nodes.pop()
        while nodes:
            result = node_hash(nodes.pop(), result)
        return result
