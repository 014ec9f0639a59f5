"""The auditor's verifier: is this bundle the ledger its signed tree heads vouch for?

It streams: a bundle may hold millions of records, and only their leaf hashes (in a
MerkleTree) and event ids stay in memory. It reads to the end even after a problem,
so the counts and the root describe the whole file, but reports the first problem
found, in reading order, then the checks that need the whole file.

A large bundle is cut into chunks of whole lines that worker processes check side by
side (`verify_fast`, `verify_chunk`: each chunk checks its own records); the coordinator reads their
findings in file order and checks the seams between chunks and the signed tree heads
(`verify_audit`). Each problem is ranked by (line, order of the check), so the report
names exactly the problem a single pass in file order would have named first. Small bundles, and streams whose
size is unknown, are checked in this process, chunk by chunk, by the same code.
"""

from __future__ import annotations

import gc
import io
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import IO

from plumeline.events.bundle import BundleUnreadable, read_bundle
from plumeline.events.verify_audit import Audit, VerifyReport
from plumeline.events.verify_chunk import Chunk, check_lines
from plumeline.events.verify_fast import check_records

__all__ = ["BundleUnreadable", "Progress", "VerifyReport", "verify_bundle"]

CHUNK_BYTES = 4 << 20  # ~8,000 records of ~500 bytes: one task for a worker
PARALLEL_BYTES = 16 << 20  # below this, starting processes costs more than it saves

# told after each chunk: (bytes of the bundle read, of all to read or 0 if unknown,
# records read)
Progress = Callable[[int, int, int], None]


def verify_bundle(
    path_or_fp: str | os.PathLike[str] | IO[bytes],
    public_key_hex: str | None = None,
    *,
    processes: int | None = None,
    chunk_bytes: int = CHUNK_BYTES,
    progress: Progress | None = None,
    fast: bool = True,
) -> VerifyReport:
    """Verify a bundle, against `public_key_hex` if given (it must match the header's).
    Raises BundleUnreadable only if the file cannot be read or has no valid header.

    `processes` checks chunks of `chunk_bytes` in that many worker processes; by
    default one per CPU for a bundle of PARALLEL_BYTES or more, else none.
    `progress`, if given, is told how far the reading is after each chunk. `fast`
    checks a chunk's records many at a time (`verify_fast`), falling back to the
    record-at-a-time reference (`verify_chunk.check_lines`) at the first doubt; the
    report is the same either way, `fast=False` runs the reference alone."""
    if isinstance(path_or_fp, str | os.PathLike):
        try:
            fp = open(path_or_fp, "rb")  # noqa: SIM115 - closed below
        except OSError as e:
            raise BundleUnreadable(f"cannot open {os.fspath(path_or_fp)}: {e}") from e
        with fp:
            return _verify(fp, os.fspath(path_or_fp), public_key_hex, processes, chunk_bytes,
                           progress, fast)
    return _verify(path_or_fp, None, public_key_hex, processes, chunk_bytes, progress, fast)


def _verify(
    fp: IO[bytes], path: str | None, public_key_hex: str | None, processes: int | None,
    chunk_bytes: int, progress: Progress | None, fast: bool,
) -> VerifyReport:
    header = read_bundle(fp).header  # reads line 1 only
    audit = Audit(public_key_hex or header.public_key)
    if public_key_hex is not None and public_key_hex.lower() != header.public_key:
        audit.fail(None, f"the bundle's header names public key {header.public_key}, "
                         f"not the expected key {public_key_hex.lower()}")
    remaining = _remaining(fp)
    if processes is None:
        processes = _cpus() if remaining >= PARALLEL_BYTES else 1
    done = 0
    for chunk in _chunks(fp, path, audit.public_key, processes, chunk_bytes, fast):
        audit.chunk(chunk)
        done += chunk.size
        if progress is not None:
            progress(done, remaining, audit.tree.size)
    return audit.finish()


def _check(data: bytes, public_key: str, fast: bool) -> Chunk:
    """Check whole lines (each ending with "\\n", but the file's last may be cut short)."""
    collecting = gc.isenabled()
    gc.disable()  # a record's objects die young: no cycles to find, ~10 % saved
    try:
        chunk = (check_records if fast else check_lines)(data, public_key)
    finally:
        if collecting:
            gc.enable()
    chunk.size = len(data)
    return chunk


def _check_range(path: str, start: int, end: int, public_key: str, fast: bool) -> Chunk:
    try:
        with open(path, "rb") as fp:
            fp.seek(start)
            data = fp.read(end - start)
    except OSError as e:
        raise BundleUnreadable(f"cannot read the bundle at byte {start}: {e}") from None
    return _check(data, public_key, fast)


# -- reading and dispatching chunks ----------------------------------------------


def _chunks(
    fp: IO[bytes], path: str | None, public_key: str, processes: int, chunk_bytes: int,
    fast: bool,
) -> Iterator[Chunk]:
    if processes <= 1:
        for data in _blocks(fp, chunk_bytes):
            yield _check(data, public_key, fast)
        return
    with ProcessPoolExecutor(processes, mp_context=_context()) as pool:
        if path is not None:
            tasks = (pool.submit(_check_range, path, start, end, public_key, fast)
                     for start, end in _ranges(fp, chunk_bytes))
        else:
            tasks = (pool.submit(_check, data, public_key, fast)
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
