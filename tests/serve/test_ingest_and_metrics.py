"""POST /ingest onto a real nats-server's READINGS, and /metrics reading the same
server, the ledger view and chDB projections."""

from __future__ import annotations

import re

import pytest
from nats.js import api
from starlette.testclient import TestClient

from plumeline.events import Frame, decode_wire, frame_lists, readings_subject
from plumeline.serve.app import build_app
from plumeline.serve.commands import BusPublisher
from plumeline.serve.ingest import MAX_FRAMES
from plumeline.serve.tokens import TokenKey
from tests.projections.conftest import STORY, T0

KEY = TokenKey(b"k" * 32)
NOW = T0 / 1000 + 60


def bearer(role: str, facilities: tuple[str, ...] = ("f1",)) -> dict:
    token = KEY.issue("ada", role, int(NOW) + 60,
                      facilities=facilities if role == "device" else ())
    return {"Authorization": f"Bearer {token}"}


def frame(i: int, facility: str = "f1") -> dict:
    return {"facility": facility, "sensors": ["s1", "s2"], "times": [T0 + i, T0 + i],
            "values": [1.5 * i, 2.0]}


@pytest.fixture
def app(projected, nats_server, js_run):
    async def shard_consumer(js):  # what a shard host owning partition p of f1 makes
        p = readings_subject("f1", 16).split(".")[1]
        await js.add_consumer("READINGS", api.ConsumerConfig(
            durable_name=f"shard-p{p}", filter_subject=f"readings.{p}.>",
            ack_policy=api.AckPolicy.ALL))

    js_run(shard_consumer)
    reader, ledger = projected(STORY)
    publisher = BusPublisher(nats_server.url, 16)
    now = [NOW]
    with TestClient(build_app(reader, ledger, intake=publisher, verify=KEY.verify,
                              clock=lambda: now[0])) as client:
        client.now = now
        yield client
        client.portal.call(publisher.close)


def readings(js_run) -> list:
    async def fetch(js):
        sub = await js.pull_subscribe("readings.>", stream="READINGS")
        try:
            return await sub.fetch(100, timeout=1.0)
        except TimeoutError:
            return []

    return js_run(fetch)


def test_frames_land_on_their_facilitys_subject_once(app, js_run):
    r = app.post("/ingest", json=frame(1), headers=bearer("device"))
    assert r.status_code == 202, r.text
    assert r.json() == {"frames": 1, "seqs": [1], "duplicates": 0}
    many = app.post("/ingest", json=[frame(1), frame(2), frame(3, "f2")],
                    headers=bearer("operator"))
    assert many.status_code == 202 and many.json()["seqs"] == [1, 2, 3]
    assert many.json()["duplicates"] == 1  # frame(1) again: JetStream kept the first
    msgs = readings(js_run)
    assert [m.subject for m in msgs] == [readings_subject(f, 16) for f in ("f1", "f1", "f2")]
    assert frame_lists(decode_wire(msgs[1].data)) == Frame(**frame(2))  # packed once
    assert msgs[0].headers["Nats-Msg-Id"] != msgs[1].headers["Nats-Msg-Id"]


def test_who_may_ingest(app):
    assert app.post("/ingest", json=frame(1)).status_code == 401
    for role in ("viewer", "auditor"):
        assert app.post("/ingest", json=frame(1), headers=bearer(role)).status_code == 403
    assert app.post("/ingest", json=frame(1), headers=bearer("admin")).status_code == 202
    assert app.get("/alerts", headers=bearer("device")).status_code == 403


def test_a_device_posts_only_for_the_facilities_its_token_names(app, js_run):
    r = app.post("/ingest", json=[frame(1), frame(2, "f2")], headers=bearer("device"))
    assert r.status_code == 403 and "may not post for f2" in r.json()["error"], r.text
    assert js_run(lambda js: js.stream_info("READINGS")).state.messages == 0
    both = bearer("device", ("f1", "f2"))
    assert app.post("/ingest", json=[frame(1), frame(2, "f2")], headers=both).status_code == 202


@pytest.mark.parametrize("body, status, says", [
    (b"{not json", 400, "not JSON"),
    (b'{"facility": "f1"}', 422, "missing required field"),
    (b"[]", 422, "no frames"),
    (b'{"facility": "f.1", "sensors": [], "times": [], "values": []}', 422, "facility"),
    (b'{"facility": "f1", "sensors": ["a"], "times": [], "values": [1]}', 422, "differ"),
    (b'{"type": "manifest", "facility": "f1", "sensors": [], "times": [], "values": []}',
     422, "type"),
    (b"[" + b",".join([b'{"facility":"f","sensors":[],"times":[],"values":[]}']
                      * (MAX_FRAMES + 1)) + b"]", 413, "at most"),
])
def test_bad_bodies_are_refused_with_a_reason_and_nothing_is_published(
        app, js_run, body, status, says):
    r = app.post("/ingest", content=body, headers=bearer("device"))
    assert r.status_code == status and says in r.json()["error"], r.text
    assert js_run(lambda js: js.stream_info("READINGS")).state.messages == 0


def test_a_body_over_the_limit_is_413(app):
    r = app.post("/ingest", content=b" " * (4 * 1024 * 1024 + 1), headers=bearer("device"))
    assert r.status_code == 413


_SAMPLE = re.compile(r'^([a-z_]+)(?:\{(.*)\})? (-?[0-9.e+]+)$')


def parse(text: str) -> dict[tuple[str, tuple], float]:
    """The exposition format's lines: comments name and type families, samples are
    `name{label="value",...} number`; anything else is an error."""
    out, typed = {}, set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            name, kind = line.split()[2:4]
            assert kind in ("gauge", "counter"), line
            typed.add(name)
            continue
        if line.startswith("# HELP "):
            continue
        m = _SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        assert m[1] in typed, f"{m[1]} has no TYPE line before it"
        labels = tuple(re.findall(r'([a-z_]+)="((?:[^"\\]|\\.)*)"', m[2] or ""))
        out[(m[1], labels)] = float(m[3])
    return out


def test_metrics_parse_and_show_ledger_projections_alerts_and_lag(app):
    assert app.post("/ingest", json=[frame(i) for i in range(5)],
                    headers=bearer("device")).status_code == 202
    r = app.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith(
        "text/plain; version=0.0.4")
    m = parse(r.text)
    assert m[("plumeline_ledger_records", ())] == len(STORY)
    assert m[("plumeline_projection_lag_records", (("projection", "ledger"),))] == 0
    assert m[("plumeline_projection_lag_records", (("projection", "readings"),))] == 5
    assert m[("plumeline_alerts", (("state", "active_unacknowledged"),))] == 1  # a2
    assert m[("plumeline_alerts", (("state", "cleared"),))] == 1  # a1
    p = readings_subject("f1", 16).split(".")[1]
    assert m[("plumeline_consumer_pending", (("partition", p),))] == 5
    assert m[("plumeline_readings_stream_messages", ())] == 5
    assert ("plumeline_readings_per_second", ()) not in m  # needs a previous scrape
    app.now[0] += 10
    again = parse(app.get("/metrics").text)
    assert again[("plumeline_readings_per_second", ())] == 0.0

