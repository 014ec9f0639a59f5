"""The auditor's verifier: is this bundle the ledger its signed tree heads vouch for?

It streams: a bundle may hold millions of records, and only their leaf hashes (in a
MerkleTree) and event ids stay in memory. It reads to the end even after a problem,
so the counts and the root describe the whole file, but reports the first problem
found, in reading order, then the checks that need the whole file.

Checking a record costs ~4 µs of CPython (decoding it is half of that), so a large
bundle is cut into chunks of whole lines that worker processes check side by side.
A chunk's checks need nothing from the chunks before it except three facts, which
the coordinator, reading the results in file order, supplies afterwards: how many
records came before (a record's seq is its position), the hash of the last record
before (the first record's prev), and the event ids seen before (duplicates). So a
worker reports its chunk's leaf hashes and event ids as packed bytes, its first
problem, and what the coordinator needs to check the rest: the first record's seq
and prev. Each problem is ranked by (line, order of the check), so the report names
exactly the problem a single pass in file order would have named first. Small
bundles, and streams whose size is unknown, are checked in this process, chunk by
chunk, by the same code.
"""

from __future__ import annotations

import gc
import hashlib
import io
import multiprocessing
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import IO

import msgspec

from plumeline.events.bundle import (
    RECORD_PREFIX,
    BundleUnreadable,
    MalformedLine,
    _classify,
    _is_hex,
    read_bundle,
)
from plumeline.events.ledger import GENESIS, _canonical, _record_decoder
from plumeline.events.merkle import HASH_SIZE, MerkleTree
from plumeline.events.treehead import TreeHead, verify_head

__all__ = ["BundleUnreadable", "VerifyReport", "verify_bundle"]

CHUNK_BYTES = 4 << 20  # ~8,000 records of ~500 bytes: one task for a worker
PARALLEL_BYTES = 16 << 20  # below this, starting processes costs more than it saves
ID_SIZE = 16  # an event id is 32 hex digits

# The checks on a record, in the order a record is checked: of two problems on one
# line, the earlier check's is the one reported.
DECODE, SEQ, PREV, EVENT_ID, TYPE, DUPLICATE, CANONICAL = range(7)


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
    path_or_fp: str | os.PathLike[str] | IO[bytes],
    public_key_hex: str | None = None,
    *,
    processes: int | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> VerifyReport:
    """Verify a bundle, against `public_key_hex` if given (it must match the header's).
    Raises BundleUnreadable only if the file cannot be read or has no valid header.

    `processes` checks chunks of `chunk_bytes` in that many worker processes; by
    default one per CPU for a bundle of PARALLEL_BYTES or more, else none."""
    if isinstance(path_or_fp, str | os.PathLike):
        try:
            fp = open(path_or_fp, "rb")  # noqa: SIM115 - closed below
        except OSError as e:
            raise BundleUnreadable(f"cannot open {os.fspath(path_or_fp)}: {e}") from e
        with fp:
            return _verify(fp, os.fspath(path_or_fp), public_key_hex, processes, chunk_bytes)
    return _verify(path_or_fp, None, public_key_hex, processes, chunk_bytes)


def _verify(
    fp: IO[bytes], path: str | None, public_key_hex: str | None, processes: int | None,
    chunk_bytes: int,
) -> VerifyReport:
    header = read_bundle(fp).header  # reads line 1 only
    audit = _Audit(public_key_hex or header.public_key)
    if public_key_hex is not None and public_key_hex.lower() != header.public_key:
        audit.fail(None, f"the bundle's header names public key {header.public_key}, "
                         f"not the expected key {public_key_hex.lower()}")
    if processes is None:
        processes = _cpus() if _remaining(fp) >= PARALLEL_BYTES else 1
    for chunk in _chunks(fp, path, audit.public_key, processes, chunk_bytes):
        audit.chunk(chunk)
    return audit.finish()


# -- the workers' part: one chunk of whole lines ---------------------------------


@dataclass(slots=True)
class _Chunk:
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


def _check(data: bytes, public_key: str) -> _Chunk:
    """Check whole lines (each ending with "\\n", but the file's last may be cut short).

    Record i's seq is only known relative to the chunk's first parsed record, and
    record 0's prev not at all: the coordinator checks those two. After the chunk's
    first problem, records are only hashed; tree heads are still checked, since the
    valid ones are counted and vouch for roots."""
    collecting = gc.isenabled()
    gc.disable()  # a record's objects die young: no cycles to find, ~10 % saved
    try:
        return _check_lines(data, public_key)
    finally:
        if collecting:
            gc.enable()


