"""`plumeline audit reading`: prove that one reading is in its facility's sealed window.

The auditor's route from a number on a report back to the device: find the reading
in READINGS, rebuild the leaves of its window (docs/ledger.md §8: one per message, the
message's readings accepted in the window, or its bytes and their positions for a
window of frame leaves) by running the facility's derivation over its messages, show
that the reading is in its message's leaf, and check the RFC 6962
inclusion proof of that leaf against the root and tree size that the ledger's
`readings.sealed` record holds, not against a root computed here.
"""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from plumeline.actors import Derivation, FacilityConfig
from plumeline.events import (
    FRAMES,
    MerkleTree,
    PackedFrame,
    ReadingsSealed,
    RootMismatch,
    SealedReadings,
    decode_wire,
    frame_lists,
    leaf_hash,
    readings_leaf,
    verify_inclusion,
)
from plumeline.events.frame_seal import decode_frame_leaf, frame_leaf, holds
from plumeline.infra.runtime.data_dir import nats_of
from plumeline.infra.runtime.errors import ExitStatus, UserError
from plumeline.infra.runtime.nats import connect
from plumeline.infra.runtime.streams import ledger_records, messages

__all__ = ["ReadingProof", "parse_time", "prove_reading", "reading"]


@dataclass(frozen=True, slots=True)
class _Accepted:
    sensor: str
    time: int
    value: float
    seq: int
    position: int  # in its frame, as published
    packed: bool = False  # its message a packed frame: in a frame leaf, if its window has them


@dataclass(slots=True)
class ReadingProof:
    reading: _Accepted
    leaf: bytes  # the data of the leaf of the reading's message in the window
    entry: int  # the reading's place among the leaf's readings (its position, for a frame leaf)
    index: int  # the leaf's index in the window's tree
    leaves: int
    readings: int  # in the window, all leaves together
    window: tuple[int, int]
    path: list[bytes]
    root: bytes  # recomputed from READINGS
    event_id: str  # the readings.sealed event that should hold the root
    record_seq: int | None = None  # where the ledger holds it
    sealed: ReadingsSealed | None = None  # what the ledger holds
    message: bytes = b""  # the reading's READINGS message, the evidence of a frame leaf

    @property
    def leaf_hash(self) -> bytes:
        return leaf_hash(self.leaf)

    @property
    def framed(self) -> bool:
        """A frame leaf (docs/ledger.md §8), not a readings leaf: the record says its
        window has frame leaves, and the reading's message is a packed frame."""
        return self.sealed is not None and self.sealed.leaf == "frame" and self.reading.packed

    def in_leaf(self) -> bool:
        """The leaf's bytes hold the reading, at `entry`, under its facility and message:
        written out in a readings leaf; for a frame leaf, the message's bytes hash to
        the leaf's, the leaf takes position `entry`, and the frame has the reading there."""
        r = self.reading
        if self.framed:
            return holds(self.leaf, self.message, r.seq, self.entry) \
                and _in_frame(self.message, self.entry) == (r.sensor, r.time, r.value)
        held = _leaf_decoder.decode(self.leaf)
        return (held.seq == r.seq and self.entry < len(held.readings)
                and held.readings[self.entry] == (r.sensor, r.time, r.value))

    def verified(self) -> bool:
        s = self.sealed
        if s is None or (s.leaves, s.count) != (self.leaves, self.readings):
            return False
        try:
            held = decode_frame_leaf(self.leaf) if self.framed else \
                _leaf_decoder.decode(self.leaf)
        except msgspec.ValidationError:  # a leaf of the other kind
            return False
        if s.facility != held.facility or not self.in_leaf():
            return False
        try:
            verify_inclusion(self.leaf_hash, self.index, s.leaves, self.path,
                             bytes.fromhex(s.root))
        except (RootMismatch, ValueError):
            return False
        return True


_leaf_decoder = msgspec.json.Decoder(SealedReadings)


def _in_frame(message: bytes, position: int) -> tuple[str, int, float] | None:
    """The reading at `position` of the frame `message`, decoded as READINGS' consumers
    decode it; None if there is none."""
    frame = decode_wire(message)
    if not isinstance(frame, FRAMES):
        return None
    frame = frame_lists(frame)
    if not 0 <= position < len(frame.times):
        return None
    return frame.sensors[position], frame.times[position], float(frame.values[position])


def parse_time(text: str) -> int:
    """Epoch milliseconds, or ISO-8601 (UTC when no offset is given)."""
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(f"--at {text!r} is neither epoch milliseconds nor ISO-8601") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


def _accepted(data: bytes, seq: int, derived) -> list[_Accepted]:
    """The readings of a frame the facility accepted, in the order it took them: by
    time, ties in frame order (FacilityActor.observe), less the refused ones."""
    frame = decode_wire(data)
    if not isinstance(frame, FRAMES):
        return []
    packed = isinstance(frame, PackedFrame)
    frame = frame_lists(frame)
    taken = sorted(zip(frame.sensors, frame.times, frame.values, range(len(frame.times))),
                   key=lambda r: r[1])
    refused = derived.rejected
    bad = list(zip(refused.sensors, refused.times, refused.values)) if refused else []
    out, j = [], 0
    for r in taken:
        if j < len(bad) and (r[0], r[1], r[2]) == bad[j]:
            j += 1
            continue
        out.append(_Accepted(r[0], r[1], r[2], seq, r[3], packed))
    return out


