"""RFC 6962 proofs from the ledger writer's tree, as the HTTP API returns them."""

from __future__ import annotations

from plumeline.events import Ledger

__all__ = ["consistency", "inclusion"]


def inclusion(ledger: Ledger, seq: int, tree_size: int | None = None) -> dict:
    """RFC 6962 audit path of record `seq` (leaf index seq-1) in the tree of tree_size."""
    size = ledger.size if tree_size is None else tree_size
    if not 1 <= size <= ledger.size:
        raise ValueError(f"tree_size {size} outside 1..{ledger.size}")
    if not 1 <= seq <= size:
        raise ValueError(f"record {seq} is not in the tree of size {size}")
    tree = ledger.tree
    return {
        "seq": seq,
        "leaf_index": seq - 1,
        "tree_size": size,
        "leaf_hash": tree.leaf(seq - 1).hex(),
        "audit_path": [h.hex() for h in tree.inclusion_proof(seq - 1, size)],
        "root_hash": tree.root(size).hex(),
    }


def consistency(ledger: Ledger, first: int, second: int) -> dict:
    if not 1 <= first <= second <= ledger.size:
        raise ValueError(f"need 1 <= first <= second <= {ledger.size}")
    tree = ledger.tree
    return {
        "first": first,
        "second": second,
        "first_root": tree.root(first).hex(),
        "second_root": tree.root(second).hex(),
        "proof": [h.hex() for h in tree.consistency_proof(first, second)],
    }
