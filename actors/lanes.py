"""What a shard host's lanes read: their subjects, and whose messages those are.

A lane is one durable consumer on READINGS: a whole partition, or one facility pinned
to a host of its own (docs/architecture.md, "Pinned facilities"). A facility's
messages come on two subjects, its readings subject and its command subject
(`events/wire.py`); a lane reads both, in the stream's one order.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

from plumeline.events import partition_of, subject_facility

__all__ = ["Lane", "facility_of", "lanes", "wrong_partition"]


@dataclass(frozen=True, slots=True)
class Lane:
    """What one durable consumer reads: a whole partition, or the subjects of one
    facility pinned to a host of its own (`readings.<partition>.<facility>`, and its
    commands' `readings.<partition>.<facility>.command`)."""

    partition: int
    facility: str | None = None

    @property
    def durable(self) -> str:
        if self.facility is None:
            return f"shard-p{self.partition}"
        # durable names allow no '.', '*', '>' or blanks; the crc keeps them apart
        token = re.sub(r"[^A-Za-z0-9_-]", "_", self.facility)[:64]
        return f"pin-p{self.partition}-{token}-{zlib.crc32(self.facility.encode()):08x}"

    @property
    def subjects(self) -> list[str]:
        if self.facility is None:
            return [f"readings.{self.partition}.>"]
        own = f"readings.{self.partition}.{self.facility}"
        return [own, own + ".command"]


def lanes(partitions: int, pinned=()) -> list[Lane]:
    """Every lane of a deployment: one a partition, and one each pinned facility."""
    return [Lane(p) for p in range(partitions)] + [
        Lane(partition_of(f, partitions), f) for f in pinned]


def facility_of(subject: str) -> str:
    """The facility a READINGS subject is of (what follows the partition, for a
    subject that is not one of a facility's two)."""
    found = subject_facility(subject)
    return found[0] if found is not None else subject.split(".", 2)[-1]


def wrong_partition(subject: str, partition_count: int | None) -> str | None:
    """Why a message may not be derived on `subject`, or None. A publisher on the
    wrong partition's subject (a device granted readings.>, say) would otherwise
    reach a host that does not own its facility, which would then have two actors
    deciding apart. `partition_count` None: the subject is trusted."""
    if partition_count is None or subject_facility(subject) is None:
        return None  # a subject that carries nothing: the derivation refuses it
    _, number, facility = subject.split(".")[:3]
    wanted = partition_of(facility, partition_count)
    if number != str(wanted):
        return (f"subject {subject} is partition {number}, but facility {facility!r} "
                f"belongs to partition {wanted}")
    return None
