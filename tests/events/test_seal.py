import pytest

from events import EMPTY_ROOT, MerkleTree, SealFrontier, leaf_hash, reading_leaf


def test_a_reading_leaf_is_canonical_json_of_its_four_fields():
    assert reading_leaf("ccs-07", "flue_co2", 1767225600000, 400) == (
        b'{"facility":"ccs-07","sensor":"flue_co2","time":1767225600000,"value":400.0}'
    )


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 7, 8, 9, 31, 64, 100])
def test_the_running_root_is_the_rfc6962_root_of_the_same_leaves(n):
    frontier, tree = SealFrontier(), MerkleTree()
    for i in range(n):
        data = reading_leaf("f", "s", i, i * 0.5)
        frontier.append(data)
        tree.append(leaf_hash(data))
        assert frontier.root() == tree.root()
    assert frontier.size == n and len(frontier.peaks) == bin(n).count("1")
    if n == 0:
        assert frontier.root() == EMPTY_ROOT
