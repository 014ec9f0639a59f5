"""The verifier's coordinator: chunks' findings joined in file order into one report.

A chunk (`verify_chunk.Chunk`) could not see the records before it; here they are
known. The coordinator checks what joins a chunk to the one before (the first
record's seq and prev, event ids seen in earlier chunks), adds the leaf hashes to the
Merkle tree, keeps the first problem in file order, and after the last chunk checks
the signed tree heads against the tree.
"""

from __future__ import annotations

import msgspec

from plumeline.events.ledger import GENESIS
from plumeline.events.merkle import HASH_SIZE, MerkleTree
from plumeline.events.treehead import TreeHead
from plumeline.events.verify_chunk import DUPLICATE, ID_SIZE, PREV, SEQ, Chunk

__all__ = ["Audit", "VerifyReport"]


class VerifyReport(msgspec.Struct, frozen=True):
    """What `verify` found: `problem` is the first problem, as a sentence, and
    `first_bad_seq` the record where verification failed (when the chain breaks at
    record n, record n - 1 may be the altered one; when a signed root does not match,
    the first record no smaller matching head vouches for), None when the problem is
    not with a record. `root` is the Merkle root of all records in the file."""

    ok: bool
    records: int
    tree_heads: int
    root: str
    first_bad_seq: int | None = None
    problem: str | None = None


def _sentence(kind: str, seq: int | None, number: int, details: tuple) -> str:
    where = f"record {seq} (line {number})"
    match kind, details:
        case "line", (reason,):
            return f"line {number}: {reason}"
        case "signature", (size, key):
            return (f"tree head on line {number} (size {size}): its signature does not "
                    f"verify under key {key}")
        case "head", ():
            return f"tree head on line {number}: size or root is malformed"
        case "decode", (error,):
            return f"{where}: not a valid ledger record ({error})"
        case "seq", (found,):
            return (f"{where}: has seq {found} where seq {seq} belongs "
                    "(record deleted, duplicated or reordered)")
        case "prev", ():
            assert seq is not None
            before = f"record {seq - 1}" if seq > 1 else "the genesis value (64 zeros)"
            return (f"{where}: prev does not match the hash of {before} "
                    "(a record altered, inserted, deleted or reordered)")
        case "event_id", (id_, stream, cseq, index):
            return f"{where}: event id {id_} is not the id of its causation {stream}/{cseq}/{index}"
        case "type", (found, tag):
            return f"{where}: type {found!r} differs from its body's type {tag!r}"
        case "duplicate", (id_,):
            return f"{where}: event {id_} appears a second time"
        case "canonical", ():
            return f"{where}: not in canonical form (keys sorted, no spaces)"
    raise AssertionError(kind)


class Audit:
    def __init__(self, public_key: str) -> None:
        self.public_key = public_key
        self.tree = MerkleTree()
        self.heads: list[tuple[int, TreeHead]] = []
        self.ids: set[bytes] = set()
        self.lines = 1  # the header
        self.last = GENESIS  # hex leaf hash of the last record so far
        self.first_bad_seq: int | None = None
        self.problem: str | None = None

    def fail(self, seq: int | None, problem: str) -> None:
        if self.problem is None:
            self.first_bad_seq, self.problem = seq, problem

    def chunk(self, chunk: Chunk) -> None:
        base = self.tree.size  # records before this chunk
        if self.problem is None and (found := self._first_problem(chunk, base)):
            number, _, record, kind, details = found
            seq = None if record is None else base + record + 1
            self.fail(seq, _sentence(kind, seq, self.lines + number + 1, details))
        self.heads += [(self.lines + number + 1, head) for number, head in chunk.heads]
        self.tree.extend(chunk.leaves)
        if chunk.leaves:
            self.last = chunk.leaves[-HASH_SIZE:].hex()
        self.lines += chunk.lines

    def _first_problem(self, chunk: Chunk, base: int) -> tuple | None:
        found = [chunk.problem] if chunk.problem else []
        if chunk.first_seq and chunk.first_seq[2] - chunk.first_seq[1] != base + 1:
            number, record, seq = chunk.first_seq
            found.append((number, SEQ, record, "seq", (seq,)))
        if chunk.first_prev and chunk.first_prev[1] != self.last:
            found.append((chunk.first_prev[0], PREV, 0, "prev", ()))
        if (record := self._duplicate(chunk.ids)) is not None:
            number = record  # its line: skip the lines before it that are not records
            for other in chunk.others:
                if other > number:
                    break
                number += 1
            event_id = chunk.ids[record * ID_SIZE : (record + 1) * ID_SIZE].hex()
            found.append((number, DUPLICATE, record, "duplicate", (event_id,)))
        return min(found, key=lambda p: p[:2], default=None)

    def _duplicate(self, ids: bytes) -> int | None:
        """The first record whose event id came before, if any."""
        cuts = map(slice, range(0, len(ids), ID_SIZE), range(ID_SIZE, len(ids) + 1, ID_SIZE))
        keys = list(map(ids.__getitem__, cuts))
        new = set(keys)
        if len(new) == len(keys) and self.ids.isdisjoint(new):
            self.ids |= new
            return None
        seen = set()
        for record, key in enumerate(keys):
            if key in self.ids or key in seen:
                return record
            seen.add(key)
        raise AssertionError("a duplicate that is not")

    def finish(self) -> VerifyReport:
        records = self.tree.size
        self._check_heads(records)
        return VerifyReport(
            ok=self.problem is None,
            records=records,
            tree_heads=len(self.heads),
            root=self.tree.root().hex(),
            first_bad_seq=self.first_bad_seq,
            problem=self.problem,
        )

    def _check_heads(self, records: int) -> None:
        if not self.heads:
            return self.fail(None, "the bundle has no valid signed tree head, so nothing "
                                   "vouches for its records")
        vouched = 0  # records 1..vouched match a signed root
        for number, head in sorted(self.heads, key=lambda nh: nh[1].size):
            where = f"tree head on line {number}"
            if head.size > records:
                return self.fail(records + 1, f"{where} signs {head.size} records but the "
                                              f"bundle holds {records}: records were removed "
                                              f"from the end")
            computed = self.tree.root(head.size).hex()
            if computed != head.root:
                return self.fail(vouched + 1, f"{where} signs root {head.root} for records "
                                              f"1..{head.size}, but they hash to {computed}: "
                                              f"a record in {vouched + 1}..{head.size} was "
                                              "altered, or the head is not this ledger's")
            vouched = head.size
        if vouched < records:
            self.fail(vouched + 1, f"records {vouched + 1}..{records} are not covered by any "
                                   f"signed tree head (the largest signs {vouched})")
