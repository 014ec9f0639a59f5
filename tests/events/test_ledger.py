"""events/ledger.py: the chain, the duplicate filter, and all-or-nothing sealing."""

from __future__ import annotations

import math

import pytest

from plumeline.events import (
    GENESIS,
    AlertRaised,
    ApiKeyIssued,
    Causation,
    Envelope,
    Ledger,
    ReadingsRejected,
    Record,
    decode_record,
    encode_record,
    leaf_hash,
)

T0 = 1_767_225_600_000


def event(facility: str, seq: int, index: int = 0, value: float = 50.0) -> Envelope:
    body = AlertRaised(facility=facility, alert_id=f"{facility}-{seq}-{index}", sensor="s",
                       kind="deviation", severity="minor", value=value, baseline=40.0,
                       score=9.0, model="robust-baseline", message="high")
    return Envelope.wrap(body, time=T0 + seq, causation=Causation("readings", seq, index))


def test_records_chain_by_the_hash_of_the_one_before():
    ledger = Ledger()
    sealed = ledger.seal([event("a", 1), event("b", 2), event("a", 3, 1)])
    assert [r.seq for r in sealed] == [1, 2, 3]
    prev = GENESIS
    for r in sealed:
        record = decode_record(r.data)
        assert record.prev == prev and r.leaf_hash == leaf_hash(r.data)
        prev = r.leaf_hash.hex()
    assert ledger.head == prev and ledger.size == 3


def test_events_at_or_before_a_facilitys_last_position_are_dropped():
    ledger = Ledger()
    ledger.seal([event("a", 5, 0), event("a", 5, 1), event("b", 3)])
    again = ledger.seal([event("a", 5, 1), event("a", 5, 2), event("b", 3), event("b", 4)])
    assert [(r.seq, r.event_id) for r in again] == [
        (4, event("a", 5, 2).id), (5, event("b", 4).id)]
    # within one batch too: the second copy of an event is not sealed
    assert [r.seq for r in ledger.seal([event("c", 1), event("c", 1)])] == [6]


def test_a_batch_with_an_unsealable_event_changes_nothing():
    ledger = Ledger()
    ledger.seal([event("a", 1)])
    size, head = ledger.size, ledger.head
    with pytest.raises(ValueError, match="cannot be sealed"):
        ledger.seal([event("a", 2), event("a", 3, value=math.nan)])
    assert (ledger.size, ledger.head) == (size, head)
    assert [r.seq for r in ledger.seal([event("a", 2)])] == [2]  # position not moved either


def test_restore_rebuilds_the_same_ledger_and_refuses_a_gap():
    original = Ledger()
    sealed = original.seal([event("a", i) for i in range(1, 8)])
    copy = Ledger()
    for r in sealed:
        copy.restore(r.data)
    assert (copy.size, copy.head, copy.tree.root()) == (
        original.size, original.head, original.tree.root())
    assert copy.seal([event("a", 7)]) == []
    with pytest.raises(ValueError, match="does not continue"):
        Ledger().restore(sealed[1].data)


def _one_by_one(batches: list[list[Envelope]]) -> list[bytes]:
    """The records as docs/ledger.md §1 defines them, one `Record` encoded at a time and
    chained by its leaf hash, doubles dropped: what `seal` gave before it wrote the
    records around one encode of the batch."""
    head, seq, last, records = GENESIS, 0, {}, []
    for batch in batches:
        for e in batch:
            key, position = (e.causation.stream, e.facility), (e.causation.seq, e.causation.index)
            if key in last and position <= last[key]:
                continue
            last[key], seq = position, seq + 1
            data = encode_record(Record(seq=seq, prev=head, event=e))
            records.append(data)
            head = leaf_hash(data).hex()
    return records


def _mixed(seq: int) -> list[Envelope]:
    """Events whose JSON holds escapes, non-ASCII text, line breaks, lists and maps."""
    bodies = [
        AlertRaised(facility="kiln-2", alert_id=f"a/{seq}", sensor="co2", kind="spike",
                    severity="high", value=18.4, baseline=-0.0, score=1e-7, model="ewma",
                    message='température "haute"\nligne\u2028 — \\ 😀 null'),
        ReadingsRejected(facility="kiln-2", count=3, reasons={"é": 1, "b": 2, "\n": 3}),
        ApiKeyIssued(facility="ccs-1", key_id="k", user="u", role="operator",
                     expires=2**40, facilities=["ccs-1", "kiln-2"], by="admin"),
    ]
    return [Envelope.wrap(b, time=T0 + seq, causation=Causation("readings", seq, i))
            for i, b in enumerate(bodies)]


def test_sealed_records_are_byte_for_byte_those_encoded_one_by_one():
    """Batches with doubles within and across them, sealed by a ledger that is restored
    from its records halfway, as the writer is after a restart."""
    batches = [_mixed(1) + _mixed(2) + _mixed(2), _mixed(2) + _mixed(3)]
    batches += [[event(f"f{i % 5}", i, i % 2) for i in range(n, n + 40)] for n in (1, 30, 70)]
    expected = _one_by_one(batches)
    ledger = Ledger()
    records = ledger.seal_records(batches[0]) + ledger.seal_records(batches[1])
    restarted = Ledger()
    for data in records:
        restarted.restore(data)
    sealed = restarted.seal(batches[2])
    assert [r.seq for r in sealed] == list(range(10, 50))  # 6 + 3 before, no doubles
    records += [r.data for r in sealed] + restarted.seal_records(batches[3])
    records += [r.data for r in restarted.seal(batches[4])]
    assert records == expected
    assert all(r.leaf_hash == leaf_hash(r.data) for r in sealed)
    assert [r.event_id for r in sealed] == [e.id for e in batches[2]]
    assert restarted.head == leaf_hash(expected[-1]).hex()
    whole = Ledger()
    for data in expected:
        whole.restore(data)
    assert restarted.tree.root() == whole.tree.root()
