"""Rate limits: a burst from one identity is answered 429 with Retry-After, while other
identities, addresses and devices keep their own buckets."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from plumeline.infra.runtime.errors import UserError
from plumeline.infra.runtime.settings import Settings
from plumeline.serve.app import build_app
from plumeline.serve.ratelimit import Rate, Rates
from tests.serve.test_api import KEY, NOW, Ledger, Projections, bearer


class Intake:
    async def publish_frames(self, frames):
        return [(i + 1, False) for i in range(len(frames))]


def client(rates: Rates, address: str = "10.1.1.1") -> TestClient:
    app = build_app(Projections(), Ledger(), verify=KEY.verify, intake=Intake(),
                    clock=lambda: NOW, rates=rates)
    return TestClient(app, client=(address, 4000))


# refilling one request in a hundred seconds: nothing comes back within a test
SLOW = Rate(0.01, 3)


def test_one_identitys_burst_is_429_with_retry_after_and_others_go_on():
    c = client(Rates(identity=SLOW))
    ada, bob = bearer("viewer"), {"Authorization": "Bearer " + KEY.issue(
        "bob", "viewer", int(NOW) + 600)}
    assert [c.get("/alerts", headers=ada).status_code for _ in range(3)] == [200] * 3
    r = c.get("/alerts", headers=ada)
    assert r.status_code == 429 and "too many requests" in r.json()["error"]
    assert 1 <= int(r.headers["retry-after"]) <= 100
    # a command of the same identity is limited as well: every route is
    assert c.post("/alerts/a1/acknowledge", headers=ada).status_code == 429
    assert c.get("/alerts", headers=bob).status_code == 200  # a bucket of its own


def test_an_address_is_limited_whoever_asks_from_it():
    c = client(Rates(address=SLOW))
    assert [c.get("/alerts").status_code for _ in range(3)] == [200] * 3
    assert c.get("/alerts").status_code == 429
    assert c.get("/alerts", headers=bearer("viewer")).status_code == 429
    assert c.post("/auth/login", json={"username": "a", "password": "b"}).status_code == 429
    other = TestClient(c.app, client=("10.2.2.2", 4000))
    assert other.get("/alerts").status_code == 200


def test_a_device_is_limited_on_ingest_by_its_own_rate():
    c = client(Rates(device=SLOW))
    token = {"Authorization": "Bearer " + KEY.issue("stack-7", "device", int(NOW) + 600,
                                                    facilities=["ccs-07"])}
    frame = {"facility": "ccs-07", "sensors": ["t"], "times": [int(NOW * 1000)], "values": [1.0]}
    codes = [c.post("/ingest", headers=token, json=frame).status_code for _ in range(4)]
    assert codes == [202, 202, 202, 429]
    # an operator posting for the same facility is not that device
    assert c.post("/ingest", headers=bearer("operator"), json=frame).status_code == 202


def test_rates_come_from_configuration(monkeypatch):
    assert Rates.parse("identity=5/10, device=2") == Rates(identity=Rate(5, 10),
                                                          device=Rate(2, 2))
    for bad in ("people=5/10", "identity=fast", "address=0/10", "identity=5/0"):
        with pytest.raises(ValueError):
            Rates.parse(bad)
    monkeypatch.setenv("PLUMELINE_RATE_LIMITS", "address=50/100")
    assert Settings.from_env().http_limits == {"rates": Rates(address=Rate(50, 100))}
    monkeypatch.setenv("PLUMELINE_RATE_LIMITS", "address=lots")
    with pytest.raises(UserError, match="PLUMELINE_RATE_LIMITS"):
        Settings.from_env()
