"""The auditor's verifier: is this bundle the ledger its signed tree heads vouch for?

It streams: a bundle may hold millions of records, and only their leaf hashes (in a
MerkleTree) and event ids stay in memory. It reads to the end even after a problem,
so the counts and the root describe the whole file, but reports the first problem
found, in reading order, then the checks that need the whole file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import IO

import msgspec

from events.bundle import (
    BundleUnreadable,
    MalformedLine,
    RecordLine,
    TreeHeadLine,
    _is_hex,
    read_bundle,
)
from events.domain import event_id
from events.ledger import GENESIS, decode_record, encode_record
from events.merkle import MerkleTree, leaf_hash
from events.treehead import TreeHead, verify_head

__all__ = ["BundleUnreadable", "VerifyReport", "verify_bundle"]


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


def verify_bundle(
    path_or_fp: str | os.PathLike[str] | IO[bytes], public_key_hex: str | None = None
) -> VerifyReport:
    """Verify a bundle, against `public_key_hex` if given (it must match the header's).
    Raises BundleUnreadable only if the file cannot be read or has no valid header."""
    if isinstance(path_or_fp, str | os.PathLike):
        try:
            fp = open(path_or_fp, "rb")  # noqa: SIM115 - closed below
        except OSError as e:
            raise BundleUnreadable(f"cannot open {os.fspath(path_or_fp)}: {e}") from e
        with fp:
            return _verify(fp, public_key_hex)
    return _verify(path_or_fp, public_key_hex)


def _verify(fp: IO[bytes], public_key_hex: str | None) -> VerifyReport:
    bundle = read_bundle(fp)
    audit = _Audit(public_key_hex or bundle.header.public_key)
    if public_key_hex is not None and public_key_hex.lower() != bundle.header.public_key:
        audit.fail(None, f"the bundle's header names public key {bundle.header.public_key}, "
                         f"not the expected key {public_key_hex.lower()}")
    for line in bundle:
        match line:
            case RecordLine(number=number, data=data):
                audit.record(number, data)
            case TreeHeadLine(number=number, head=head):
                audit.tree_head(number, head)
            case MalformedLine(number=number, reason=reason):
                audit.fail(None, f"line {number}: {reason}")
    return audit.finish()


@dataclass
class _Audit:
    public_key: str
    tree: MerkleTree = field(default_factory=MerkleTree)
    prev: str = GENESIS
    ids: set[int] = field(default_factory=set)
    heads: list[tuple[int, TreeHead]] = field(default_factory=list)
    first_bad_seq: int | None = None
    problem: str | None = None

    def fail(self, seq: int | None, problem: str) -> None:
        if self.problem is None:
            self.first_bad_seq, self.problem = seq, problem

    def record(self, number: int, data: bytes) -> None:
        # Position decides the seq a record must have: the n-th record is seq n.
        seq = self.tree.size + 1
        h = leaf_hash(data)
        self.tree.append(h)
        prev, self.prev = self.prev, h.hex()
        where = f"record {seq} (line {number})"
        try:
            record = decode_record(data)
        except msgspec.DecodeError as e:
            return self.fail(seq, f"{where}: not a valid ledger record ({e})")
        if record.seq != seq:
            return self.fail(seq, f"{where}: has seq {record.seq} where seq {seq} belongs "
                                  "(record deleted, duplicated or reordered)")
        if record.prev != prev:
            before = f"record {seq - 1}" if seq > 1 else "the genesis value (64 zeros)"
            return self.fail(seq, f"{where}: prev does not match the hash of {before} "
                                  "(a record altered, inserted, deleted or reordered)")
        envelope = record.event
        if envelope.id != event_id(envelope.causation):
            c = envelope.causation
            return self.fail(seq, f"{where}: event id {envelope.id} is not the id of its "
                                  f"causation {c.stream}/{c.seq}/{c.index}")
        tag = type(envelope.body).__struct_config__.tag
        if envelope.type != tag:
            return self.fail(seq, f"{where}: type {envelope.type!r} differs from its body's "
                                  f"type {tag!r}")
        key = int(envelope.id, 16)
        if key in self.ids:
            return self.fail(seq, f"{where}: event {envelope.id} appears a second time")
        self.ids.add(key)
        # The bytes are what is hashed, so only the writer could produce a
        # non-canonical line; say so rather than let two encodings of one event exist.
        if encode_record(record) != data:
            return self.fail(seq, f"{where}: not in canonical form (keys sorted, no spaces)")

    def tree_head(self, number: int, head: TreeHead) -> None:
        if not verify_head(head, self.public_key):
            return self.fail(None, f"tree head on line {number} (size {head.size}): its "
                                   f"signature does not verify under key {self.public_key}")
        if head.size < 0 or not _is_hex(head.root, 64):
            return self.fail(None, f"tree head on line {number}: size or root is malformed")
        self.heads.append((number, head))

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
