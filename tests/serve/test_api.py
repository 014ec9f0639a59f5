"""The HTTP surface over a toy app: fake projections, ledger and command bus, real
routing, auth and rendering."""

from __future__ import annotations

import json

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from plumeline.serve.app import build_app
from plumeline.serve.openapi import SPEC
from plumeline.serve.tokens import TokenKey

KEY = TokenKey(b"k" * 32)
NOW = 1_767_225_600.0
ALERT = {"alert_id": "a1", "facility": "ccs-07", "state": "active", "acknowledged": False}
REC = {"recommendation_id": "r1", "facility": "ccs-07", "state": "pending"}
FACILITY = {"facility": "ccs-07", "sensors": [{"sensor": "solvent_temp"}]}


def bearer(role: str, user: str = "ada", expires: float = NOW + 60) -> dict:
    return {"Authorization": f"Bearer {KEY.issue(user, role, int(expires))}"}


class Projections:
    def __init__(self):
        self.caused: dict[int, list[dict]] = {}
        self.asked: list[tuple[str, dict]] = []

    async def query(self, name, **params):
        self.asked.append((name, params))
        match name:
            case "alert":
                return dict(ALERT) if params["alert_id"] == "a1" else None
            case "alerts":
                return [ALERT]
            case "recommendation":
                return dict(REC) if params["recommendation_id"] == "r1" else None
            case "recommendations":
                return [REC]
            case "facilities":
                return [FACILITY]
            case "caused_by":
                return self.caused.get(params["seq"], [])
            case "seq_at":
                return 42
            case "seq_of":
                return 7 if params["event_id"] == "e7" else None
            case "ledger_events":
                return [{"seq": s} for s in range(params["from_seq"], params["to_seq"] + 1)]
        return []


class Bus:
    """Publishes into a list; the facility's answer appears in the projections."""

    def __init__(self, projections, outcome="alert.acknowledged", reason=""):
        self.projections, self.outcome, self.reason = projections, outcome, reason
        self.published = []

    async def publish(self, command):
        self.published.append(command)
        seq = len(self.published)
        if self.outcome:
            body = {"reason": self.reason} if self.reason else {}
            self.projections.caused[seq] = [{
                "seq": 100 + seq, "event_id": f"e{seq}", "type": self.outcome,
                "record": json.dumps({"event": {"body": body}})}]
        return seq


class Ledger:
    async def head(self):
        return {"tree_size": 10, "root_hash": "00"}

    async def inclusion(self, seq, tree_size):
        if seq > 10:
            raise ValueError(f"record {seq} is not in the tree of size 10")
        return {"seq": seq, "tree_size": tree_size or 10}

    async def consistency(self, first, second):
        if not 1 <= first <= second <= 10:
            raise ValueError("need 1 <= first <= second <= 10")
        return {"first": first, "second": second, "proof": []}


def client(outcome="alert.acknowledged", reason="", open_reads=True, exporter=None):
    projections = Projections()
    bus = Bus(projections, outcome, reason)
    app = build_app(projections, Ledger(), commands=bus, verify=KEY.verify,
                    open_reads=open_reads, exporter=exporter, command_wait_s=0.2,
                    clock=lambda: NOW)
    return TestClient(app), bus, projections


def test_an_operator_acknowledges_and_gets_the_new_state():
    c, bus, _ = client()
    r = c.post("/alerts/a1/acknowledge", json={"note": "on it"}, headers=bearer("operator"))
    assert r.status_code == 200, r.text
    assert r.json()["event"] == "alert.acknowledged" and r.json()["state"]["alert_id"] == "a1"
    [command] = bus.published
    assert (command.facility, command.alert_id, command.user, command.note, command.time) == (
        "ccs-07", "a1", "ada", "on it", int(NOW * 1000))


def test_who_may_command():
    c, bus, _ = client()
    assert c.post("/alerts/a1/acknowledge").status_code == 401
    assert c.post("/alerts/a1/acknowledge", headers=bearer("viewer")).status_code == 403
    assert c.post("/alerts/a1/acknowledge", headers=bearer("auditor")).status_code == 403
    assert c.post("/alerts/a1/clear", headers=bearer("admin")).status_code == 200
    bad = {"Authorization": "Bearer " + KEY.issue("ada", "admin", int(NOW) + 60)[:-2] + "xx"}
    assert c.post("/alerts/a1/clear", headers=bad).status_code == 401
    assert c.post("/alerts/a1/clear", headers=bearer("admin", expires=NOW - 1)).status_code == 401
    assert len(bus.published) == 1


def test_a_refused_command_is_a_409_with_the_facilitys_reason():
    c, _, _ = client(outcome="command.rejected", reason="alert a1 was cleared already")
    r = c.post("/alerts/a1/acknowledge", headers=bearer("operator"))
    assert r.status_code == 409 and r.json()["error"] == "alert a1 was cleared already"


def test_a_command_the_projections_have_not_shown_yet_is_accepted_with_its_seq():
    c, _, _ = client(outcome=None)
    r = c.post("/recommendations/r1/approve", headers=bearer("operator"))
    assert r.status_code == 202 and r.json() == {"command_seq": 1, "status": "accepted"}


