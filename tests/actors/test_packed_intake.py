"""Frames reach the actors in either wire version with the same effect, and a packed
frame that is malformed is dead-lettered with its reason, never raised."""

from __future__ import annotations

import math
import struct

import msgspec
import pytest

from plumeline.actors import Derivation, FacilityConfig
from plumeline.events import (
    Frame,
    Manifest,
    SensorSpec,
    decode_wire,
    encode_wire,
    frame_lists,
    readings_subject,
)
from plumeline.simulator import Simulation

T0 = 1_767_225_600_000
SUBJECT = readings_subject("ccs-01", 1)


def _story(version: int) -> list[tuple[str, int, int, bytes]]:
    sim = Simulation(seed=5, facilities=2, sensors_per_facility=12, rate_hz=1.0, start_ms=T0)
    encode = encode_wire if version == 2 else msgspec.msgpack.encode
    messages = [encode_wire(m) for m in sim.manifests()]
    messages += [encode(f) for f in sim.frames(0, 900, 3)]
    return [(readings_subject(decode_wire(m).facility, 1), seq, T0 + 1000 * seq, m)
            for seq, m in enumerate(messages, 1)]


@pytest.mark.parametrize("batch", [1, 64])
def test_version_1_and_packed_frames_derive_the_same_events(batch):
    """What makes a ledger derived from version-1 frames replay the same today."""
    out = {}
    for version in (1, 2):
        d, events = Derivation(FacilityConfig()), []
        story = _story(version)
        for lo in range(0, len(story), batch):
            events += [e for x in d.derive_batch(story[lo:lo + batch]) for e in x.envelopes]
        out[version] = [msgspec.json.encode(e) for e in events]
        assert d.in_columns > 0  # the quiet frames were judged as columns
    assert out[1] == out[2] and len(out[1]) > 30


def _registered() -> Derivation:
    d = Derivation(FacilityConfig())
    manifest = Manifest("ccs-01", "Plant", "ccs", [SensorSpec("co2", "co2", "t/h", "emitted"),
                                                   SensorSpec("temp", "t", "C")])
    d.derive(SUBJECT, 1, T0, encode_wire(manifest))
    return d


def _packed(**columns) -> bytes:
    body = {"type": "frame.v2", "facility": "ccs-01", "names": ["co2", "temp"],
            "sensors": struct.pack("<2I", 0, 1), "times": struct.pack("<2q", T0, T0),
            "values": struct.pack("<2d", 1.0, 2.0)}
    return msgspec.msgpack.encode({**body, **columns})


@pytest.mark.parametrize(("change", "reason"), [
    ({"times": struct.pack("<2q", T0, T0)[:-3]}, "not a whole number of 8-byte readings"),
    ({"values": struct.pack("<d", 1.0)}, "frame columns differ in length"),
    ({"sensors": struct.pack("<2I", 0, 7)}, "sensor index 7 past the frame's table"),
    ({"times": struct.pack("<2q", T0, 2**62)}, f"time {2**62} outside"),
])
def test_a_malformed_packed_frame_is_dead_lettered_with_its_reason(change, reason):
    for batch in (False, True):
        d = _registered()
        data = _packed(**change)
        derived = (d.derive_batch([(SUBJECT, 2, T0, data)])[0] if batch
                   else d.derive(SUBJECT, 2, T0, data))
        why, payload = derived.deadletter
        assert why.startswith("malformed frame: ") and reason in why
        assert payload is None  # the message as it came
        assert [e.body.reasons for e in derived.envelopes] == [{"malformed frame": 1}]
        assert derived.counts == {"malformed": 1}
        # the facility goes on with the next frame
        assert d.derive(SUBJECT, 3, T0, _packed()).counts == {"frames": 1, "readings": 2}


def test_values_not_finite_in_a_packed_frame_are_refused_and_dead_lettered():
    d = _registered()
    frame = Frame("ccs-01", ["co2", "temp", "co2"], [T0, T0, T0 + 1], [math.nan, math.inf, 1.0])
    derived = d.derive(SUBJECT, 2, T0, encode_wire(frame))
    reason, payload = derived.deadletter
    assert reason == "value not finite"
    refused = frame_lists(decode_wire(payload))  # the refused readings, packed
    assert refused.sensors == ["co2", "temp"] and refused.times == [T0, T0]
    assert math.isnan(refused.values[0]) and refused.values[1] == math.inf
    assert derived.counts == {"frames": 1, "readings": 1, "rejected": 2}
