"""Each table is declared once; a store made by an older declaration is brought up to
the current one at start, and rows land in their columns by name."""

from __future__ import annotations

import pytest

from plumeline.projections import Projector
from plumeline.projections.schema import (
    COLUMNS,
    TYPES,
    create_statement,
    drop_statements,
    migrate_statements,
    row,
)

T0 = 1_767_225_600_000
DROPPED = "baseline"  # a column in the middle: anything matched by position would shift


def store_columns(store, table: str) -> list[str]:
    return [r["name"] for r in store.rows(
        "SELECT name FROM system.columns WHERE database = currentDatabase()"
        " AND table = {t:String} ORDER BY position", {"t": table})]


@pytest.fixture
def older_store(chdb_store):
    """Every table as now, but alert_events as it was before `baseline`, holding a row."""
    for sql in drop_statements():
        chdb_store.command(sql)
    older = [(n, t) for n, t in zip(COLUMNS["alert_events"], TYPES["alert_events"])
             if n != DROPPED]
    chdb_store.command(create_statement("alert_events", older))
    old_row = {"alert_id": "a0", "seq": 0, "type": "alert.raised", "facility": "f1",
               "sensor": "s1", "kind": "deviation", "severity": "minor", "time": T0,
               "value": 7.0, "score": 9.0, "model": "m", "message": "old", "user": "",
               "note": "", "by": ""}
    chdb_store.insert_columns("alert_events", [[old_row[n]] for n, _ in older],
                              [n for n, _ in older], [t for _, t in older])
    return chdb_store


def test_a_store_made_before_a_column_is_migrated_at_start(older_store, story):
    assert DROPPED not in store_columns(older_store, "alert_events")
    projector = Projector(older_store)
    projector.ensure_schema()
    assert store_columns(older_store, "alert_events") == list(COLUMNS["alert_events"])
    assert projector.apply(story) == len(story)
    by_id = {r["alert_id"]: r for r in older_store.rows(
        "SELECT alert_id, severity, value, baseline, score, message FROM alert_events FINAL"
        " WHERE type = 'alert.raised'")}
    # the old row keeps its values and reads the new column's default
    assert by_id["a0"] == {"alert_id": "a0", "severity": "minor", "value": 7.0,
                           "baseline": None, "score": 9.0, "message": "old"}
    # the new rows land by name, each value in its own column
    assert by_id["a1"] == {"alert_id": "a1", "severity": "major", "value": 42.0,
                           "baseline": 10.0, "score": 14.2, "message": "s1 high"}


def test_a_store_as_declared_needs_no_migration(chdb_store):
    Projector(chdb_store).ensure_schema()
    present = {t: store_columns(chdb_store, t) for t in COLUMNS}
    assert present == {t: list(c) for t, c in COLUMNS.items()}
    assert migrate_statements(present) == []


def test_a_migration_adds_each_missing_column_after_its_predecessor():
    present = {t: COLUMNS[t] for t in COLUMNS}
    present["hotspots"] = tuple(c for c in COLUMNS["hotspots"] if c not in ("event_id", "unit"))
    assert migrate_statements(present) == [
        "ALTER TABLE hotspots ADD COLUMN IF NOT EXISTS `event_id` String FIRST",
        "ALTER TABLE hotspots ADD COLUMN IF NOT EXISTS `unit` LowCardinality(String)"
        " AFTER `quantity`",
    ]


def test_a_row_needs_exactly_its_tables_columns():
    assert row("checkpoints", seq=3, projection="p") == ("p", 3)
    with pytest.raises(ValueError, match=r"missing \['seq'\], not declared \['sequence'\]"):
        row("checkpoints", projection="p", sequence=3)
