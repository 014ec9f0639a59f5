"""CarbonBalance: a facility as an accounting unit, window by window of event time.

Flows are integrated sample-and-hold: a reading's value (t/h) holds from its time
until the same sensor's next reading, but for at most `hold_max_ms` — a sensor that
fell silent is not assumed to keep flowing for ever. A held value that runs past the
end of a window is split at the boundary, so each window gets the tonnes of its own
time. Sample-and-hold rather than trapezoid because a window must close when event
time crosses its end, before the next reading of every sensor is known.

A window closes when the first reading at or after its end is accepted; windows in
which nothing was accepted are not recorded. Readings stamped before the open window
are refused by the facility (they would belong to a window already sealed).
"""

from __future__ import annotations

import msgspec

from plumeline.events import EmissionsMeasured, Event, ReadingsSealed, SealFrontier, readings_leaf
from plumeline.events.frame_seal import frame_leaf

__all__ = ["FLOW_ROLES", "CarbonBalance"]

FLOW_ROLES = ("emitted", "captured", "stored", "vented")
_MS_PER_HOUR = 3_600_000


class _Held(msgspec.Struct):
    role: str
    since: int  # integrated up to here
    until: int  # the value holds until here at most
    value: float


class CarbonBalance(msgspec.Struct):
    """One facility's open window. A msgspec Struct so that a snapshot is its bytes."""

    facility: str
    window_ms: int
    hold_max_ms: int
    start: int = -1  # the open window is [start, start + window_ms); -1: none yet
    tonnes: dict[str, float] = msgspec.field(default_factory=dict)
    flow_readings: int = 0
    flow_seqs: tuple[int, int] = (0, 0)
    seal: SealFrontier = msgspec.field(default_factory=SealFrontier)
    seal_seqs: tuple[int, int] = (0, 0)
    held: dict[str, _Held] = msgspec.field(default_factory=dict)
    sealed_readings: int = 0  # in the seal's leaves, which are one per message
    framed: bool = False  # a frame leaf among them: the record says "leaf":"frame"

    @property
    def end(self) -> int:
        return self.start + self.window_ms

    def advance(self, time: int) -> list[tuple[int, Event]]:
        """Close the open window if `time` lies past it; (event time, event) out."""
        if self.start < 0:
            self.start = time - time % self.window_ms
            return []
        if time < self.end:
            return []
        closed = self._close()
        self.start = time - time % self.window_ms
        for held in self.held.values():  # windows skipped for want of readings keep none
            held.since = max(held.since, self.start)
        return closed

    def add(self, sensor: str, role: str, time: int, value: float, seq: int) -> None:
        """One accepted reading, at a time inside the open window, sealed as the only
        reading of message `seq` (what a frame of one reading gives)."""
        self.seal_readings([(sensor, time, value)], seq)
        if role in FLOW_ROLES:
            self.add_flow(sensor, role, time, value, seq)

    def seal_readings(self, readings: list[tuple[str, int, float]], seq: int) -> None:
        """The seal's part of `add` for all the readings (sensor, time, value) of
        message `seq` accepted inside the open window, in the order they were accepted:
        one leaf (docs/ledger.md §8), so called once per message and window."""
        if readings:
            self.seal.append(readings_leaf(self.facility, seq, readings))
            self.sealed_readings += len(readings)
            self.seal_seqs = _span(self.seal_seqs, seq)

    def seal_frame(self, message: bytes, positions: list[tuple[int, int]], seq: int) -> None:
        """`seal_readings` for a packed frame: the leaf of message `seq` (its bytes as
        READINGS holds them) is a frame leaf, naming the readings the window took by
        their positions in the frame, as runs [start, stop) (docs/ledger.md §8)."""
        if positions:
            self.seal.append(frame_leaf(self.facility, seq, message, positions))
            self.sealed_readings += sum(stop - start for start, stop in positions)
            self.seal_seqs = _span(self.seal_seqs, seq)
            self.framed = True

    def add_flow(self, sensor: str, role: str, time: int, value: float, seq: int) -> None:
        """The balance's part of `add`, for a reading of a flow (`role` in FLOW_ROLES)."""
        held = self.held.get(sensor)
        if held is None:
            self.held[sensor] = _Held(role, time, time + self.hold_max_ms, value)
        else:
            self._integrate(held, time)
            held.role, held.since, held.until, held.value = (
                role, time, time + self.hold_max_ms, value)
        self.flow_readings += 1
        self.flow_seqs = _span(self.flow_seqs, seq)

    def _integrate(self, held: _Held, upto: int) -> None:
        stop = min(upto, held.until, self.end)
        if stop > held.since:
            t = held.value * (stop - held.since) / _MS_PER_HOUR
            self.tonnes[held.role] = self.tonnes.get(held.role, 0.0) + t
        held.since = max(held.since, stop)

    def _close(self) -> list[tuple[int, Event]]:
        for held in self.held.values():
            self._integrate(held, self.end)
            held.since = max(held.since, self.end)  # the rest belongs to later windows
        self.held = {s: h for s, h in self.held.items() if h.until > self.end}
        out: list[tuple[int, Event]] = []
        if self.flow_readings or self.tonnes:
            raw = {role: self.tonnes.get(role, 0.0) for role in FLOW_ROLES}
            efficiency = raw["captured"] / raw["emitted"] if raw["emitted"] > 0 else 0.0
            t = {role: round(tonnes, 6) for role, tonnes in raw.items()}  # to the gram
            out.append((self.end, EmissionsMeasured(
                facility=self.facility, window_start=self.start, window_end=self.end,
                emitted_t=t["emitted"], captured_t=t["captured"], stored_t=t["stored"],
                vented_t=t["vented"], capture_efficiency=round(efficiency, 6),
                readings=self.flow_readings, first_seq=self.flow_seqs[0],
                last_seq=self.flow_seqs[1],
            )))
        if self.seal.size:
            out.append((self.end, ReadingsSealed(
                facility=self.facility, window_start=self.start, window_end=self.end,
                root=self.seal.root().hex(), count=self.sealed_readings,
                first_seq=self.seal_seqs[0], last_seq=self.seal_seqs[1],
                leaves=self.seal.size, leaf="frame" if self.framed else "",
            )))
        self.tonnes, self.flow_readings, self.flow_seqs = {}, 0, (0, 0)
        self.seal, self.seal_seqs, self.sealed_readings = SealFrontier(), (0, 0), 0
        self.framed = False
        return out


def _span(seqs: tuple[int, int], seq: int) -> tuple[int, int]:
    return (seqs[0] or seq, seq)
