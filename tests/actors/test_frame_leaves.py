"""A packed frame is sealed by a frame leaf, a version-1 frame by a readings leaf.

The leaf's kind follows the message, not the code (docs/ledger.md §8): a packed frame's
leaf commits to its bytes and the positions the window took, so that no reading is
encoded on its own; a version-1 frame's leaf writes its readings out, as it did when
its ledger was written, so old READINGS replay to the same roots. The seals here are
rebuilt from which readings the facility accepts one at a time, message by message,
and compared with what `Derivation` gives one message at a time and in batches (the
columns take a packed frame whole, `observe` the rest, both with the same leaf).
"""

import msgspec
import pytest

from plumeline.actors import Derivation
from plumeline.events import Frame, ReadingsSealed, SealFrontier, encode_wire, readings_subject
from plumeline.events.frame_seal import frame_leaf, runs
from plumeline.simulator import Simulation
from tests.actors.test_frame_path import CONFIG, T0, fleet, seal_of, spoiled


@pytest.fixture(scope="module")
def stream():
    """(simulation, frames, arrived of each, accepted (facility, seq, sensor, time,
    value, position) in the order accepted): facilities large enough for the columns,
    frames with refusals, disorder and windows closing inside them."""
    sim = Simulation(seed=5, facilities=2, sensors_per_facility=30, rate_hz=1, start_ms=T0,
                     mean_gap_s=40.0)
    frames = spoiled(sim, sim.frames(0, 1800, 3))
    single, arrivals, accepted = fleet(sim), [], []
    seq0 = len(sim.manifests())
    for seq, f in enumerate(frames, seq0 + 1):
        arrived = f.times[0] + 5000
        arrivals.append(arrived)
        for i in sorted(range(len(f.times)), key=f.times.__getitem__):
            one = Frame(f.facility, [f.sensors[i]], [f.times[i]], [f.values[i]])
            if single[f.facility].observe(one, arrived, seq)[1] is None:
                accepted.append((f.facility, seq, f.sensors[i], f.times[i], f.values[i], i))
    return sim, frames, arrivals, accepted


def _messages(sim, frames, arrivals, encode):
    out = [(readings_subject(m.facility, 1), k, T0, encode_wire(m))
           for k, m in enumerate(sim.manifests(), 1)]
    return out + [(readings_subject(f.facility, 1), seq, arrived, encode(f))
                  for seq, (f, arrived) in enumerate(zip(frames, arrivals), len(out) + 1)]


def _sealed(derived) -> list[ReadingsSealed]:
    return [e.body for x in derived for e in x.envelopes if isinstance(e.body, ReadingsSealed)]


def _frame_seal(facility, accepted, data_of, start, end):
    """The frame leaves of `facility`'s readings accepted in [start, end): a leaf per
    message, its bytes and the runs of the positions taken."""
    taken: dict[int, list[int]] = {}
    for f, seq, _, time, _, position in accepted:
        if f == facility and start <= time < end:
            taken.setdefault(seq, []).append(position)
    frontier = SealFrontier()
    frontier.extend(frame_leaf(facility, seq, data_of[seq], runs(sorted(p)))
                    for seq, p in taken.items())
    return frontier, taken


@pytest.mark.parametrize("batch", [0, 1, 64])
def test_packed_frames_are_sealed_by_their_bytes_and_positions(stream, batch):
    sim, frames, arrivals, accepted = stream
    messages = _messages(sim, frames, arrivals, encode_wire)
    d = Derivation(CONFIG)
    if batch:
        derived = []
        for k in range(0, len(messages), batch):
            derived += d.derive_batch(messages[k:k + batch])
    else:
        derived = [d.derive(*m) for m in messages]
    data_of = {seq: data for _, seq, _, data in messages}
    sealed = _sealed(derived)
    assert len(sealed) > 20
    size = {seq: len(f.times) for seq, f in enumerate(frames, len(sim.manifests()) + 1)}
    runs_seen = set()
    for e in sealed:
        assert e.leaf == "frame"
        seal, taken = _frame_seal(e.facility, accepted, data_of, e.window_start, e.window_end)
        count = sum(len(p) for p in taken.values())
        assert (e.root, e.leaves, e.count) == (seal.root().hex(), seal.size, count)
        runs_seen |= {len(runs(sorted(p))) if len(p) < size[seq] else 0
                      for seq, p in taken.items()}
    # frames taken whole, and frames of one run or several (refused readings, windows
    # closing inside them)
    assert {0, 1, 2} <= runs_seen
    if batch > 1:
        assert d.in_columns > 0  # the columns' leaf, made without the frame's readings


def test_version_1_frames_keep_their_readings_leaves(stream):
    sim, frames, arrivals, accepted = stream
    messages = _messages(sim, frames, arrivals, msgspec.msgpack.encode)
    assert b"frame.v2" not in b"".join(data for *_, data in messages)
    d = Derivation(CONFIG)
    sealed = []
    for k in range(0, len(messages), 64):
        sealed += _sealed(d.derive_batch(messages[k:k + 64]))
    assert len(sealed) > 20
    for e in sealed:
        assert e.leaf == ""
        seal = seal_of(e.facility, [a[:5] for a in accepted], e.window_start, e.window_end)
        assert (e.root, e.leaves) == (seal.root().hex(), seal.size)
