"""Checking Merkle proofs as RFC 9162 §2.1.3.2 and §2.1.4.2 verify them.

The proofs are the ones RFC 6962 §2.1.1 and §2.1.2 produce (events.merkle). A
verifier trusts nothing but the root it compares against, so every argument is
checked before any hashing: an impossible index, size or proof length is a
`ValueError`; a proof that leads somewhere else is a `RootMismatch`, which says where.
"""

from __future__ import annotations

from collections.abc import Sequence

from plumeline.events.merkle import EMPTY_ROOT, HASH_SIZE, node_hash

__all__ = ["RootMismatch", "root_from_inclusion_proof", "verify_consistency", "verify_inclusion"]


class RootMismatch(ValueError):
    """The proof leads to a root other than the expected one."""

    def __init__(self, size: int, computed: bytes, expected: bytes) -> None:
        self.size = size
        self.computed = computed.hex()
        self.expected = expected.hex()
        super().__init__(
            f"root of tree size {size}: the proof gives {self.computed}, expected {self.expected}"
        )


def _inclusion_length(index: int, size: int) -> int:
    # The path to `index` diverges from the path to the last leaf `size - 1` at the
    # highest differing bit: below it the path has a node per level ("inner"), above
    # it only where the index has a left sibling on the right border ("border").
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def _check_hashes(proof: Sequence[bytes], *named: tuple[str, bytes]) -> None:
    for name, value in (*named, *((f"proof[{i}]", p) for i, p in enumerate(proof))):
        if len(value) != HASH_SIZE:
            raise ValueError(f"{name} is {len(value)} bytes, not a {HASH_SIZE}-byte SHA-256 hash")


def root_from_inclusion_proof(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]
) -> bytes:
    """The root a tree of `size` leaves has if `proof` is the audit path of leaf `index`.
    Requires 0 <= index < size and exactly as many proof nodes as the path has levels."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} outside tree of size {size}")
    if len(proof) != (want := _inclusion_length(index, size)):
        raise ValueError(f"wrong proof length {len(proof)} for index {index} of size {size}, "
                         f"want {want}")
    _check_hashes(proof, ("leaf hash", leaf_hash))
    # RFC 9162 §2.1.3.2: "Set fn to leaf_index and sn to tree_size - 1. Set r to hash."
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:  # "If sn is 0, then stop the iteration and fail the proof verification."
            raise ValueError(f"proof for index {index} of size {size} is too long")
        if fn & 1 or fn == sn:
            # "Set r to HASH(0x01 || p || r)": p is a left sibling, or r is a right-border
            # node with no sibling on this level, so climb until it has one.
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)  # "Set r to HASH(0x01 || r || p)."
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:  # "Compare sn to 0."
        raise ValueError(f"proof for index {index} of size {size} is too short")
    return r


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that the leaf with `leaf_hash` is leaf `index` of the tree of `size` leaves
    whose root is `root`. Raises RootMismatch or ValueError; returns None if it holds."""
    computed = root_from_inclusion_proof(leaf_hash, index, size, proof)
    if computed != root:
        raise RootMismatch(size, computed, root)


def verify_consistency(
    first: int, second: int, proof: Sequence[bytes], first_root: bytes, second_root: bytes
) -> None:
    """Check that the tree of `first` leaves with `first_root` is a prefix of the tree of
    `second` leaves with `second_root`. Requires 0 <= first <= second.
    Raises RootMismatch or ValueError; returns None if it holds."""
    if not 0 <= first <= second:
        raise ValueError(f"no consistency from size {first} to size {second}: first > second")
    if first == second or first == 0:
        # Nothing to prove: equal sizes must have equal roots, and the empty tree is a
        # prefix of every tree (its root is SHA-256 of the empty string).
        if proof:
            raise ValueError(f"wrong proof length {len(proof)} from size {first} to {second}, "
                             "want 0")
        if first == 0 and first_root != EMPTY_ROOT:
            raise RootMismatch(0, EMPTY_ROOT, first_root)
        if first == second and first_root != second_root:
            raise RootMismatch(second, first_root, second_root)
        return
    # The proof is the inclusion path of leaf first - 1 in the larger tree, minus the
    # levels below the old tree's rightmost perfect subtree, plus that subtree's hash
    # unless first is a power of two (then the subtree is the old root itself).
    shift = (first & -first).bit_length() - 1
    power_of_two = first == 1 << shift
    want = _inclusion_length(first - 1, second) - shift + (0 if power_of_two else 1)
    if len(proof) != want:
        raise ValueError(f"wrong proof length {len(proof)} from size {first} to {second}, "
                         f"want {want}")
    _check_hashes(proof, ("first root", first_root), ("second root", second_root))
    # RFC 9162 §2.1.4.2: "If first is an exact power of 2, then prepend first_hash to
    # the consistency_path array."
    path = [first_root, *proof] if power_of_two else list(proof)
    # "Set fn to first - 1 and sn to second - 1. If LSB(fn) is set, then right-shift
    # both fn and sn equally until LSB(fn) is not set."
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]  # "Set both fr and sr to the first value in the consistency_path array."
    for c in path[1:]:
        if sn == 0:
            raise ValueError(f"proof from size {first} to {second} is too long")
        if fn & 1 or fn == sn:
            # c is left of both paths: it is in the old tree and in the new one.
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)  # c was appended after the old tree: only in the new one.
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ValueError(f"proof from size {first} to {second} is too short")
    if fr != first_root:
        raise RootMismatch(first, fr, first_root)
    if sr != second_root:
        raise RootMismatch(second, sr, second_root)
