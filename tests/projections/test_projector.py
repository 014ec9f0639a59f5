"""Projector against real embedded chDB: checkpoints, idempotence, disposability."""

from __future__ import annotations

import msgspec
import pytest

from plumeline.projections import (
    Projector,
    SequenceGap,
    alert,
    alerts,
    facilities,
    hotspots,
    ledger_events,
    projection_status,
    rejections_summary,
)


def everything(store) -> dict:
    """Every view the projections offer, as a caller would see it."""
    return {
        "alerts": alerts(store),
        "active": alerts(store, state="active"),
        "a1": alert(store, "a1"),
        "a1_at_7": alert(store, "a1", as_of_seq=7),
        "hotspots": hotspots(store),
        "ledger": ledger_events(store, 1, 100),
        "facilities": facilities(store),
        "rejections": rejections_summary(store),
        "rows": projection_status(store)["rows"],
    }


def test_apply_projects_every_record_and_advances_the_checkpoint(projector, story):
    assert projector.checkpoint() == 0
    assert projector.apply(story) == len(story)
    assert projector.checkpoint() == len(story)
    status = projection_status(projector.store)
    assert status["checkpoint"] == len(story)
    assert status["rows"] == {
        "ledger": 14,
        "alert_events": 4,
        "hotspots": 1,
        "recommendation_events": 3,
        "recommendation_outcomes": 0,
        "facilities": 2,
        "sensors": 2,
        "rejections": 2,
        "emissions": 0,
        "checkpoints": 0,  # the ledger table is its own checkpoint
    }


def test_records_at_or_below_the_checkpoint_are_skipped(projector, story):
    assert projector.apply(story[:5]) == 5
    assert projector.apply(story[:8]) == 3
    assert projector.apply(story[3:10]) == 2
    assert projector.apply([]) == 0
    assert projector.checkpoint() == 10
    # The checkpoint is in the store, not only in this object.
    assert Projector(projector.store).checkpoint() == 10
    assert len(ledger_events(projector.store, 1, 100)) == 10


def test_applying_a_batch_twice_changes_nothing(projector, story):
    projector.apply(story)
    before = everything(projector.store)
    # A crash before the ledger rows, which are the checkpoint: every other table's
    # rows are in, and after a restart the same batch is applied again.
    projector.rebuild()
    crashing = CrashBeforeCheckpoint(projector.store)
    with pytest.raises(RuntimeError, match="crashed"):
        Projector(crashing).apply(story)
    assert "alert_events" in crashing.inserted and "ledger" not in crashing.inserted
    restarted = Projector(projector.store)
    assert restarted.checkpoint() == 0
    assert restarted.apply(story) == len(story)
    assert everything(projector.store) == before
    # And once more through a projector that does not know the checkpoint at all:
    # the ledger rows themselves come twice.
    assert Forgetful(projector.store).apply(story) == len(story)
    assert everything(projector.store) == before
    assert Projector(projector.store).checkpoint() == len(story)


class CrashBeforeCheckpoint:
    def __init__(self, store):
        self.store = store
        self.inserted = []

    def __getattr__(self, name):
        return getattr(self.store, name)

    def insert_columns(self, table, columns, column_names, column_types=None):
        if table == "ledger":
            raise RuntimeError("crashed before the checkpoint")
        self.store.insert_columns(table, columns, column_names, column_types)
        self.inserted.append(table)


class Forgetful(Projector):
    def checkpoint(self) -> int:
        return 0


def test_rebuild_then_replay_gives_identical_results(projector, story):
    for i in range(0, len(story), 4):
        projector.apply(story[i : i + 4])
    before = everything(projector.store)

    projector.rebuild()
    assert projector.checkpoint() == 0
    assert Projector(projector.store).checkpoint() == 0
    assert alerts(projector.store) == [] and ledger_events(projector.store, 1, 100) == []

    assert projector.apply(story) == len(story)
    assert everything(projector.store) == before


def test_a_gap_raises_and_writes_nothing(projector, story):
    projector.apply(story[:3])
    with pytest.raises(SequenceGap) as gap:
        projector.apply(story[4:8])
    assert (gap.value.expected, gap.value.got) == (4, 5)
    assert projector.checkpoint() == 3
    assert len(ledger_events(projector.store, 1, 100)) == 3


def test_a_record_at_the_wrong_position_is_refused(projector, story):
    with pytest.raises(ValueError, match="record at ledger position 1 says it is 2"):
        projector.apply([(1, story[1][1])])
    assert projector.checkpoint() == 0


def test_an_undecodable_record_stops_the_projection_loudly(projector, story):
    # Skipping it would lose an event for good; the caller sees the error and retries
    # from the checkpoint, which has not moved.
    projector.apply(story[:2])
    with pytest.raises(msgspec.DecodeError):
        projector.apply([(3, b'{"seq": 3, "prev": "00", "event": ')])
    assert projector.checkpoint() == 2
    assert projector.apply(story) == len(story) - 2


def test_the_views_show_a_batch_before_its_ledger_rows_go_in(projector, story):
    """GET /alerts reads `alert_events`: an alert shows once that table has its row,
    and `visible()` says so while the `ledger` rows, the checkpoint, still go in."""
    projector.apply(story[:3])
    watching = WatchLedgerInsert(projector.store)
    watching.projector = Projector(watching)
    assert watching.projector.apply(story[3:6]) == 3  # seq 6 raises a1
    assert watching.seen == {
        "alerts": ["a1"], "ledger_rows": 3, "first_insert": "alert_events",
        "visible": 6, "checkpoint": 3,
    }
    assert (watching.projector.checkpoint(), watching.projector.visible()) == (6, 6)
    assert Projector(projector.store).checkpoint() == 6  # it is in the store


class WatchLedgerInsert(CrashBeforeCheckpoint):
    """Looks at the views and at its projector just before a batch's `ledger` insert."""

    def __init__(self, store):
        super().__init__(store)
        self.projector = None
        self.seen = {}

    def insert_columns(self, table, columns, column_names, column_types=None):
        if table == "ledger":
            self.seen = {
                "alerts": [a["alert_id"] for a in alerts(self.store)],
                "ledger_rows": len(ledger_events(self.store, 1, 100)),
                "first_insert": self.inserted[0],
                "visible": self.projector.visible(), "checkpoint": self.projector.checkpoint(),
            }
        self.store.insert_columns(table, columns, column_names, column_types)
        self.inserted.append(table)


def test_a_failed_ledger_insert_leaves_the_batch_to_be_applied_again(projector, story):
    projector.apply(story[:4])
    failing = Projector(CrashBeforeCheckpoint(projector.store))
    with pytest.raises(RuntimeError, match="crashed"):
        failing.apply(story[4:9])
    assert failing.visible() == failing.checkpoint() == 4
    failing.store = projector.store  # the store answers again
    assert failing.apply(story) == len(story) - 4
    before = everything(projector.store)
    projector.rebuild()
    projector.apply(story)
    assert everything(projector.store) == before