async def prove_reading(url: str, facility: str, sensor: str, at: int,
                        config: FacilityConfig) -> ReadingProof | None:
    """The proof for `sensor`'s reading at `at`, or None if no sealed window holds it."""
    nc = await connect(url, name="audit-reading")
    try:
        js = nc.jetstream()
        proof, sealed = None, False
        derivation, window, bytes_of = Derivation(config), [], {}
        # the facility's frames and its commands, in their one order, as its lane reads them
        async with aclosing(messages(js, [f"readings.*.{facility}",
                                          f"readings.*.{facility}.command"])) as stream:
            async for m in stream:
                derived = derivation.derive(m.subject, m.seq, m.arrived, m.data)
                if derived.counts.get("frames"):
                    window += _accepted(m.data, m.seq, derived)
                    bytes_of[m.seq] = m.data
                for e in derived.envelopes:
                    if not isinstance(s := e.body, ReadingsSealed):
                        continue
                    if sealed := s.window_start <= at < s.window_end:
                        proof = _prove(window, s, sensor, at, e.id, bytes_of)
                        break
                    window = [r for r in window if r.time >= s.window_end]
                    bytes_of = {r.seq: bytes_of[r.seq] for r in window}
                if sealed:
                    break
        if proof is None:
            return None
        async with aclosing(ledger_records(js)) as records:
            async for _, record in records:
                if record.event.id == proof.event_id:
                    proof.record_seq, proof.sealed = record.seq, record.event.body
                    break
        return proof
    finally:
        await nc.close()


def _prove(window: list[_Accepted], sealed: ReadingsSealed, sensor: str, at: int,
           event_id: str, bytes_of: dict[int, bytes]) -> ReadingProof | None:
    """The proof from the window's leaves, rebuilt: readings leaves when `sealed.leaf`
    is absent; when it is "frame", each message's of the kind its format gives, a
    frame leaf for a packed frame and a readings leaf for a version-1 one."""
    inside = [r for r in window if sealed.window_start <= r.time < sealed.window_end]
    # the leaves: a message's readings in the window are accepted one after another
    messages: list[list[_Accepted]] = []
    for r in inside:
        if messages and messages[-1][0].seq == r.seq:
            messages[-1].append(r)
        else:
            messages.append([r])
    found = [(i, j) for i, m in enumerate(messages) for j, r in enumerate(m)
             if r.sensor == sensor and r.time == at]
    if not found:
        return None
    framed = sealed.leaf == "frame"
    tree, leaves = MerkleTree(), []
    for m in messages:
        if framed and m[0].packed:
            leaves.append(frame_leaf(sealed.facility, m[0].seq, bytes_of[m[0].seq],
                                     sorted(r.position for r in m)))
        else:
            leaves.append(readings_leaf(sealed.facility, m[0].seq,
                                        [(r.sensor, r.time, r.value) for r in m]))
        tree.append(leaf_hash(leaves[-1]))
    i, j = found[0]
    reading = messages[i][j]
    framed = framed and reading.packed
    return ReadingProof(
        reading=reading, leaf=leaves[i], entry=reading.position if framed else j, index=i,
        leaves=tree.size, readings=len(inside),
        window=(sealed.window_start, sealed.window_end),
        path=tree.inclusion_proof(i, tree.size), root=tree.root(), event_id=event_id,
        message=bytes_of[reading.seq] if framed else b"",
    )


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def reading(data_dir: Path, facility: str, sensor: str, at: str,
            config: FacilityConfig | None = None) -> int:
    when = parse_time(at)
    with nats_of(data_dir) as url:
        proof = asyncio.run(prove_reading(url, facility, sensor, when,
                                          config or FacilityConfig()))
    if proof is None:
        print(f"not found: no reading of {facility}/{sensor} at {_iso(when)} ({when}) in a "
              f"sealed window")
        return ExitStatus.ERROR
    r = proof.reading
    print(f"reading  {facility}/{sensor} at {_iso(r.time)} ({r.time}) = {r.value!r}, "
          f"READINGS message {r.seq}")
    if proof.framed:
        runs = decode_frame_leaf(proof.leaf).positions
        print(f"leaf     message {r.seq}'s bytes ({len(proof.message)}, SHA-256 in the leaf) "
              f"and the positions taken in the window {msgspec.json.encode(runs).decode()}; "
              f"the reading is at position {proof.entry}")
    else:
        held = _leaf_decoder.decode(proof.leaf).readings
        print(f"leaf     message {r.seq}'s {len(held)} readings in the window "
              f"({len(proof.leaf)} bytes of canonical JSON); the reading is entry "
              f"{proof.entry}: {msgspec.json.encode(held[proof.entry]).decode()}")
    print(f"window   {_iso(proof.window[0])} .. {_iso(proof.window[1])}: leaf {proof.index} "
          f"of {proof.leaves} ({proof.readings} readings), leaf hash {proof.leaf_hash.hex()}")
    print("path     " + ("\n         ".join(h.hex() for h in proof.path) or "(none)"))
    print(f"root     {proof.root.hex()} (recomputed from READINGS)")
    if proof.sealed is None:
        print(f"FAILED: the ledger holds no record of event {proof.event_id}")
        return ExitStatus.TAMPERED
    print(f"ledger   record {proof.record_seq}, event {proof.event_id}: readings.sealed "
          f"root {proof.sealed.root}, {proof.sealed.leaves} leaves, "
          f"{proof.sealed.count} readings")
    if not proof.verified():
        print("FAILED: the inclusion proof does not lead to the sealed root")
        return ExitStatus.TAMPERED
    print("ok: the reading is in the window the ledger sealed")
    return ExitStatus.OK
