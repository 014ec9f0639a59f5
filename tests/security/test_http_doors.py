"""Doors an attacker tried on the HTTP API, answered by the app itself: forged and
foreign tokens, closed reads, oversized bodies, the page's framing and CSV formulas."""

from __future__ import annotations

import csv
import io

import pytest
from starlette.testclient import TestClient

from plumeline.serve.app import build_app
from plumeline.serve.tokens import KeyRing, TokenKey
from tests.serve.test_tokens import forged, public_pem

KEY, OLD = TokenKey(b"h" * 32), TokenKey(b"o" * 32)
NOW = 1_767_225_600


def bearer(role: str, key: TokenKey = KEY, expires: int = NOW + 600) -> dict:
    return {"Authorization": f"Bearer {key.issue('ada', role, expires, issued_s=NOW)}"}


class Reads:
    """Every query answers a list, or the report below."""

    report: dict = {}

    async def query(self, name, **params):
        return self.report if name == "emissions_report" else []


class Head:
    async def head(self):
        return {"tree_size": 0}


class Posted:
    def __init__(self) -> None:
        self.frames: list = []

    async def publish_frames(self, frames):
        self.frames += frames
        return [(i + 1, False) for i in range(len(frames))]


def client(*, ring: KeyRing | None = None, open_reads: bool = True, **options) -> TestClient:
    ring = ring or KeyRing({KEY.kid: KEY.public, OLD.kid: OLD.public})
    app = build_app(Reads(), Head(), verify=ring.verify, open_reads=open_reads,
                    clock=lambda: NOW, **options)
    return TestClient(app)


def test_forged_expired_and_retired_tokens_get_401():
    c = client(open_reads=False)
    assert c.get("/alerts", headers=bearer("viewer")).status_code == 200
    for token in (forged("none", None, KEY, NOW), forged("HS256", public_pem(KEY), KEY, NOW)):
        r = c.get("/alerts", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401 and "alg" in r.json()["error"], r.text
    expired = c.get("/alerts", headers=bearer("viewer", expires=NOW))
    assert expired.status_code == 401 and "expired" in expired.json()["error"]
    # a rotated-out key's tokens work while its public key is accepted, then stop
    assert c.get("/alerts", headers=bearer("viewer", OLD)).status_code == 200
    retired = client(ring=KEY.ring(), open_reads=False)
    r = retired.get("/alerts", headers=bearer("viewer", OLD))
    assert r.status_code == 401 and "retired" in r.json()["error"]
    # a token of the old HMAC format is not a JWT: refused, not an error
    old_format = "eyJ1IjoiYWRhIn0.c2lnbmF0dXJl"
    assert c.get("/alerts", headers={"Authorization": f"Bearer {old_format}"}).status_code == 401


@pytest.mark.parametrize("header", [b"Bearer \xc3\xa9t\xc3\xa9", b"Bearer \xff\xfe",
                                    b"B\xe9arer abc", b"Bearer abc.d\xe9f.ghi"])
def test_a_non_ascii_authorization_header_is_401_not_500(header):
    r = client().get("/alerts", headers={"Authorization": header})
    assert r.status_code == 401 and "error" in r.json()


def test_closed_reads_refuse_anonymous_callers_and_admit_viewers():
    c = client(open_reads=False)
    for path in ("/alerts", "/facilities", "/ledger/head", "/emissions/current", "/metrics",
                 "/stream"):
        r = c.get(path)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", path
    assert c.post("/simulate", json={}).status_code == 401
    assert c.get("/alerts", headers=bearer("viewer")).status_code == 200
    assert client().get("/alerts").status_code == 200  # the demo default: open reads
    assert c.get("/").status_code == 200  # the page itself holds no data: it asks for a token


def test_a_device_posts_only_for_its_own_facilities():
    intake = Posted()
    c = TestClient(build_app(Reads(), Head(), intake=intake, verify=KEY.verify,
                             clock=lambda: NOW))
    token = KEY.issue("stack-7", "device", NOW + 600, issued_s=NOW, facilities=["f1"])
    device = {"Authorization": f"Bearer {token}"}

    def frame(facility):
        return {"facility": facility, "sensors": ["s"], "times": [NOW * 1000], "values": [1.0]}

    r = c.post("/ingest", json=[frame("f1"), frame("f9")], headers=device)
    assert r.status_code == 403 and "may not post for f9" in r.json()["error"]
    assert intake.frames == []  # nothing of the refused request went out
    assert c.post("/ingest", json=frame("f1"), headers=device).status_code == 202
    assert [f for f, _, _ in intake.frames] == ["f1"]


def test_bodies_over_the_limit_are_413_declared_or_streamed():
    c = client(max_body=1024)
    big = b"{" + b" " * 5_000_000 + b"}"
    r = c.post("/simulate", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "over 1024 bytes" in r.json()["error"]

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(100):
            yield b" " * 512

    r = c.post("/simulate", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "over 1024 bytes" in r.json()["error"]
    assert c.post("/silences", content=big, headers=bearer("operator")).status_code == 413
    assert c.get("/alerts").status_code == 200
    ingest = client(max_body=1024, max_ingest_body=4096)
    r = ingest.post("/ingest", content=b" " * 2048, headers=bearer("operator"))
    assert r.status_code == 400  # under /ingest's own limit: read, and not JSON


def test_the_page_may_not_be_framed_and_runs_only_its_own_scripts():
    r = client().get("/")
    csp = {d.split()[0]: d.split()[1:] for d in r.headers["content-security-policy"].split("; ")}
    assert csp["frame-ancestors"] == ["'none'"] and csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"] and "'unsafe-inline'" not in csp["style-src"]
    assert r.headers["x-frame-options"] == "DENY"
    assert "<script>" not in r.text and " style=" not in r.text  # nothing inline to allow


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised():
    Reads.report = {"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z", "facilities": [
        {"facility": "=HYPERLINK(\"http://x\")", "emitted_t": -1.5, "captured_t": 1.0,
         "stored_t": 1.0, "vented_t": 0.5, "capture_efficiency": 0.4, "readings": 3,
         "ledger_seqs": [4], "windows": [
             {"window_start": "+cmd", "window_end": "@SUM(A1)", "emitted_t": 1.0,
              "captured_t": 1.0, "stored_t": 1.0, "vented_t": 0.0, "capture_efficiency": 1.0,
              "readings": 3, "seq": 4, "event_id": "-2+3", "readings_first_seq": 1,
              "readings_last_seq": "\tx"}]}]}
    try:
        r = client().get("/reports/emissions?from=0&to=1&format=csv", headers=bearer("auditor"))
    finally:
        Reads.report = {}
    assert r.status_code == 200
    window, total = list(csv.reader(io.StringIO(r.text)))[1:3]
    assert window[1:4] == ["'=HYPERLINK(\"http://x\")", "'+cmd", "'@SUM(A1)"]
    assert window[11] == "'-2+3" and window[13] == "'\tx"
    assert total[1].startswith("'=") and total[4] == "-1.5"  # numbers are written as they are
