"""The verifier's workers' part: check one chunk of whole lines of a bundle.

A chunk's checks need nothing from the chunks before it except three facts, which the
coordinator (`verify_audit`), reading the results in file order, supplies afterwards:
how many records came before (a record's seq is its position), the hash of the last
record before (the first record's prev), and the event ids seen before (duplicates).
So a chunk reports its leaf hashes and event ids as packed bytes, its first problem,
and what the coordinator needs to check the rest: the first record's seq and prev.

Checking a record costs ~4 µs of CPython, nearly all of it in C: decoding it
(~1.1-1.6 µs), re-encoding it (~0.65 µs), three SHA-256 (leaf, event id, and the
coordinator's Merkle node, ~0.35-0.6 µs each). `check_lines` is the reference, a record
at a time in file order; `verify_fast.check_records` checks a chunk of good records in
batch (~20 % less CPU) and hands any chunk it doubts to `check_lines` to name the problem.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import msgspec

from plumeline.events.bundle import RECORD_PREFIX, MalformedLine, _classify, _is_hex
from plumeline.events.ledger import _canonical, _record_decoder
from plumeline.events.treehead import TreeHead, verify_head

__all__ = ["Chunk", "check_lines", "other_line"]

ID_SIZE = 16  # an event id is 32 hex digits

# The checks on a record, in the order a record is checked: of two problems on one
# line, the earlier check's is the one reported.
DECODE, SEQ, PREV, EVENT_ID, TYPE, DUPLICATE, CANONICAL = range(7)


@dataclass(slots=True)
class Chunk:
    """What checking a chunk found. Lines and records are numbered from 0 within the
    chunk; a problem is (line, check, record or None, kind, details)."""

    lines: int
    leaves: bytes  # leaf hashes of all its records, 32 bytes each
    ids: bytes  # event ids, 16 bytes each, of its records up to its first problem
    others: list[int]  # the lines that are not records
    heads: list[tuple[int, TreeHead]]  # the valid tree heads
    problem: tuple | None  # the first problem the chunk shows on its own
    first_seq: tuple[int, int, int] | None  # (line, record, seq) of the first parsed record
    first_prev: tuple[int, str] | None  # (line, prev) of record 0, if it parsed
    size: int = 0  # its bytes, for progress


def check_lines(data: bytes, public_key: str) -> Chunk:
    """The reference check, a record at a time in file order.

    Record i's seq is only known relative to the chunk's first parsed record, and
    record 0's prev not at all: the coordinator checks those two. After the chunk's
    first problem, records are only hashed; tree heads are still checked, since the
    valid ones are counted and vouch for roots."""
    sha256, decode, encode, fromhex = (
        hashlib.sha256, _record_decoder.decode, _canonical.encode, bytes.fromhex)
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" unless the file ends inside its last line
    leaves, ids = bytearray(), bytearray()
    others: list[int] = []
    heads: list[tuple[int, TreeHead]] = []
    problem = first_seq = first_prev = None
    prev, offset, r = "", 0, 0
    for number, line in enumerate(lines):
        if not line.startswith(RECORD_PREFIX):
            others.append(number)
            found = other_line(number, line + b"\n", public_key, heads)
            problem = problem or found
            continue
        h = sha256(b"\x00" + line).digest()
        leaves += h
        i, r = r, r + 1
        if problem is not None:
            continue
        before, prev = prev, h.hex()
        try:
            record = decode(line)
        except msgspec.DecodeError as e:
            problem = (number, DECODE, i, "decode", (str(e),))
            continue
        if first_seq is None:
            first_seq, offset = (number, i, record.seq), record.seq - i
        elif record.seq - i != offset:
            problem = (number, SEQ, i, "seq", (record.seq,))
            continue
        if i == 0:
            first_prev = (number, record.prev)
        elif record.prev != before:
            problem = (number, PREV, i, "prev", ())
            continue
        envelope = record.event
        c = envelope.causation
        # events.domain.event_id, inlined: this loop is the verifier's whole cost
        if envelope.id != sha256(f"{c.stream}/{c.seq}/{c.index}".encode()).hexdigest()[:32]:
            problem = (number, EVENT_ID, i, "event_id", (envelope.id, c.stream, c.seq, c.index))
            continue
        tag = type(envelope.body).__struct_config__.tag
        if envelope.type != tag:
            problem = (number, TYPE, i, "type", (envelope.type, tag))
            continue
        ids += fromhex(envelope.id)  # a valid id is 32 lowercase hex digits
        # The bytes are what is hashed, so only the writer could produce a
        # non-canonical line; say so rather than let two encodings of one event exist.
        if encode(record) != line:
            problem = (number, CANONICAL, i, "canonical", ())
    if tail:
        others.append(len(lines))
        problem = problem or other_line(len(lines), tail, public_key, heads)
    return Chunk(len(lines) + bool(tail), bytes(leaves), bytes(ids), others, heads,
                 problem, first_seq, first_prev)


def other_line(
    number: int, line: bytes, public_key: str, heads: list[tuple[int, TreeHead]]
) -> tuple | None:
    """Check a line that is not a record: a valid tree head joins `heads`."""
    item = _classify(number, line)
    if isinstance(item, MalformedLine):
        return (number, DECODE, None, "line", (item.reason,))
    head = item.head  # a RecordLine does not reach here
    if not verify_head(head, public_key):
        return (number, DECODE, None, "signature", (head.size, public_key))
    if head.size < 0 or not _is_hex(head.root, 64):
        return (number, DECODE, None, "head", ())
    heads.append((number, head))
    return None
