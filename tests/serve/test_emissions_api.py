"""Emissions, facility metrics, sensors, reports and silences over HTTP, answered by
real chDB projections."""

from __future__ import annotations

import csv
import io

import pytest
from starlette.testclient import TestClient

from plumeline.events import FacilityRegistered, Frame, encode_wire
from plumeline.serve.app import build_app
from plumeline.serve.tokens import TokenKey
from tests.projections.test_emissions_views import STORY, T0, H

KEY = TokenKey(b"k" * 32)
NOW = (T0 + 2 * H + 30_000) / 1000


def bearer(role: str) -> dict:
    return {"Authorization": f"Bearer {KEY.issue('ada', role, int(NOW) + 60)}"}


FRAMES = [encode_wire(Frame(facility="f1", sensors=["flue", "capture", "temp"],
                             times=[T0 + 2 * H + m * 60_000] * 3, values=[120.0, 60.0, 400.0]))
          for m in range(4)]


@pytest.fixture(scope="module")
def c(projected):
    story = [(T0, FacilityRegistered(facility="f1", name="Plant One", kind="ccs"))] + STORY
    reader, ledger = projected(story, FRAMES)
    app = build_app(reader, ledger, verify=KEY.verify, clock=lambda: NOW)
    return TestClient(app)


def test_current_and_as_of(c):
    now = {f["facility"]: f for f in c.get("/emissions/current").json()["facilities"]}
    assert now["f1"]["sealed"]["emitted_t"] == 200.0 and now["f1"]["open"]["emitted_t"] == 6.0
    then = c.get("/emissions/current", params={"as_of": 6}).json()["facilities"]
    assert [f["sealed"]["seq"] for f in then] == [5, 6] and then[0]["open"] is None


def test_summary_over_a_period_in_either_time_form(c):
    r = c.get("/emissions/summary", params={"from": "2026-01-01T00:00:00Z", "to": T0 + 2 * H})
    assert r.status_code == 200, r.text
    assert r.json()["total"]["emitted_t"] == 350.0
    one = c.get("/emissions/summary", params={"from": T0, "to": T0 + 2 * H, "facility": "f2"})
    assert one.json()["facilities"][0]["captured_t"] == 25.0
    # by default the last 24 hours up to now, which holds both sealed hours of f1
    assert c.get("/emissions/summary").json()["total"]["windows"] == 3
    for bad in [{"from": "yesterday"}, {"from": T0 + H, "to": T0}, {"to": "2026-01-01T00:00"}]:
        r = c.get("/emissions/summary", params=bad)
        assert r.status_code == 400 and r.json()["error"]


def test_facility_metrics_sensors_and_history(c):
    m = c.get("/facilities/f1/metrics", params={"from": T0 + 2 * H, "to": T0 + 3 * H})
    assert m.status_code == 200 and m.json()["count"] == 4
    assert m.json()["points"][0]["capture_efficiency"] == 0.5
    hours = c.get("/facilities/f1/metrics", params={"resolution": "hour", "from": T0})
    assert [p["seq"] for p in hours.json()["points"]] == [5, 7]
    assert c.get("/facilities/nope/metrics").status_code == 404
    assert c.get("/facilities/f1/metrics", params={"resolution": "day"}).status_code == 400
    sensors = {s["sensor"]: s for s in c.get("/facilities/f1/sensors").json()["sensors"]}
    assert sensors["flue"]["role"] == "emitted" and sensors["flue"]["latest"]["value"] == 120.0
    h = c.get("/facilities/f1/sensors/temp/history",
              params={"from": T0 + 2 * H, "to": T0 + 3 * H, "resolution": "raw"})
    assert [p["value"] for p in h.json()["points"]] == [400.0] * 4
    assert c.get("/facilities/f1/sensors/ghost/history").status_code == 404


def test_the_report_is_for_operators_auditors_and_admins(c):
    period = {"from": T0, "to": T0 + 3 * H}
    assert c.get("/reports/emissions", params=period).status_code == 401
    assert c.get("/reports/emissions", params=period, headers=bearer("viewer")).status_code == 403
    for role in ("operator", "auditor", "admin"):
        assert c.get("/reports/emissions", params=period, headers=bearer(role)).status_code == 200
    r = c.get("/reports/emissions", params=period, headers=bearer("auditor"))
    assert r.json()["facilities"][0]["ledger_seqs"] == [5, 7]
    assert c.get("/reports/emissions", params={"from": T0},
                 headers=bearer("auditor")).status_code == 400


def test_the_report_as_csv_names_the_ledger_seqs(c):
    r = c.get("/reports/emissions", params={"from": T0, "to": T0 + 3 * H, "format": "csv"},
              headers=bearer("auditor"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == (
        'attachment; filename="emissions-2026-01-01-2026-01-01.csv"')
    rows = list(csv.DictReader(io.StringIO(r.text)))
    f1 = [row for row in rows if row["facility"] == "f1"]
    assert [(row["row"], row["ledger_seqs"]) for row in f1] == [
        ("window", "5"), ("window", "7"), ("total", "5 7")]
    assert float(f1[-1]["emitted_t"]) == 300.0 and f1[0]["event_id"]


def test_silences_in_force(c):
    r = c.get("/silences")
    assert [(s["facility"], s["sensor"]) for s in r.json()["silences"]] == [
        ("f1", "temp"), ("f2", "")]
    later = c.get("/silences", params={"as_of": "2026-01-01T04:00:00Z"}).json()
    assert [s["facility"] for s in later["silences"]] == ["f1"]
    assert c.get("/silences", params={"facility": "f2"}).json()["count"] == 1
    assert c.get("/silences", params={"as_of": "soon"}).status_code == 400
