"""rows_for: one ledger record in, the rows of each table out; no store involved."""

from __future__ import annotations

import pytest

from plumeline.events import decode_record, leaf_hash
from plumeline.projections import COLUMNS, rows_for


def rows_of(seq: int, records: list[tuple[int, bytes]]) -> dict[str, list[tuple]]:
    _, data = records[seq - 1]
    return rows_for(seq, leaf_hash(data).hex(), data, decode_record(data).event)


def named(table: str, row: tuple) -> dict:
    assert len(row) == len(COLUMNS[table]), f"{table} row does not match its columns"
    return dict(zip(COLUMNS[table], row))


@pytest.fixture(scope="module")
def records(story):
    return story


def test_every_record_has_its_ledger_row(records):
    for seq, data in records:
        (row,) = rows_of(seq, records)["ledger"]
        r = named("ledger", row)
        event = decode_record(data).event
        assert r["seq"] == seq
        assert r["event_id"] == event.id
        assert r["type"] == event.type
        assert r["time"] == event.time
        assert (r["causation_stream"], r["causation_seq"], r["causation_index"]) == (
            "READINGS",
            seq,
            0,
        )
        assert r["leaf_hash"] == leaf_hash(data).hex() and r["leaf_hash"].islower()
        assert r["record"] == data


@pytest.mark.parametrize(
    ("seq", "table", "expected"),
    [
        (1, "facilities", {"facility": "f1", "name": "Plant One", "kind": "cement"}),
        (
            2,
            "sensors",
            {
                "facility": "f1",
                "sensor": "s1",
                "quantity": "co2_flow",
                "unit": "t/h",
                "role": "emitted",
            },
        ),
        (5, "rejections", {"facility": "f1", "count": 3, "reasons": {"nan": 2, "future": 1}}),
        (
            6,
            "alert_events",
            {
                "alert_id": "a1",
                "type": "alert.raised",
                "severity": "major",
                "value": 42.0,
                "baseline": 10.0,
                "score": 14.2,
                "user": "",
            },
        ),
        (7, "hotspots", {"facility": "f1", "sensor": "s1", "value": 30.0, "excess_ratio": 2.5}),
        (
            8,
            "alert_events",
            {
                "alert_id": "a1",
                "type": "alert.acknowledged",
                "user": "olga",
                "note": "on it",
                "value": None,
            },
        ),
        (
            9,
            "alert_events",
            {
                "alert_id": "a1",
                "type": "alert.cleared",
                "value": 11.0,
                "by": "detector",
                "baseline": None,
            },
        ),
        (
            11,
            "recommendation_events",
            {
                "recommendation_id": "r1",
                "type": "recommendation.issued",
                "action": "reduce kiln feed",
                "confidence": 0.8,
                "expected_effect_tco2e_per_day": 4.5,
                "urgency": "high",
            },
        ),
        (
            12,
            "recommendation_events",
            {
                "recommendation_id": "r1",
                "user": "olga",
                "type": "recommendation.approved",
                "confidence": None,
            },
        ),
        (
            13,
            "recommendation_events",
            {
                "recommendation_id": "r2",
                "user": "ivan",
                "note": "not now",
                "type": "recommendation.rejected",
            },
        ),
    ],
)
def test_each_event_type_lands_in_its_view(records, story_events, seq, table, expected):
    rows = rows_of(seq, records)
    assert set(rows) == {"ledger", table}
    (row,) = rows[table]
    r = named(table, row)
    assert r["seq"] == seq
    assert r["time"] == story_events[seq - 1][0]
    assert {k: r[k] for k in expected} == expected


def test_rows_are_a_pure_function_of_the_record(records):
    assert [rows_of(seq, records) for seq, _ in records] == [
        rows_of(seq, records) for seq, _ in records
    ]


def test_hotspot_row_is_keyed_by_event_id(records):
    (row,) = rows_of(7, records)["hotspots"]
    assert named("hotspots", row)["event_id"] == decode_record(records[6][1]).event.id
