"""The whole loop on real parts: nats-server with JetStream, Ray actors, chDB, Ray Serve.

Readings go in as frames on READINGS; alerts come out of the ledger, the ClickHouse
projections and the HTTP API, and the exported ledger verifies.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from plumeline.events import (
    Frame,
    Manifest,
    SensorSpec,
    decode_record,
    encode_wire,
    readings_subject,
    verify_inclusion,
)
from plumeline.infra.cli.main import main
from plumeline.infra.runtime.nats import DEADLETTER, LEDGER, connect
from plumeline.infra.runtime.system import System
from plumeline.projections.webhooks import verify_signature
from plumeline.serve.tokens import TokenKey

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
FACILITY = "ccs-07"
SPECS = [
    SensorSpec(sensor="flue_co2", quantity="CO2 flow", unit="t/h", role="emitted"),
    SensorSpec(sensor="solvent_temp", quantity="temperature", unit="degC"),
]
PARTITIONS = 4


async def _publish(url: str, payloads: list[bytes], facility: str = FACILITY) -> None:
    nc = await connect(url)
    js = nc.jetstream()
    for payload in payloads:
        await js.publish(readings_subject(facility, PARTITIONS), payload)
    await nc.close()


def _wait(system: System, readings: int, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        stats = system.stats()
        done = stats["readings"] + stats["rejected"] >= readings
        if done and stats["projected"] == stats["ledger_size"] > 0:
            return stats
        assert time.monotonic() < deadline, f"pipeline stalled: {stats}"
        time.sleep(0.2)


def _frames(steps: range, temp, facility: str = FACILITY):
    return [
        encode_wire(Frame(
            facility=facility, sensors=["flue_co2", "solvent_temp"],
            times=[T0 + s * 1000] * 2, values=[400.0 + (s % 3), temp(s)],
        ))
        for s in steps
    ]


def test_injected_anomaly_reaches_ledger_projection_and_api(system, tmp_path):
    manifest = encode_wire(Manifest(facility=FACILITY, name="Capture plant 7", kind="ccs",
                                    sensors=SPECS, time=T0))
    # 120 quiet seconds, then the solvent overheats by 15 degC for 20 seconds
    frames = _frames(range(120), lambda s: 40.0 + 0.2 * (s % 5))
    frames += _frames(range(120, 140), lambda s: 55.0)
    asyncio.run(_publish(system.url_for("simulator"), [manifest, *frames]))
    _wait(system, readings=140 * 2)

    # the ledger holds the alert
    ledger = asyncio.run(_ledger_records(system.url_for("reader")))
    raised = [r for r in ledger if r.event.type == "alert.raised"]
    assert len(raised) == 1
    alert = raised[0].event.body
    assert (alert.facility, alert.sensor, alert.value) == (FACILITY, "solvent_temp", 55.0)
    assert raised[0].event.time == T0 + 122 * 1000  # third reading above threshold
    assert [r.seq for r in ledger] == list(range(1, len(ledger) + 1))

    # the projection and the API show it
    r = httpx.get(f"{system.http_url}/alerts", params={"facility": FACILITY}, timeout=30)
    assert r.status_code == 200
    items = r.json()["alerts"]
    assert [a["alert_id"] for a in items] == [alert.alert_id]
    assert items[0]["severity"] == alert.severity and items[0]["sensor"] == "solvent_temp"

    # the API proves the alert's record is in the signed tree
    head = httpx.get(f"{system.http_url}/ledger/head", timeout=30).json()
    proof = httpx.get(f"{system.http_url}/ledger/proof/{raised[0].seq}",
                      params={"tree_size": head["tree_size"]}, timeout=30).json()
    verify_inclusion(bytes.fromhex(proof["leaf_hash"]), proof["leaf_index"], proof["tree_size"],
                     [bytes.fromhex(h) for h in proof["audit_path"]],
                     bytes.fromhex(head["root_hash"]))

    # the exported ledger verifies
    bundle = tmp_path / "ledger.bundle"
    assert main(["export", "--data-dir", str(system.settings.data_dir), "-o", str(bundle)]) == 0
    assert main(["verify", str(bundle)]) == 0


def test_bad_input_is_deadlettered_with_a_reason_and_the_pipeline_goes_on(system):
    before = system.stats()
    bad = [b"\x00not msgpack", encode_wire(Frame(
        facility=FACILITY, sensors=["solvent_temp", "ghost"], times=[T0 + 500_000] * 2,
        values=[float("nan"), 1.0],
    ))]
    good = _frames(range(500, 501), lambda s: 40.0)
    asyncio.run(_publish(system.url_for("simulator"), bad + good))
    after = _wait(system, readings=before["readings"] + before["rejected"] + 3)
    assert after["rejected"] == before["rejected"] + 2

    async def dead():
        nc = await connect(system.url_for("reader"))
        js = nc.jetstream()
        info = await js.stream_info(DEADLETTER)
        msgs = [await js.get_msg(DEADLETTER, seq) for seq in
                range(info.state.first_seq, info.state.last_seq + 1)]
        await nc.close()
        return msgs

    reasons = [m.headers["Plumeline-Reason"] for m in asyncio.run(dead())]
    assert any(r.startswith("malformed frame") for r in reasons)
    assert any("unknown sensor" in r and "value not finite" in r for r in reasons)
    ledger = asyncio.run(_ledger_records(system.url_for("reader")))
    rejected = [r.event.body for r in ledger if r.event.type == "readings.rejected"]
    assert {"unknown sensor": 1, "value not finite": 1} in [b.reasons for b in rejected]


def test_bad_http_requests_get_a_4xx_with_a_message(system):
    for path, params in [
        ("/alerts", {"limit": "many"}),
        ("/alerts", {"state": "sleeping"}),
        ("/ledger/proof/abc", {}),
        ("/ledger/proof/999999", {}),
        ("/ledger/proof/1", {"tree_size": "0"}),
    ]:
        r = httpx.get(system.http_url + path, params=params, timeout=30)
        assert 400 <= r.status_code < 500, (path, params, r.status_code, r.text)
        assert r.json()["error"]


def test_an_operator_acknowledges_an_alert_over_http_and_the_ledger_names_them(system):
    facility = "ccs-09"
    manifest = encode_wire(Manifest(facility=facility, name="Capture plant 9", kind="ccs",
                                    sensors=SPECS, time=T0))
    frames = (_frames(range(120), lambda s: 40.0 + 0.2 * (s % 5), facility)
              + _frames(range(120, 130), lambda s: 55.0, facility))
    before = system.stats()
    asyncio.run(_publish(system.url_for("simulator"), [manifest, *frames], facility))
    _wait(system, readings=before["readings"] + before["rejected"] + 130 * 2)
    url = system.http_url
    [alert] = httpx.get(f"{url}/alerts", params={"facility": facility}, timeout=30).json()["alerts"]
    path = f"{url}/alerts/{alert['alert_id']}/acknowledge"
    key = TokenKey.load_or_create(system.settings.api_key_path)

    def bearer(role):
        return {"Authorization": f"Bearer {key.issue('ada', role, int(time.time()) + 600)}"}

    assert httpx.post(path, json={"note": "x"}, timeout=30).status_code == 401
    assert httpx.post(path, headers=bearer("viewer"), timeout=30).status_code == 403
    r = httpx.post(path, json={"note": "crew on the way"}, headers=bearer("operator"),
                   timeout=30)
    assert r.status_code in (200, 202), r.text

    deadline = time.monotonic() + 30
    while True:
        shown = httpx.get(f"{url}/alerts/{alert['alert_id']}", timeout=30).json()
        if shown["acknowledged"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert (shown["acknowledged"], shown["acknowledged_by"]) == (True, "ada")
    assert shown["acknowledged_note"] == "crew on the way"
    acks = [r.event.body for r in asyncio.run(_ledger_records(system.url_for("reader")))
            if r.event.type == "alert.acknowledged"]
    assert [(a.alert_id, a.user) for a in acks] == [(alert["alert_id"], "ada")]
    again = httpx.post(path, headers=bearer("operator"), timeout=30)
    assert again.status_code in (409, 202), again.text


def test_forecast_and_scenarios_are_404_until_the_projections_have_two_days(system):
    # a running system's projections answer the forecast query; minutes of history
    # are far from the two days a model needs, and the answer says so
    r = httpx.get(f"{system.http_url}/emissions/forecast", params={"facility": FACILITY},
                  timeout=30)
    assert r.status_code == 404 and "a forecast needs 48" in r.json()["error"], r.text
    r = httpx.post(f"{system.http_url}/simulate", timeout=30, json={
        "facility": FACILITY, "scenario": {"kind": "capture_outage"}})
    assert r.status_code == 404 and "no baseline" in r.json()["error"], r.text
def test_an_alert_reaches_a_webhook_signed_and_the_delivery_is_logged(system):
    got: list[tuple[dict, bytes]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            got.append((dict(self.headers), self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        facility = "ccs-12"
        secret = "whsec_" + base64.b64encode(b"the-receivers-secret-24-bytes").decode()
        key = TokenKey.load_or_create(system.settings.api_key_path)
        token = key.issue("ada", "operator", int(time.time()) + 600)
        operator = {"Authorization": f"Bearer {token}"}
        r = httpx.post(f"{system.http_url}/webhooks", headers=operator, timeout=30, json={
            "url": f"http://127.0.0.1:{receiver.server_port}/hook", "facility": facility,
            "secret": secret, "event_types": ["alert.raised"]})
        assert r.status_code == 201, r.text
        hook = r.json()["id"]
        manifest = encode_wire(Manifest(facility=facility, name="Capture plant 11", kind="ccs",
                                        sensors=SPECS, time=T0))
        frames = (_frames(range(120), lambda s: 40.0 + 0.2 * (s % 5), facility)
                  + _frames(range(120, 130), lambda s: 55.0, facility))
        asyncio.run(_publish(system.url_for("simulator"), [manifest, *frames], facility))

        deadline = time.monotonic() + 60
        while not got:
            assert time.monotonic() < deadline, "no webhook arrived"
            time.sleep(0.1)
        headers, body = got[0]
        assert verify_signature(secret, {k.lower(): v for k, v in headers.items()}, body,
                                time.time())
        sent = json.loads(body)
        assert sent["event_type"] == "alert.raised"
        assert headers["Idempotency-Key"] == sent["event_id"]
        summary = sent["summary"]
        assert (summary["facility"], summary["sensor"], summary["observed"]) == (
            facility, "solvent_temp", 55.0)

        while True:
            log = httpx.get(f"{system.http_url}/webhooks/{hook}/deliveries", headers=operator,
                            timeout=30).json()["deliveries"]
            if log or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert [(d["event_id"], d["status"], d["outcome"]) for d in log] == [
            (sent["event_id"], 204, "delivered")]
    finally:
        receiver.shutdown()
        receiver.server_close()


async def _ledger_records(url: str):
    from plumeline.actors import read_stream

    nc = await connect(url)
    js = nc.jetstream()
    last = (await js.stream_info(LEDGER)).state.last_seq
    records = [decode_record(m.data) async for m in read_stream(js, LEDGER, "ledger.records", 1,
                                                                  last)]
    await nc.close()
    return records


def test_frames_posted_over_http_are_processed_and_their_hour_is_reported(system):
    facility = "ccs-11"
    manifest = encode_wire(Manifest(facility=facility, name="Capture plant 11", kind="ccs",
                                    sensors=SPECS, time=T0))
    asyncio.run(_publish(system.url_for("simulator"), [manifest], facility))
    # a reading a minute for 61 minutes: the first hour closes with EmissionsMeasured
    frames = [{"facility": facility, "sensors": ["flue_co2", "solvent_temp"],
               "times": [T0 + m * 60_000] * 2, "values": [120.0, 40.0]} for m in range(62)]
    key = TokenKey.load_or_create(system.settings.api_key_path)

    def bearer(role):
        token = key.issue("ada", role, int(time.time()) + 600,
                          facilities=[facility] if role == "device" else ())
        return {"Authorization": f"Bearer {token}"}

    url = system.http_url
    before = system.stats()
    r = httpx.post(f"{url}/ingest", json=frames, headers=bearer("device"), timeout=30)
    assert r.status_code == 202, r.text
    assert r.json()["frames"] == 62 and r.json()["duplicates"] == 0
    _wait(system, readings=before["readings"] + before["rejected"] + 62 * 2)

    deadline = time.monotonic() + 30
    while True:
        now = {f["facility"]: f for f in httpx.get(f"{url}/emissions/current",
                                                   timeout=30).json()["facilities"]}
        if (now.get(facility) or {}).get("sealed") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    sealed = now[facility]["sealed"]
    assert (sealed["window_start_ms"], sealed["emitted_t"]) == (T0, 120.0)
    report = httpx.get(f"{url}/reports/emissions", headers=bearer("auditor"), timeout=30,
                       params={"from": T0, "to": T0 + 3_600_000}).json()
    [mine] = [f for f in report["facilities"] if f["facility"] == facility]
    assert mine["ledger_seqs"] == [sealed["seq"]]
    proof = httpx.get(f"{url}/ledger/proof/{sealed['seq']}", timeout=30)
    assert proof.status_code == 200

    metrics = httpx.get(f"{url}/metrics", timeout=30)
    assert metrics.status_code == 200
    assert 'plumeline_consumer_pending{partition="0"}' in metrics.text
    assert "plumeline_nats_reachable 1" in metrics.text
