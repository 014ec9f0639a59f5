import msgspec
import pytest

from plumeline.events import (
    EMPTY_ROOT,
    Event,
    MerkleTree,
    ReadingsSealed,
    SealFrontier,
    leaf_hash,
    readings_leaf,
)


def test_a_leaf_is_canonical_json_of_a_messages_readings():
    rows = [("flue_co2", 1767225600000, 400.0), ("solvent_temp", 1767225600000, 41.25)]
    assert readings_leaf("ccs-07", 4711, rows) == (
        b'{"facility":"ccs-07","readings":[["flue_co2",1767225600000,400.0],'
        b'["solvent_temp",1767225600000,41.25]],"seq":4711}'
    )


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 7, 8, 9, 31, 64, 100])
def test_the_running_root_is_the_rfc6962_root_of_the_same_leaves(n):
    frontier, tree = SealFrontier(), MerkleTree()
    for i in range(n):
        data = readings_leaf("f", i, [("s", i, i * 0.5)] * (i % 3 + 1))
        frontier.append(data)
        tree.append(leaf_hash(data))
        assert frontier.root() == tree.root()
    assert frontier.size == n and len(frontier.peaks) == bin(n).count("1")
    if n == 0:
        assert frontier.root() == EMPTY_ROOT


def test_a_sealed_window_names_its_leaves_and_one_sealed_before_stays_canonical():
    canonical = msgspec.json.Encoder(order="sorted")
    sealed = ReadingsSealed(facility="f", window_start=0, window_end=3_600_000, root="ab" * 32,
                            count=500, first_seq=7, last_seq=8, leaves=3)
    assert b'"count":500,' in canonical.encode(sealed)
    assert b'"leaves":3,' in canonical.encode(sealed)
    # written when every reading was a leaf: no `leaves`, and none when written back
    before = canonical.encode(msgspec.structs.replace(sealed, count=2, leaves=0))
    assert b"leaves" not in before
    again = msgspec.json.decode(before, type=Event)
    assert again.leaves == 0 and canonical.encode(again) == before
