"""events/ledger.py: the chain, the duplicate filter, and all-or-nothing sealing."""

from __future__ import annotations

import math

import pytest

from plumeline.events import (
    GENESIS,
    AlertRaised,
    Causation,
    Envelope,
    Ledger,
    decode_record,
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
