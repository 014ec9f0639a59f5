"""Frame leaves (docs/ledger.md §8): a leaf per READINGS message over its bytes and the
positions a window took, proving any single reading and refusing a changed one."""

from __future__ import annotations

from hashlib import sha256

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from plumeline.events import (
    Event,
    Frame,
    MerkleTree,
    ReadingsSealed,
    encode_wire,
    leaf_hash,
    verify_inclusion,
)
from plumeline.events.frame_seal import decode_frame_leaf, frame_leaf, holds, runs

T0 = 1_767_225_600_000


def _message(n: int, seq: int = 0) -> bytes:
    return encode_wire(Frame(facility="ccs-07", sensors=[f"s{i % 7}" for i in range(n)],
                             times=[T0 + seq * 1000 + i for i in range(n)],
                             values=[400.0 + i * 0.25 for i in range(n)]))


def test_a_frame_leaf_is_canonical_json_of_the_messages_hash_and_runs():
    message = _message(250)
    digest = sha256(message).hexdigest()
    assert frame_leaf("ccs-07", 4711, message, range(250)) == (
        b'{"facility":"ccs-07","frame":"%s","positions":[[0,250]],"seq":4711}'
        % digest.encode())
    assert decode_frame_leaf(frame_leaf("f", 1, message, [0, 1, 2, 5, 9, 10])).positions == [
        (0, 3), (5, 6), (9, 11)]
    assert frame_leaf("f", 1, message, [(0, 3), (5, 6)]) == frame_leaf(
        "f", 1, message, [0, 1, 2, 5])


@given(st.lists(st.integers(0, 300), unique=True).map(sorted))
def test_runs_hold_exactly_the_positions(positions):
    found = runs(positions)
    assert [p for start, stop in found for p in range(start, stop)] == positions
    assert all(a[1] < b[0] for a, b in zip(found, found[1:]))  # maximal: never adjacent


def test_positions_out_of_order_are_refused():
    with pytest.raises(ValueError, match="ascend"):
        runs([3, 1])
    with pytest.raises(ValueError, match="ascend"):
        runs([1, 1])


def test_any_single_reading_of_a_window_is_proven_and_a_changed_one_is_not():
    # three messages; the window took the whole of the first, part of the second
    # (refused and next-window readings left out), and one reading of the third
    sizes = {11: 40, 12: 30, 13: 5}
    messages = {seq: _message(n, seq) for seq, n in sizes.items()}
    taken = {11: list(range(40)), 12: [0, 1, 2, 7, 8, 20, 29], 13: [4]}
    leaves = [frame_leaf("ccs-07", seq, messages[seq], taken[seq]) for seq in messages]
    tree = MerkleTree()
    for leaf in leaves:
        tree.append(leaf_hash(leaf))
    for index, seq in enumerate(messages):
        for position in range(sizes[seq]):
            proven = holds(leaves[index], messages[seq], seq, position)
            assert proven == (position in taken[seq])
        verify_inclusion(leaf_hash(leaves[index]), index, tree.size,
                         tree.inclusion_proof(index, tree.size), tree.root())
    # a changed reading changes the message's bytes: its leaf no longer holds it
    changed = encode_wire(Frame(facility="ccs-07", sensors=[f"s{i % 7}" for i in range(30)],
                                times=[T0 + 12_000 + i for i in range(30)],
                                values=[400.0 + i * 0.25 + (i == 7) for i in range(30)]))
    assert changed != messages[12] and not holds(leaves[1], changed, 12, 7)
    assert not holds(leaves[1], messages[12], 13, 7)  # another message's leaf


def test_a_window_of_frame_leaves_says_so_and_one_sealed_before_stays_canonical():
    canonical = msgspec.json.Encoder(order="sorted")
    sealed = ReadingsSealed(facility="f", window_start=0, window_end=3_600_000,
                            root="ab" * 32, count=500, first_seq=7, last_seq=8, leaves=3)
    before = canonical.encode(sealed)
    assert b"leaf" not in before.replace(b'"leaves"', b"")
    again = msgspec.json.decode(before, type=Event)
    assert again.leaf == "" and canonical.encode(again) == before
    framed = canonical.encode(msgspec.structs.replace(sealed, leaf="frame"))
    assert b'"leaf":"frame","leaves":3,' in framed
    assert msgspec.json.decode(framed, type=Event).leaf == "frame"