def _check_lines(data: bytes, public_key: str) -> _Chunk:
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
            found = _other_line(number, line + b"\n", public_key, heads)
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
        problem = problem or _other_line(len(lines), tail, public_key, heads)
    return _Chunk(len(lines) + bool(tail), bytes(leaves), bytes(ids), others, heads,
                  problem, first_seq, first_prev)


def _other_line(
    number: int, line: bytes, public_key: str, heads: list[tuple[int, TreeHead]]
) -> tuple | None:
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


def _check_range(path: str, start: int, end: int, public_key: str) -> _Chunk:
    try:
        with open(path, "rb") as fp:
            fp.seek(start)
            data = fp.read(end - start)
    except OSError as e:
        raise BundleUnreadable(f"cannot read the bundle at byte {start}: {e}") from None
    return _check(data, public_key)


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


# -- the coordinator's part: chunks in file order --------------------------------


class _Audit:
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

    def chunk(self, chunk: _Chunk) -> None:
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

    def _first_problem(self, chunk: _Chunk, base: int) -> tuple | None:
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
        keys = [ids[i : i + ID_SIZE] for i in range(0, len(ids), ID_SIZE)]
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


# -- reading and dispatching chunks ----------------------------------------------


def _chunks(
    fp: IO[bytes], path: str | None, public_key: str, processes: int, chunk_bytes: int
) -> Iterator[_Chunk]:
    if processes <= 1:
        for data in _blocks(fp, chunk_bytes):
            yield _check(data, public_key)
        return
    with ProcessPoolExecutor(processes, mp_context=_context()) as pool:
        if path is not None:
            tasks = (pool.submit(_check_range, path, start, end, public_key)
                     for start, end in _ranges(fp, chunk_bytes))
        else:
            tasks = (pool.submit(_check, data, public_key)
                     for data in _blocks(fp, chunk_bytes))
        pending: deque = deque()
        for task in tasks:  # a few chunks in flight: memory stays bounded
            pending.append(task)
            if len(pending) > 2 * processes:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _blocks(fp: IO[bytes], chunk_bytes: int) -> Iterator[bytes]:
    """The rest of the stream in blocks of whole lines."""
    lines = 1
    while True:
        try:
            data = fp.read(chunk_bytes)
            if data:
                data += fp.readline()
        except (OSError, UnicodeError) as e:
            raise BundleUnreadable(f"cannot read line {lines + 1} of the bundle: {e}") from e
        if not data:
            return
        if isinstance(data, str):  # a text stream
            data = data.encode()
        lines += data.count(b"\n")
        yield data


def _ranges(fp: IO[bytes], chunk_bytes: int) -> Iterator[tuple[int, int]]:
    """(start, end) byte offsets of the rest of the file, cut after a line feed."""
    start = fp.tell()
    size = os.fstat(fp.fileno()).st_size
    while start < size:
        fp.seek(min(start + chunk_bytes, size))
        fp.readline()
        end = fp.tell()
        yield start, end
        start = end


def _remaining(fp: IO[bytes]) -> int:
    """Bytes left to read, or 0 when the stream cannot tell."""
    try:
        if isinstance(fp, io.TextIOBase) or not fp.seekable():
            return 0
        here = fp.tell()
        end = fp.seek(0, os.SEEK_END)
        fp.seek(here)
        return end - here
    except (OSError, ValueError):
        return 0


def _context() -> multiprocessing.context.BaseContext:
    """Workers forked from this process when it runs one thread (`plumeline verify`):
    they start in milliseconds. A fork copies other threads' locks, taken or not, so
    a process with threads gets workers forked from a clean server process instead,
    which then import the main module (hence `if __name__ == "__main__"` in scripts)."""
    try:
        single = len(os.listdir("/proc/self/task")) == 1
    except OSError:
        single = False
    methods = multiprocessing.get_all_start_methods()
    method = next(m for m in ("fork" if single else "", "forkserver", "spawn") if m in methods)
    return multiprocessing.get_context(method)


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
