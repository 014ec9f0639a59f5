"""events/proofs.py: published vectors and their corruptions, and every generated proof."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plumeline.events import (
    EMPTY_ROOT,
    MerkleTree,
    RootMismatch,
    leaf_hash,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).parents[1] / "vectors" / "merkle"


def vectors(kind: str) -> list[tuple[str, dict]]:
    cases = [(p.name, json.loads(p.read_text())) for p in sorted(VECTORS.glob("*.json"))]
    return [(name, case) for name, case in cases if case["kind"] == kind]


def hashes(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


def outcome(check) -> Exception | None:
    try:
        check()
    except ValueError as e:  # RootMismatch is a ValueError too
        return e
    return None


def test_inclusion_vectors():
    failures = []
    for name, case in vectors("inclusion"):
        err = outcome(lambda c=case: verify_inclusion(
            bytes.fromhex(c["leaf_hash"]), c["leaf_index"], c["tree_size"],
            hashes(c["proof"]), bytes.fromhex(c["root"])))
        if (err is not None) != case["want_err"]:
            failures.append(f"{name}: {case['desc']}: want_err={case['want_err']}, got {err!r}")
    assert len(vectors("inclusion")) > 60
    assert not failures, "\n".join(failures)


def test_consistency_vectors():
    failures = []
    for name, case in vectors("consistency"):
        err = outcome(lambda c=case: verify_consistency(
            c["size1"], c["size2"], hashes(c["proof"]),
            bytes.fromhex(c["root1"]), bytes.fromhex(c["root2"])))
        if (err is not None) != case["want_err"]:
            failures.append(f"{name}: {case['desc']}: want_err={case['want_err']}, got {err!r}")
    assert len(vectors("consistency")) > 60
    assert not failures, "\n".join(failures)


def test_root_mismatch_names_size_and_both_roots():
    (_, case), = [v for v in vectors("inclusion") if v[0] == "inclusion-5-8-random-root.json"]
    with pytest.raises(RootMismatch) as info:
        verify_inclusion(bytes.fromhex(case["leaf_hash"]), 5, 8, hashes(case["proof"]),
                         bytes.fromhex(case["root"]))
    published_root = "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    assert info.value.size == 8
    assert info.value.computed == published_root
    assert info.value.expected == case["root"]
    assert published_root in str(info.value)


def test_impossible_arguments_are_value_errors_with_a_reason():
    h = leaf_hash(b"x")
    with pytest.raises(ValueError, match="index 3 outside tree of size 3"):
        verify_inclusion(h, 3, 3, [h, h], h)
    with pytest.raises(ValueError, match=r"wrong proof length 1 .* want 2"):
        verify_inclusion(h, 0, 3, [h], h)
    with pytest.raises(ValueError, match="first > second"):
        verify_consistency(5, 4, [h], h, h)
    with pytest.raises(ValueError, match="wrong proof length 0"):
        verify_consistency(3, 4, [], h, h)
    with pytest.raises(ValueError, match="32-byte"):
        verify_inclusion(b"short", 0, 2, [h], h)
    for err in (ValueError("x"), RootMismatch(1, h, h)):
        assert isinstance(err, ValueError)


def test_trivial_consistency():
    root = leaf_hash(b"x")
    verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)
    verify_consistency(0, 7, [], EMPTY_ROOT, root)  # the empty tree is a prefix of all
    verify_consistency(3, 3, [], root, root)
    with pytest.raises(RootMismatch):
        verify_consistency(3, 3, [], root, EMPTY_ROOT)
    with pytest.raises(RootMismatch):
        verify_consistency(0, 7, [], root, root)
    with pytest.raises(ValueError, match="want 0"):
        verify_consistency(3, 3, [root], root, root)


def flipped(proof: list[bytes], i: int, bit: int) -> list[bytes]:
    node = bytearray(proof[i])
    node[bit // 8] ^= 1 << (bit % 8)
    return [*proof[:i], bytes(node), *proof[i + 1 :]]


TREE = MerkleTree()
for i in range(300):
    TREE.append(leaf_hash(b"record %d" % i))


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_every_inclusion_proof_verifies_and_a_flipped_bit_does_not(data):
    size = data.draw(st.integers(min_value=1, max_value=TREE.size))
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    proof, root, leaf = TREE.inclusion_proof(index, size), TREE.root(size), TREE.leaf(index)
    verify_inclusion(leaf, index, size, proof, root)
    assert root_from_inclusion_proof(leaf, index, size, proof) == root
    if proof:
        i = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
        bit = data.draw(st.integers(min_value=0, max_value=255))
        with pytest.raises(RootMismatch):
            verify_inclusion(leaf, index, size, flipped(proof, i, bit), root)
    with pytest.raises(RootMismatch):
        verify_inclusion(flipped([leaf], 0, 7)[0], index, size, proof, root)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_every_consistency_proof_verifies_and_a_flipped_bit_does_not(data):
    second = data.draw(st.integers(min_value=1, max_value=TREE.size))
    first = data.draw(st.integers(min_value=1, max_value=second))
    proof = TREE.consistency_proof(first, second)
    first_root, second_root = TREE.root(first), TREE.root(second)
    verify_consistency(first, second, proof, first_root, second_root)
    if proof:
        i = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
        bit = data.draw(st.integers(min_value=0, max_value=255))
        with pytest.raises(RootMismatch):
            verify_consistency(first, second, flipped(proof, i, bit), first_root, second_root)
    if first < second:
        with pytest.raises(RootMismatch):
            verify_consistency(first, second, proof, first_root, flipped([second_root], 0, 0)[0])
