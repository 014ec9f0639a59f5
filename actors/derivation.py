"""Derivation: from one READINGS message to the domain events it causes. No I/O.

This is the whole of what a shard host decides; the host only adds NATS around it
(consume, append to the ledger, acknowledge, dead-letter). Keeping it pure is what
lets `plumeline audit replay` re-run the actors over READINGS in one process, without
NATS consumers or Ray, and compare with the ledger: the same code, the same events.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from actors.facility import FacilityActor, FacilityConfig, Rejected
from events import (
    Causation,
    Envelope,
    Frame,
    Manifest,
    ReadingsRejected,
    decode_wire,
    encode_wire,
)

__all__ = ["CAUSE", "Derivation", "Derived"]

CAUSE = "readings"


@dataclass(slots=True)
class Derived:
    """The events of one message, and what a live host does besides appending them.

    `deadletter` is (reason, payload) when something was refused; payload None means
    the message as it came. `counts` feed the host's counters.
    """

    envelopes: list[Envelope]
    deadletter: tuple[str, bytes | None] | None = None
    counts: dict[str, int] = field(default_factory=dict)
    rejected: Rejected | None = None


class Derivation:
    """The facilities of some partitions, fed READINGS messages in stream order."""

    def __init__(self, config: FacilityConfig) -> None:
        self.config = config
        self.facilities: dict[str, FacilityActor] = {}

    def derive(self, subject: str, seq: int, arrived: int, data: bytes) -> Derived:
        """Message `seq` of READINGS on `subject`, stored at `arrived` (ms, the
        stream's timestamp, the same on every replay), applied to its facility."""
        facility_name = subject.split(".", 2)[-1]
        try:
            message = decode_wire(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            body = ReadingsRejected(facility=facility_name, count=0,
                                    reasons={"malformed frame": 1})
            return Derived(_wrap([(arrived, body)], seq), (f"malformed frame: {exc}", None),
                           {"malformed": 1})
        if message.facility != facility_name:
            reason = f"frame names facility {message.facility!r} on subject of {facility_name!r}"
            body = ReadingsRejected(facility=facility_name, count=0, reasons={reason: 1})
            return Derived(_wrap([(arrived, body)], seq), (reason, None))
        facility = self.facilities.get(facility_name)
        if facility is None:
            facility = self.facilities[facility_name] = FacilityActor(facility_name, self.config)
        rejected, counts = None, {}
        match message:
            case Manifest():
                caused = [(message.time or arrived, e) for e in facility.register(message)]
            case Frame():
                caused, rejected = facility.observe(message, arrived, seq)
                refused = len(rejected.reasons) if rejected else 0
                counts = {"frames": 1, "readings": len(message.values) - refused}
            case _:  # an operator's command, in order with the facility's frames
                caused = facility.command(message)
                counts = {"commands": 1}
        deadletter = None
        if rejected is not None:
            counts["rejected"] = len(rejected.reasons)
            refused_frame = Frame(facility=facility_name, sensors=rejected.sensors,
                                  times=rejected.times, values=rejected.values)
            deadletter = ("; ".join(sorted(set(rejected.reasons))), encode_wire(refused_frame))
            caused.append((arrived, ReadingsRejected(
                facility=facility_name, count=len(rejected.reasons), reasons=rejected.counts()
            )))
        return Derived(_wrap(caused, seq), deadletter, counts, rejected)


def _wrap(caused: list, seq: int) -> list[Envelope]:
    return [
        Envelope.wrap(event, time=t, causation=Causation(CAUSE, seq, i))
        for i, (t, event) in enumerate(caused)
    ]
