"""`plumeline audit replay`: re-run the actors over READINGS and compare with LEDGER.

DESIGN.md property 2: replaying READINGS from the start reproduces the ledger's
domain events exactly. The replay runs the very derivation a shard host runs
(`actors.Derivation`), in this process, in a scratch space: no consumers, no Ray, no
appends. Events are compared facility by facility, in order, as whole canonical
envelopes (id, type, time, causation, body): the ledger promises the order of each
facility's events, while the interleaving of facilities depends on which shard host
appended first.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import msgspec
import nats

from plumeline.actors import Derivation, FacilityConfig
from plumeline.actors.lanes import wrong_partition
from plumeline.events import Envelope
from plumeline.infra.runtime.data_dir import nats_of
from plumeline.infra.runtime.errors import ExitStatus
from plumeline.infra.runtime.nats import LEDGER, READINGS, connect, recorded_partitions
from plumeline.infra.runtime.progress import Progress
from plumeline.infra.runtime.streams import ledger_records, messages

__all__ = ["Difference", "replay", "replay_differences"]

_canonical = msgspec.json.Encoder(order="sorted")


@dataclass(frozen=True, slots=True)
class Difference:
    facility: str
    position: int  # 0-based, among the facility's events
    ledger: Envelope | None
    replayed: Envelope | None

    def __str__(self) -> str:
        def show(e: Envelope | None) -> str:
            return "nothing" if e is None else _canonical.encode(e).decode()[:400]

        return (f"{self.facility} event #{self.position + 1}:\n"
                f"  ledger:   {show(self.ledger)}\n  replayed: {show(self.replayed)}")


async def replay_differences(url: str, config: FacilityConfig,
                             limit: int = 10) -> tuple[int, list[Difference]]:
    """(events compared, the first `limit` differences) for the NATS at `url`."""
    nc = await connect(url, name="audit-replay")
    try:
        js = nc.jetstream()
        derivation = Derivation(config)
        replayed: dict[str, list[Envelope]] = defaultdict(list)
        last = await _last_seq(js, READINGS)
        # a frame on another facility's partition was dead-lettered live, deriving
        # nothing; without the count recorded, every subject is trusted, as it was
        partitions = await recorded_partitions(js)
        with Progress("audit replay: READINGS", last, unit="messages") as progress:
            async for m in messages(js, "readings.>"):
                if wrong_partition(m.subject, partitions) is None:
                    derived = derivation.derive(m.subject, m.seq, m.arrived, m.data)
                    for e in derived.envelopes:
                        replayed[e.facility].append(e)
                progress.update(m.seq, items=progress.items + 1)
        ledger: dict[str, list[Envelope]] = defaultdict(list)
        with Progress("audit replay: LEDGER", await _last_seq(js, LEDGER)) as progress:
            async for _, record in ledger_records(js):
                ledger[record.event.facility].append(record.event)
                progress.update(record.seq)
    finally:
        await nc.close()
    differences, compared = [], 0
    for facility in sorted(set(replayed) | set(ledger)):
        ours, theirs = replayed[facility], ledger[facility]
        for i in range(max(len(ours), len(theirs))):
            mine = ours[i] if i < len(ours) else None
            kept = theirs[i] if i < len(theirs) else None
            compared += 1
            if mine is None or kept is None or _canonical.encode(mine) != _canonical.encode(kept):
                differences.append(Difference(facility, i, kept, mine))
                break  # after the first difference the rest of a facility is noise
        if len(differences) >= limit:
            break
    return compared, differences


async def _last_seq(js, stream: str) -> int:
    """The stream's last sequence number, for the progress line; 0 when unknown."""
    try:
        return (await js.stream_info(stream)).state.last_seq
    except nats.js.errors.NotFoundError:
        return 0


def replay(data_dir: Path, config: FacilityConfig | None = None) -> int:
    with nats_of(data_dir) as url:
        compared, differences = asyncio.run(replay_differences(url, config or FacilityConfig()))
    if not differences:
        print(f"ok: replaying READINGS reproduces the ledger's {compared} events")
        return ExitStatus.OK
    print(f"DIFFERENT: replaying READINGS does not reproduce the ledger "
          f"({len(differences)} facilities differ; the first difference of each):")
    for d in differences:
        print(d)
    return ExitStatus.TAMPERED
