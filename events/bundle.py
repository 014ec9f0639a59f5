"""The export bundle: a ledger as one UTF-8 text file an auditor can carry away.

Line 1 is the header; then every record, each line exactly the record's canonical
bytes, in seq order; signed tree heads may stand on any line after the header. Every
line ends with "\\n". A record line is the Merkle leaf data itself, so a verifier
hashes the line as it reads it and never re-encodes anything (docs/ledger.md).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO

import msgspec

from plumeline.events.treehead import TreeHead

__all__ = [
    "BUNDLE_FORMAT",
    "BUNDLE_VERSION",
    "BundleHeader",
    "BundleLine",
    "BundleReader",
    "BundleUnreadable",
    "MalformedLine",
    "RecordLine",
    "TreeHeadLine",
    "read_bundle",
    "write_bundle",
]

BUNDLE_FORMAT = "plumeline-ledger"
BUNDLE_VERSION = 1
RECORD_PREFIX = b'{"event":'  # canonical records sort "event" before "prev" and "seq"
TREE_HEAD_PREFIX = b'{"tree_head":'


class BundleUnreadable(Exception):
    """The file cannot be read, or is not a Plumeline ledger bundle at all."""


class BundleHeader(msgspec.Struct, frozen=True):
    # Field order is the header's order on line 1.
    bundle: str
    version: int
    hash: str
    public_key: str


class _TreeHeadEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    tree_head: TreeHead


@dataclass(frozen=True, slots=True)
class RecordLine:
    number: int  # line number in the file, 1-based; the header is line 1
    data: bytes  # the record's canonical bytes, without the "\n"


@dataclass(frozen=True, slots=True)
class TreeHeadLine:
    number: int
    head: TreeHead


@dataclass(frozen=True, slots=True)
class MalformedLine:
    number: int
    reason: str


BundleLine = RecordLine | TreeHeadLine | MalformedLine

_encoder = msgspec.json.Encoder()
_header_decoder = msgspec.json.Decoder(BundleHeader)
_tree_head_decoder = msgspec.json.Decoder(_TreeHeadEntry)


def write_bundle(
    fp: IO[bytes] | IO[str],
    public_key_hex: str,
    records: Iterable[bytes],
    tree_heads: Iterable[TreeHead],
) -> int:
    """Write header, records (canonical bytes, in seq order), then tree heads.
    Returns the number of records written."""
    text = isinstance(fp, io.TextIOBase)

    def emit(line: bytes) -> None:
        fp.write(line.decode() + "\n" if text else line + b"\n")  # type: ignore[arg-type]

    emit(_encoder.encode(BundleHeader(BUNDLE_FORMAT, BUNDLE_VERSION, "sha256", public_key_hex)))
    count = 0
    for data in records:
        if not data.startswith(RECORD_PREFIX) or b"\n" in data:
            raise ValueError(f"record {count + 1} is not a canonical record (one JSON line)")
        emit(data)
        count += 1
    for head in tree_heads:
        emit(_encoder.encode(_TreeHeadEntry(head)))
    return count


class BundleReader:
    """The header, read on construction, then the remaining lines on iteration."""

    def __init__(self, fp: IO[bytes] | IO[str]) -> None:
        self._lines = _byte_lines(fp)
        try:
            first = next(self._lines, b"")
        except (OSError, UnicodeError) as e:
            raise BundleUnreadable(f"cannot read the bundle: {e}") from e
        try:
            header = _header_decoder.decode(first.rstrip(b"\n"))
        except msgspec.DecodeError as e:
            raise BundleUnreadable(f"line 1 is not a bundle header: {e}") from e
        if header.bundle != BUNDLE_FORMAT:
            raise BundleUnreadable(f"not a Plumeline ledger bundle: {header.bundle!r}")
        if header.version != BUNDLE_VERSION or header.hash != "sha256":
            raise BundleUnreadable(
                f"unsupported bundle version {header.version} with hash {header.hash!r}"
            )
        if not _is_hex(header.public_key, 64):
            raise BundleUnreadable("the header's public_key is not 64 lowercase hex digits")
        self.header = header

    def __iter__(self) -> Iterator[BundleLine]:
        number = 1
        try:
            for line in self._lines:
                number += 1
                yield _classify(number, line)
        except (OSError, UnicodeError) as e:
            raise BundleUnreadable(f"cannot read line {number + 1} of the bundle: {e}") from e


def read_bundle(fp: IO[bytes] | IO[str]) -> BundleReader:
    """Open a bundle for reading; raises BundleUnreadable if it has no valid header."""
    return BundleReader(fp)


def _classify(number: int, line: bytes) -> BundleLine:
    if not line.endswith(b"\n"):
        return MalformedLine(number, "the file ends inside this line: the bundle is truncated")
    data = line[:-1]
    if data.startswith(RECORD_PREFIX):
        return RecordLine(number, data)
    if data.startswith(TREE_HEAD_PREFIX):
        try:
            return TreeHeadLine(number, _tree_head_decoder.decode(data).tree_head)
        except msgspec.DecodeError as e:
            return MalformedLine(number, f"not a valid tree head: {e}")
    return MalformedLine(number, "neither a record nor a tree head")


def _byte_lines(fp: IO[bytes] | IO[str]) -> Iterator[bytes]:
    if isinstance(fp, io.TextIOBase):
        return (line.encode() for line in fp)
    return iter(fp)  # type: ignore[arg-type]


def _is_hex(value: str, digits: int) -> bool:
    return len(value) == digits and all(c in "0123456789abcdef" for c in value)
