"""`plumeline audit reading`: a reading, its inclusion proof, the ledger record of the root."""

from __future__ import annotations

import asyncio

import msgspec

from plumeline.events import SealedReadings, readings_leaf
from plumeline.events.frame_seal import decode_frame_leaf
from plumeline.infra.cli.audit_reading import ReadingProof, parse_time, prove_reading
from plumeline.infra.runtime.data_dir import nats_of

T0 = 1_767_225_600_000


def test_a_sealed_reading_is_proven_against_the_ledgers_root(cli, pipeline, story, tmp_path):
    pipeline(story("ccs-01", 300))  # packed frames: frame leaves
    status, out = cli("audit", "reading", "--facility", "ccs-01", "--sensor", "flue_co2",
                      "--at", "2026-01-01T00:30:00Z", "--data-dir", str(tmp_path))
    assert status == 0, out
    assert "reading  ccs-01/flue_co2 at 2026-01-01T00:30:00.000+00:00" in out
    assert "= 400.0" in out and "readings.sealed" in out and out.endswith("sealed\n")
    assert "the positions taken in the window [[0,5]]; the reading is at position 0\n" in out
    # the second hour, by epoch ms; the vent sensor was silent then and has no reading
    at = str(T0 + 130 * 30_000)
    assert cli("audit", "reading", "--facility", "ccs-01", "--sensor", "flue_co2", "--at", at,
               "--data-dir", str(tmp_path))[0] == 0
    status, out = cli("audit", "reading", "--facility", "ccs-01", "--sensor", "co2_vented",
                      "--at", at, "--data-dir", str(tmp_path))
    assert status == 2 and out.startswith("not found")


def test_a_reading_of_version_1_frames_is_proven_by_its_readings_leaf(cli, pipeline,
                                                                      old_story, tmp_path):
    pipeline(old_story("ccs-01", 300))
    status, out = cli("audit", "reading", "--facility", "ccs-01", "--sensor", "flue_co2",
                      "--at", "2026-01-01T00:30:00Z", "--data-dir", str(tmp_path))
    assert status == 0, out
    assert '; the reading is entry 0: ["flue_co2",1767227400000,400.0]\n' in out


def _prove(url, sensor, at):
    from plumeline.actors import FacilityConfig

    return asyncio.run(prove_reading(url, "ccs-01", sensor, at, FacilityConfig()))


def test_a_window_of_both_frame_versions_proves_each_reading_by_its_own_leaf(
        pipeline, story, old_story, tmp_path):
    """Version-1 frames for the first 50 minutes, packed ones after (a deployment
    upgraded mid-hour): the hour's record says "leaf":"frame", the version-1 messages
    have readings leaves in it, the packed ones frame leaves, and a reading of either
    is proven against the ledger's root."""
    pipeline(old_story("ccs-01", 150)[:101] + story("ccs-01", 150)[101:])
    with nats_of(tmp_path) as url:
        early: ReadingProof = _prove(url, "solvent_temp", T0 + 600_000)
        late: ReadingProof = _prove(url, "solvent_temp", T0 + 3_300_000)
    assert early.sealed == late.sealed and early.sealed.leaf == "frame"
    assert early.verified() and not early.framed
    assert msgspec.json.decode(early.leaf, type=SealedReadings).seq == early.reading.seq
    assert late.verified() and late.framed and early.index < late.index
    held = decode_frame_leaf(late.leaf)
    assert held.positions == [(0, 5)] and late.message and late.entry == 4
    # a frame leaf's record read as one of readings leaves only is no proof
    late.sealed = msgspec.structs.replace(late.sealed, leaf="")
    assert not late.verified()


def test_a_reading_of_a_window_not_yet_sealed_is_not_found(cli, pipeline, story, tmp_path):
    pipeline(story("ccs-01", 300))  # 2.5 h: the third hour is still open
    status, out = cli("audit", "reading", "--facility", "ccs-01", "--sensor", "flue_co2",
                      "--at", str(T0 + 2 * 3_600_000), "--data-dir", str(tmp_path))
    assert status == 2, out


