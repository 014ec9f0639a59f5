"""Snapshots of a partition's logical actors: the whole Derivation, at a READINGS seq.

A snapshot is the pickle of a Derivation's facilities (each FacilityActor with all it
holds: sensors and detectors, accounting windows and seal frontiers, the alert book,
the staleness watch, command state, whatever is added to it later) together with the
READINGS sequence it reflects. Pickling the objects whole, rather than a list of
fields, is the point: state added to an actor is in the next snapshot without anyone
remembering to add it here.

The price of pickle is that a snapshot is only good for the code that wrote it. So
the header names a format version and a hash of the source of `actors/` and
`events/`, the lane it was taken for and the FacilityConfig in force; any mismatch,
or any failure to load, makes the snapshot unusable, and the host rebuilds from the
partition's first message as it would without one. Snapshots are an optimisation,
never a source of truth: the ledger and READINGS are.

Layout: b"PLSNAP" · 4-byte big-endian header length · JSON header · pickle body.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass
from pathlib import Path

import msgspec

from plumeline import events
from plumeline.actors.columns import SensorColumns
from plumeline.actors.derivation import Derivation
from plumeline.actors.facility import FacilityConfig

__all__ = ["CODE_VERSION", "FORMAT", "Snapshot", "SnapshotUnusable", "restore", "take"]

FORMAT = 1
_MAGIC = b"PLSNAP"


def _code_version() -> str:
    """SHA-256 over the source of the packages whose classes a snapshot pickles."""
    h = hashlib.sha256()
    for package in (Path(__file__).parent, Path(events.__file__).parent):
        for path in sorted(package.glob("*.py")):
            h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


CODE_VERSION = _code_version()


class SnapshotUnusable(Exception):
    """A snapshot that cannot be restored here; the reason says why."""


class _Header(msgspec.Struct, frozen=True):
    format: int
    code: str
    lane: str
    seq: int
    time_ms: int
    facilities: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    seq: int  # the last READINGS sequence whose events the state reflects
    time_ms: int  # the stream time of that message
    derivation: Derivation


def take(derivation: Derivation, *, lane: str, seq: int, time_ms: int) -> bytes:
    """The snapshot of `derivation` after message `seq` of its lane."""
    derivation.settle()  # the objects, not the columns, are what is pickled
    header = msgspec.json.encode(_Header(FORMAT, CODE_VERSION, lane, seq, time_ms,
                                         len(derivation.facilities)))
    body = pickle.dumps((derivation.config, derivation.facilities),
                        protocol=pickle.HIGHEST_PROTOCOL)
    return _MAGIC + len(header).to_bytes(4, "big") + header + body


def restore(blob: bytes, *, lane: str, config: FacilityConfig,
            columns: SensorColumns | None = None) -> Snapshot:
    """The Derivation a snapshot holds, its rows to be taken in `columns` if given
    (the shard host's, shared by its lanes); SnapshotUnusable if it was written for
    another format, code, lane or configuration, or does not load."""
    if not blob.startswith(_MAGIC):
        raise SnapshotUnusable("not a Plumeline snapshot")
    try:
        n = int.from_bytes(blob[len(_MAGIC):len(_MAGIC) + 4], "big")
        start = len(_MAGIC) + 4
        header = msgspec.json.decode(blob[start:start + n], type=_Header)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise SnapshotUnusable(f"unreadable header: {exc}") from None
    if header.format != FORMAT:
        raise SnapshotUnusable(f"format {header.format}, this code reads {FORMAT}")
    if header.code != CODE_VERSION:
        raise SnapshotUnusable(f"written by code {header.code}, this is {CODE_VERSION}")
    if header.lane != lane:
        raise SnapshotUnusable(f"taken for {header.lane!r}, not {lane!r}")
    try:
        saved_config, facilities = pickle.loads(blob[start + n:])
    except Exception as exc:  # a truncated or foreign pickle fails in many ways
        raise SnapshotUnusable(f"does not load: {exc!r}") from None
    if saved_config != config:
        raise SnapshotUnusable("taken under another FacilityConfig")
    if len(facilities) != header.facilities:
        raise SnapshotUnusable("header and body disagree")
    derivation = Derivation(config, columns)
    derivation.facilities = facilities
    return Snapshot(header.seq, header.time_ms, derivation)
