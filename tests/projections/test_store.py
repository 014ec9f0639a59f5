"""open_store: chDB by path (the other tests) or a ClickHouse server by URL (here)."""

from __future__ import annotations

import os
import uuid
from urllib.parse import urlsplit

import pytest

from plumeline.events import Frame, encode_wire
from plumeline.projections import Projector, alert, alerts, ledger_events, open_store
from plumeline.projections.readings import ReadingsProjector, latest_readings

T0 = 1_767_225_600_000


def test_open_store_needs_exactly_one_of_url_and_path():
    with pytest.raises(ValueError, match="exactly one"):
        open_store()
    with pytest.raises(ValueError, match="exactly one"):
        open_store(url="http://localhost:8123", path="/tmp/x")


def test_the_same_schema_and_queries_run_on_a_clickhouse_server(story):
    url = os.environ.get("PLUMELINE_CLICKHOUSE_URL")
    if not url:
        pytest.skip("PLUMELINE_CLICKHOUSE_URL not set: no ClickHouse server to test against")
    # rebuild() drops tables: work in a database of our own, never the one in the URL.
    database = f"plumeline_test_{uuid.uuid4().hex[:8]}"
    with open_store(url=url) as admin:
        admin.command(f"CREATE DATABASE {database}")
        try:
            with open_store(url=urlsplit(url)._replace(path=f"/{database}").geturl()) as store:
                projector = Projector(store)
                projector.rebuild()
                assert projector.apply(story) == len(story)
                assert projector.apply(story) == 0
                assert [a["alert_id"] for a in alerts(store)] == ["a2", "a1"]
                assert alert(store, "a1", as_of_seq=7)["state"] == "active"
                assert alert(store, "a1")["state"] == "cleared"
                assert ledger_events(store, 1, 1)[0]["record"].encode() == story[0][1]
                # Raw readings go in as Native blocks built here, not by clickhouse-connect.
                readings = ReadingsProjector(store)
                readings.reset()
                frame = Frame(facility="f1", sensors=["s1", "s2", "s1"], times=[T0, T0, T0 + 1],
                              values=[1.0, 2.0, 3.0])
                assert readings.apply([(1, encode_wire(frame)), (2, encode_wire(frame))]) == 2
                assert latest_readings(store, "f1") == [
                    {"sensor": "s1", "value": 3.0, "time_ms": T0 + 1},
                    {"sensor": "s2", "value": 2.0, "time_ms": T0}]
        finally:
            admin.command(f"DROP DATABASE IF EXISTS {database}")
