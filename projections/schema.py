"""The ClickHouse tables the ledger is projected into.

Every table is a ReplacingMergeTree whose sorting key contains the ledger `seq` of the
record a row came from. A record always yields the same rows, so applying it twice
leaves duplicates with equal keys and equal content, which merges collapse; readers
use FINAL or duplicate-insensitive aggregates (argMax, max) so they never see the
copies before a merge does. That is what makes a crash between an insert and the
checkpoint harmless: the replayed batch lands on rows that are already there.

Rows carry `seq` so every view can be cut at any ledger position (`as_of_seq`).
Times are event times, DateTime64(3, 'UTC'), inserted as epoch milliseconds.

Each table is declared once, below, by column name and type. Rows are built by name
(`row`), so a column's place in the declaration matters to nobody; and a store made
before a column was declared gets it at start (`migrate_statements`): old rows read
the type's default (NULL, "", 0). Only columns are added this way; a changed type or
sorting key needs a rebuild.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from operator import itemgetter
from typing import Any

__all__ = [
    "COLUMNS",
    "TABLES",
    "TYPES",
    "create_statement",
    "create_statements",
    "drop_statements",
    "migrate_statements",
    "row",
]

_TIME = "DateTime64(3, 'UTC')"
_NAME = "LowCardinality(String)"

# table -> (columns as (name, type), sorting key)
_TABLES: dict[str, tuple[tuple[tuple[str, str], ...], str]] = {
    "ledger": (
        (
            ("seq", "UInt64"),
            ("event_id", "String"),
            ("type", _NAME),
            ("facility", _NAME),
            ("sensor", "String"),
            ("time", _TIME),
            ("causation_stream", _NAME),
            ("causation_seq", "UInt64"),
            ("causation_index", "UInt32"),
            ("leaf_hash", "String"),
            ("record", "String"),
        ),
        "seq",
    ),
    "alert_events": (
        (
            ("alert_id", "String"),
            ("seq", "UInt64"),
            ("type", _NAME),
            ("facility", _NAME),
            ("sensor", "String"),
            ("kind", _NAME),
            ("severity", _NAME),
            ("time", _TIME),
            # Nullable: an acknowledgement has no value, and 0 would be a reading.
            ("value", "Nullable(Float64)"),
            ("baseline", "Nullable(Float64)"),
            ("score", "Nullable(Float64)"),
            ("model", _NAME),
            ("message", "String"),
            ("user", "String"),
            ("note", "String"),
            ("by", _NAME),
        ),
        "(alert_id, seq)",
    ),
    "hotspots": (
        (
            ("event_id", "String"),
            ("seq", "UInt64"),
            ("facility", _NAME),
            ("sensor", "String"),
            ("quantity", _NAME),
            ("unit", _NAME),
            ("time", _TIME),
            ("value", "Float64"),
            ("baseline", "Float64"),
            ("excess_ratio", "Float64"),
        ),
        "(facility, seq)",
    ),
    "recommendation_events": (
        (
            ("recommendation_id", "String"),
            ("seq", "UInt64"),
            ("type", _NAME),
            ("facility", _NAME),
            ("sensor", "String"),
            ("action", "String"),
            ("reason", "String"),
            ("expected_effect_tco2e_per_day", "Nullable(Float64)"),
            ("confidence", "Nullable(Float64)"),
            ("urgency", _NAME),
            ("user", "String"),
            ("note", "String"),
            ("time", _TIME),
        ),
        "(recommendation_id, seq)",
    ),
    # RecommendationOutcomeMeasured: what an approved recommendation did, rates in t/day.
    "recommendation_outcomes": (
        (
            ("recommendation_id", "String"),
            ("seq", "UInt64"),
            ("facility", _NAME),
            ("time", _TIME),
            ("approved_at", _TIME),
            ("baseline_start", _TIME),
            ("baseline_end", _TIME),
            ("baseline_rate_tco2e_per_day", "Float64"),
            ("window_start", _TIME),
            ("window_end", _TIME),
            ("observed_rate_tco2e_per_day", "Float64"),
            ("measured_effect_tco2e_per_day", "Float64"),
            ("uncertainty_tco2e_per_day", "Float64"),
            ("expected_effect_tco2e_per_day", "Float64"),
            ("verdict", _NAME),
        ),
        "(recommendation_id, seq)",
    ),
    # Registrations keep their history (keyed by seq too): a re-registration is a new
    # row, the current one is argMax over seq, and time travel keeps working.
    "facilities": (
        (
            ("facility", "String"),
            ("seq", "UInt64"),
            ("name", "String"),
            ("kind", _NAME),
            ("time", _TIME),
        ),
        "(facility, seq)",
    ),
    "sensors": (
        (
            ("facility", "String"),
            ("sensor", "String"),
            ("seq", "UInt64"),
            ("quantity", _NAME),
            ("unit", _NAME),
            ("role", _NAME),
            ("time", _TIME),
            # an admin's declaration, change or retirement (actors/roster.py): who, and
            # whether the sensor is retired from this row on
            ("by", "String"),
            ("retired", "UInt8"),
        ),
        "(facility, sensor, seq)",
    ),
    "rejections": (
        (
            ("seq", "UInt64"),
            ("facility", _NAME),
            ("time", _TIME),
            ("count", "UInt64"),
            ("reasons", "Map(String, UInt64)"),
        ),
        "seq",
    ),
    # One row per facility and window of the CO2 balance (EmissionsMeasured), tonnes.
    "emissions": (
        (
            ("facility", "String"),
            ("window_start", _TIME),
            ("window_end", _TIME),
            ("seq", "UInt64"),
            ("emitted_t", "Float64"),
            ("captured_t", "Float64"),
            ("stored_t", "Float64"),
            ("vented_t", "Float64"),
            ("capture_efficiency", "Float64"),
            ("readings", "UInt64"),
            ("first_seq", "UInt64"),
            ("last_seq", "UInt64"),
        ),
        "(facility, window_start, seq)",
    ),
    "checkpoints": (
        (
            ("projection", "String"),
            ("seq", "UInt64"),
        ),
        "`projection`",  # quoted: PROJECTION is also a clause of CREATE TABLE
    ),
}

TABLES: tuple[str, ...] = tuple(_TABLES)
COLUMNS: dict[str, tuple[str, ...]] = {
    table: tuple(name for name, _ in columns) for table, (columns, _) in _TABLES.items()
}
TYPES: dict[str, tuple[str, ...]] = {
    table: tuple(kind for _, kind in columns) for table, (columns, _) in _TABLES.items()
}


_PICK = {table: itemgetter(*names) for table, names in COLUMNS.items()}
_NAMES = {table: frozenset(names) for table, names in COLUMNS.items()}


def row(table: str, **values: Any) -> tuple:
    """A row of `table` from its values by column name, in the order inserts give
    (`COLUMNS[table]`); a name missing or not declared raises ValueError."""
    if values.keys() != _NAMES[table]:
        missing = sorted(_NAMES[table] - values.keys())
        unknown = sorted(values.keys() - _NAMES[table])
        raise ValueError(f"a {table} row needs exactly its columns: "
                         f"missing {missing}, not declared {unknown}")
    picked = _PICK[table](values)
    return picked if len(COLUMNS[table]) > 1 else (picked,)


def create_statement(table: str, columns: Iterable[tuple[str, str]] | None = None) -> str:
    """`table` as declared; `columns` stands in for the declared ones (a store made by
    an older declaration, in tests)."""
    declared, order_by = _TABLES[table]
    body = ",\n    ".join(f"`{name}` {kind}" for name, kind in (columns or declared))
    # checkpoints: the version column keeps the highest seq when merges collapse rows;
    # readers take max(seq) anyway.
    engine = "ReplacingMergeTree(seq)" if table == "checkpoints" else "ReplacingMergeTree"
    return (
        f"CREATE TABLE IF NOT EXISTS {table} (\n    {body}\n) ENGINE = {engine} ORDER BY {order_by}"
    )


def create_statements() -> list[str]:
    return [create_statement(table) for table in TABLES]


def migrate_statements(present: Mapping[str, Iterable[str]]) -> list[str]:
    """ALTERs that add to each table the declared columns the store lacks, given the
    columns `present` in the store per table; each after its declared predecessor."""
    out = []
    for table, (columns, _) in _TABLES.items():
        if table not in present:
            continue  # not made yet: its CREATE declares every column
        have = set(present[table])
        for i, (name, kind) in enumerate(columns):
            if name not in have:
                where = f" AFTER `{columns[i - 1][0]}`" if i else " FIRST"
                out.append(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS `{name}` {kind}{where}")
    return out


def drop_statements() -> list[str]:
    return [f"DROP TABLE IF EXISTS {table}" for table in TABLES]
