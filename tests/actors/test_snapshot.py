"""Snapshots restore the whole state of a partition's actors: the events derived after
a restore are exactly those of an uninterrupted derivation (no NATS, no Ray)."""

from __future__ import annotations

import msgspec
import pytest

from plumeline.actors import Derivation, FacilityConfig, SnapshotUnusable
from plumeline.actors import snapshot as snapshots
from plumeline.events import encode_wire, readings_subject
from plumeline.simulator import Simulation

T0 = 1_767_225_600_000
_canonical = msgspec.json.Encoder(order="sorted")


def _messages(steps: int = 900) -> list[tuple[str, int, int, bytes]]:
    """(subject, seq, arrived, data): 3 facilities with anomalies, past an hour of
    event time so that accounting windows close and seal."""
    sim = Simulation(seed=5, facilities=3, sensors_per_facility=12, rate_hz=1 / 5,
                     start_ms=T0, anomalies=True)
    messages = [(m, T0) for m in sim.manifests()]
    messages += [(f, max(f.times)) for f in sim.frames(0, steps, 1)]
    return [(readings_subject(m.facility, 4), i + 1, arrived, encode_wire(m))
            for i, (m, arrived) in enumerate(messages)]


def _derive(derivation: Derivation, messages) -> list[bytes]:
    out = []
    for subject, seq, arrived, data in messages:
        out += [_canonical.encode(e) for e in derivation.derive(subject, seq, arrived, data).envelopes]
    return out


@pytest.fixture(scope="module")
def story():
    messages = _messages()
    return messages, _derive(Derivation(FacilityConfig()), messages)


@pytest.mark.parametrize("cut", [1, 400, 1700])
def test_events_after_a_restore_are_those_of_an_uninterrupted_derivation(story, cut):
    messages, uninterrupted = story
    before = Derivation(FacilityConfig())
    head = _derive(before, messages[:cut])
    blob = snapshots.take(before, lane="shard-p0", seq=cut, time_ms=messages[cut - 1][2])
    restored = snapshots.restore(blob, lane="shard-p0", config=FacilityConfig())
    assert restored.seq == cut
    tail = _derive(restored.derivation, messages[cut:])
    assert head + tail == uninterrupted
    kinds = {msgspec.json.decode(e)["body"]["type"] for e in tail}
    # the hour's windows close, and alerts are raised and cleared, after every cut
    assert {"emissions.measured", "readings.sealed", "alert.raised", "alert.cleared"} <= kinds


def test_state_added_to_a_facility_is_in_the_snapshot(story):
    """Whole objects are pickled, so state a FacilityActor gains later is kept
    without a field list to update."""
    messages, _ = story
    derivation = Derivation(FacilityConfig())
    _derive(derivation, messages[:50])
    facility = next(iter(derivation.facilities.values()))
    facility.outcomes = {"rec-1": ("approved", "ana")}
    blob = snapshots.take(derivation, lane="l", seq=50, time_ms=0)
    back = snapshots.restore(blob, lane="l", config=FacilityConfig()).derivation
    assert back.facilities[facility.facility].outcomes == {"rec-1": ("approved", "ana")}


@pytest.mark.parametrize("spoil, reason", [
    (lambda b: b.replace(snapshots.CODE_VERSION.encode(), b"0" * 16), "written by code"),
    (lambda b: b.replace(b'"format":1', b'"format":9'), "format 9"),
    (lambda b: b[:-40], "does not load"),
    (lambda b: b"junk" + b, "not a Plumeline snapshot"),
    (lambda b: b[:6] + b"\x00\x00\x00\x05" + b[10:], "unreadable header"),
])
def test_a_snapshot_that_does_not_fit_is_unusable_with_a_reason(story, spoil, reason):
    derivation = Derivation(FacilityConfig())
    _derive(derivation, story[0][:20])
    blob = spoil(snapshots.take(derivation, lane="l", seq=20, time_ms=0))
    with pytest.raises(SnapshotUnusable, match=reason):
        snapshots.restore(blob, lane="l", config=FacilityConfig())


def test_another_lane_or_configuration_is_unusable(story):
    derivation = Derivation(FacilityConfig())
    _derive(derivation, story[0][:20])
    blob = snapshots.take(derivation, lane="shard-p0", seq=20, time_ms=0)
    with pytest.raises(SnapshotUnusable, match="taken for 'shard-p0'"):
        snapshots.restore(blob, lane="shard-p1", config=FacilityConfig())
    with pytest.raises(SnapshotUnusable, match="FacilityConfig"):
        snapshots.restore(blob, lane="shard-p0", config=FacilityConfig(window_ms=60_000))