def test_a_root_other_than_the_sealed_one_fails_the_proof(pipeline, old_story, tmp_path):
    pipeline(old_story("ccs-01", 150))
    with nats_of(tmp_path) as url:
        proof: ReadingProof = _prove(url, "solvent_temp", T0 + 600_000)
    assert proof.verified() and proof.root.hex() == proof.sealed.root
    # the reading's message's leaf, a leaf of several messages' readings
    s = proof.sealed
    held = msgspec.json.decode(proof.leaf, type=SealedReadings)
    assert held.readings[proof.entry] == ("solvent_temp", T0 + 600_000, proof.reading.value)
    assert proof.leaves == s.leaves < s.count == proof.readings
    for forged in (msgspec.structs.replace(s, root="00" * 32),
                   msgspec.structs.replace(s, leaves=s.leaves + 1),
                   msgspec.structs.replace(s, count=s.count - 1)):
        proof.sealed = forged
        assert not proof.verified()
    # a leaf that is not the one of the reading: its entry says another value
    proof.sealed, leaf = s, proof.leaf
    other = [(x, t, v + 1.0 if x == "solvent_temp" else v) for x, t, v in held.readings]
    proof.leaf = readings_leaf(held.facility, held.seq, other)
    assert not proof.in_leaf() and not proof.verified()
    proof.leaf = leaf
    assert proof.verified()


def test_times_are_iso_8601_or_epoch_ms():
    assert parse_time("1767225600000") == T0
    assert parse_time("2026-01-01T00:00:00Z") == T0
    assert parse_time("2026-01-01T01:00:00+01:00") == T0
    assert parse_time("2026-01-01 00:00:00.250") == T0 + 250


def test_a_window_of_frame_leaves_proves_a_reading_from_its_messages_bytes():
    from plumeline.events import Frame, ReadingsSealed, decode_wire, encode_wire, frame_lists
    from plumeline.infra.cli.audit_reading import _Accepted, _prove

    def message(seq, values):
        return encode_wire(Frame(facility="ccs-01", sensors=["flue_co2", "solvent_temp"] * 2,
                                 times=[T0 + seq * 1000 + i for i in range(4)], values=values))

    bytes_of = {5: message(5, [400.0, 41.0, 401.0, 42.0]), 6: message(6, [402.0, 43.0, 9.0, 44.0])}
    window = []
    for seq, data in bytes_of.items():
        frame = frame_lists(decode_wire(data))
        for i in range(4):
            if (seq, i) != (6, 2):  # refused: in no leaf
                window.append(_Accepted(frame.sensors[i], frame.times[i], frame.values[i],
                                        seq, i, packed=True))
    placeholder = ReadingsSealed(facility="ccs-01", window_start=T0, window_end=T0 + 3_600_000,
                                 root="", count=0, first_seq=5, last_seq=6, leaf="frame")
    proof = _prove(window, placeholder, "solvent_temp", T0 + 6003, "e1", bytes_of)
    assert proof.entry == 3 and proof.message == bytes_of[6] and proof.readings == 7
    proof.sealed = msgspec.structs.replace(placeholder, root=proof.root.hex(),
                                           count=proof.readings, leaves=proof.leaves)
    assert proof.framed and proof.verified()
    # a changed reading: the message's bytes no longer hash to the leaf's
    proof.message = message(6, [402.0, 43.0, 9.0, 44.5])
    assert not proof.in_leaf() and not proof.verified()
    proof.message = bytes_of[6]
    proof.entry = 2  # the refused reading's position: in no run
    assert not proof.verified()
    proof.entry = 3
    assert proof.verified()
    # a frame leaf checked as a readings leaf is no proof
    proof.sealed = msgspec.structs.replace(proof.sealed, leaf="")
    assert not proof.verified()
