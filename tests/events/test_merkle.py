"""events/merkle.py against the published RFC 6962 reference tree and a naive tree."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plumeline.events import EMPTY_ROOT, MerkleTree, leaf_hash, node_hash
from plumeline.events import merkle as merkle_module

VECTORS = Path(__file__).parents[1] / "vectors" / "merkle"


def load_vectors(kind: str) -> list[tuple[str, dict]]:
    cases = [(p.name, json.loads(p.read_text())) for p in sorted(VECTORS.glob("*.json"))]
    return [(name, case) for name, case in cases if case["kind"] == kind]


def reference_tree() -> MerkleTree:
    (_, case), = load_vectors("tree")
    tree = MerkleTree()
    for data in case["leaves"]:
        tree.append(leaf_hash(bytes.fromhex(data)))
    return tree


# A naive RFC 6962 §2.1 implementation, written straight from the definitions.
def split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def naive_root(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = split(len(leaves))
    return node_hash(naive_root(leaves[:k]), naive_root(leaves[k:]))


def naive_path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = split(len(leaves))
    if m < k:
        return [*naive_path(m, leaves[:k]), naive_root(leaves[k:])]
    return [*naive_path(m - k, leaves[k:]), naive_root(leaves[:k])]


def naive_subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if whole else [naive_root(leaves)]
    k = split(n)
    if m <= k:
        return [*naive_subproof(m, leaves[:k], whole), naive_root(leaves[k:])]
    return [*naive_subproof(m - k, leaves[k:], False), naive_root(leaves[:k])]


def leaves_of(n: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


def build(leaves: list[bytes]) -> MerkleTree:
    tree = MerkleTree()
    for h in leaves:
        tree.append(h)
    return tree


def test_hashes_are_rfc6962_with_domain_separation():
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    left, right = b"L" * 32, b"R" * 32
    assert node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_reference_tree_has_published_roots_for_every_size():
    (_, case), = load_vectors("tree")
    tree = reference_tree()
    got = [tree.root(size).hex() for size in range(len(case["roots"]))]
    assert got == case["roots"], case["desc"]
    assert tree.root() == tree.root(8)
    assert MerkleTree().root().hex() == case["roots"][0]


def test_tree_produces_the_published_proofs():
    """Every happy-path vector's proof is exactly what the tree generates."""
    tree = reference_tree()
    failures = []
    for name, case in load_vectors("inclusion"):
        if case["want_err"]:
            continue
        got = [h.hex() for h in tree.inclusion_proof(case["leaf_index"], case["tree_size"])]
        if got != case["proof"] or tree.leaf(case["leaf_index"]).hex() != case["leaf_hash"]:
            failures.append(f"{name}: {case['desc']}: got {got}")
    for name, case in load_vectors("consistency"):
        if case["want_err"]:
            continue
        got = [h.hex() for h in tree.consistency_proof(case["size1"], case["size2"])]
        if got != case["proof"]:
            failures.append(f"{name}: {case['desc']}: got {got}")
    assert not failures, "\n".join(failures)


def test_roots_match_a_tree_grown_leaf_by_leaf():
    leaves = leaves_of(70)
    tree = MerkleTree()
    for n, h in enumerate(leaves, start=1):
        tree.append(h)
        assert tree.size == n
        assert tree.root() == naive_root(leaves[:n])


@settings(max_examples=60, deadline=None)
@given(st.data(), st.integers(min_value=1, max_value=300))
def test_roots_and_proofs_equal_the_naive_implementation(data, n):
    leaves = leaves_of(n)
    tree = build(leaves)
    size = data.draw(st.integers(min_value=0, max_value=n), label="size")
    assert tree.root(size) == naive_root(leaves[:size])
    if size:
        index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
        assert tree.inclusion_proof(index, size) == naive_path(index, leaves[:size])
        assert tree.leaf(index) == leaves[index]
        first = data.draw(st.integers(min_value=1, max_value=size), label="first")
        assert tree.consistency_proof(first, size) == naive_subproof(first, leaves[:size], True)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=70), max_size=6))
def test_extending_by_many_leaves_builds_the_tree_appending_builds(runs):
    leaves = leaves_of(sum(runs))
    appended, extended = MerkleTree(), MerkleTree()
    start = 0
    for n in runs:
        for h in leaves[start : start + n]:
            appended.append(h)
        extended.extend(b"".join(leaves[start : start + n]))
        start += n
        assert extended._levels == appended._levels and extended.size == appended.size
    assert extended.root() == naive_root(leaves)


def test_every_proof_of_a_small_tree_equals_the_naive_one():
    leaves = leaves_of(33)
    tree = build(leaves)
    for size in range(1, 34):
        for i in range(size):
            assert tree.inclusion_proof(i, size) == naive_path(i, leaves[:size]), (i, size)
        for first in range(1, size + 1):
            want = naive_subproof(first, leaves[:size], True)
            assert tree.consistency_proof(first, size) == want, (first, size)


def test_roots_and_proofs_of_a_large_tree_cost_logarithmic_hashing(monkeypatch):
    tree = build(leaves_of(70_001))
    calls = 0
    real = merkle_module.node_hash

    def counting(left, right):
        nonlocal calls
        calls += 1
        return real(left, right)

    monkeypatch.setattr(merkle_module, "node_hash", counting)
    for size in (70_001, 65_537, 54_321, 12_345):
        calls = 0
        tree.root(size)
        tree.inclusion_proof(size // 3, size)
        tree.consistency_proof(size // 7, size)
        assert calls <= 3 * size.bit_length(), (size, calls)


def test_impossible_requests_are_refused():
    tree = build(leaves_of(5))
    with pytest.raises(ValueError, match="outside tree of size 5"):
        tree.inclusion_proof(5, 5)
    with pytest.raises(ValueError, match="not that big"):
        tree.root(6)
    with pytest.raises(ValueError, match="not that big"):
        tree.inclusion_proof(0, 6)
    with pytest.raises(ValueError, match="from size 4 to size 3"):
        tree.consistency_proof(4, 3)
    with pytest.raises(ValueError, match="32 bytes"):
        tree.append(b"short")
    with pytest.raises(ValueError, match="32-byte pieces"):
        tree.extend(bytes(33))
    with pytest.raises(IndexError):
        tree.leaf(5)
    assert tree.consistency_proof(0, 5) == [] and tree.consistency_proof(5, 5) == []