@pytest.mark.parametrize("path", ["/alerts/nope/acknowledge", "/recommendations/nope/reject"])
def test_unknown_ids_are_404_and_nothing_is_published(path):
    c, bus, _ = client()
    r = c.post(path, headers=bearer("operator"))
    assert r.status_code == 404 and "nope" in r.json()["error"]
    assert bus.published == []


@pytest.mark.parametrize("payload, status", [
    (b"not json", 400), (b'{"note": 5}', 422), (b'{"nope": "x"}', 422), (b"[]", 422),
])
def test_bad_bodies_say_what_is_wrong(payload, status):
    c, bus, _ = client()
    r = c.post("/alerts/a1/acknowledge", content=payload, headers=bearer("operator"))
    assert r.status_code == status and r.json()["error"]
    assert bus.published == []


def test_silences():
    c, bus, _ = client(outcome="silence.started")
    op = bearer("operator")
    r = c.post("/silences", json={"facility": "ccs-07", "sensor": "solvent_temp",
                                  "duration_s": 3600, "reason": "maintenance"}, headers=op)
    assert r.status_code == 200, r.text
    assert bus.published[0].until_ms == int(NOW * 1000) + 3_600_000
    assert c.post("/silences", json={"facility": "ccs-07", "sensor": "ghost",
                                     "duration_s": 60}, headers=op).status_code == 404
    assert c.post("/silences", json={"facility": "ccs-07"}, headers=op).status_code == 422
    assert c.post("/silences", json={"facility": "a.b", "duration_s": 1},
                  headers=op).status_code == 422
    assert len(bus.published) == 1


def test_reads_are_open_by_default_and_closed_by_setting():
    c, _, _ = client()
    assert c.get("/alerts").status_code == 200
    closed, _, _ = client(open_reads=False)
    assert closed.get("/alerts").status_code == 401
    assert closed.get("/alerts", headers=bearer("viewer")).json()["count"] == 1


def test_a_known_etag_is_304_only_to_a_caller_who_may_read():
    closed, _, _ = client(open_reads=False)
    seen = closed.get("/alerts", headers=bearer("viewer"))
    tag = seen.headers["etag"]
    assert closed.get("/alerts", headers={"If-None-Match": tag}).status_code == 401
    again = closed.get("/alerts", headers={**bearer("viewer"), "If-None-Match": tag})
    assert again.status_code == 304 and again.content == b""
    assert closed.get("/recommendations", headers={
        **bearer("viewer"), "If-None-Match": tag}).status_code == 200  # another answer


def test_read_views_and_time_travel():
    c, _, projections = client()
    assert c.get("/alerts/a1").json()["alert_id"] == "a1"
    assert c.get("/alerts/zz").status_code == 404
    assert c.get("/recommendations/pending").json()["count"] == 1
    assert projections.asked[-1] == ("recommendations", {
        "state": "pending", "facility": None, "limit": 100, "as_of_seq": None})
    assert c.get("/facilities/ccs-07").json()["facility"] == "ccs-07"
    assert c.get("/facilities/nope").status_code == 404
    c.get("/alerts", params={"as_of": "2026-01-01T00:00:00Z"})
    assert projections.asked[-2] == ("seq_at", {"time_ms": 1_767_225_600_000})
    assert projections.asked[-1][1]["as_of_seq"] == 42
    assert c.get("/hotspots", params={"as_of": "17"}).status_code == 200
    assert projections.asked[-1][1]["as_of_seq"] == 17
    for bad in ["yesterday", "2026-01-01T00:00:00"]:
        assert c.get("/alerts", params={"as_of": bad}).status_code == 400


def test_ledger_routes():
    c, _, _ = client()
    assert c.get("/ledger/proof", params={"event_id": "e7"}).json()["seq"] == 7
    assert c.get("/ledger/proof", params={"event_id": "zz"}).status_code == 404
    assert c.get("/ledger/proof").status_code == 400
    assert c.get("/ledger/proof/11").status_code == 404
    assert c.get("/ledger/consistency", params={"first": 3, "second": 9}).json()["second"] == 9
    assert c.get("/ledger/consistency", params={"first": 9, "second": 3}).status_code == 404
    assert c.get("/ledger/events", params={"from": 3, "to": 4}).json()["count"] == 2


def test_only_auditors_and_admins_export_and_they_get_the_bundle():
    def exporter(path):
        with open(path, "w") as fp:
            fp.write('{"format": "bundle"}\n')

    c, _, _ = client(exporter=exporter)
    assert c.get("/ledger/export").status_code == 401
    assert c.get("/ledger/export", headers=bearer("operator")).status_code == 403
    r = c.get("/ledger/export", headers=bearer("auditor"))
    assert r.status_code == 200 and r.text == '{"format": "bundle"}\n'


def test_the_openapi_spec_describes_every_route():
    c, _, _ = client()
    spec = c.get("/openapi.json").json()
    assert spec == json.loads(json.dumps(SPEC))
    served = {
        (route.path, method.lower())
        for route in c.app.routes if isinstance(route, Route)
        for method in route.methods - {"HEAD"}
    }
    described = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert served == described
