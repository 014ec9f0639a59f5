"""The webhook routes over a toy notifier: who may use them, what a bad request gets."""

from __future__ import annotations

import msgspec
import pytest
from starlette.testclient import TestClient

from plumeline.serve.app import build_app
from plumeline.serve.tokens import TokenKey

KEY = TokenKey(b"k" * 32)
NOW = 1_767_225_600.0


def bearer(role: str) -> dict:
    return {"Authorization": f"Bearer {KEY.issue('ada', role, int(NOW + 60))}"}


class Subscriptions:
    """Keeps subscriptions in a dict, as the notifier keeps them in NATS KV."""

    def __init__(self):
        self.subs: dict[str, dict] = {}
        self.users: list[str] = []

    async def subscribe(self, request, user):
        self.users.append(user)
        sub = {"id": f"wh_{len(self.subs) + 1}", **msgspec.to_builtins(request)}
        self.subs[sub["id"]] = sub
        return sub

    async def subscriptions(self):
        return list(self.subs.values())

    async def subscription(self, subscription):
        return self.subs.get(subscription)

    async def unsubscribe(self, subscription):
        return self.subs.pop(subscription, None) is not None

    async def deliveries(self, subscription, limit):
        if subscription not in self.subs:
            return None
        return [{"attempt": n} for n in range(min(limit, 3), 0, -1)]


def client(webhooks=None) -> tuple[TestClient, Subscriptions]:
    subs = webhooks or Subscriptions()
    return TestClient(build_app(None, None, webhooks=subs, verify=KEY.verify,
                                clock=lambda: NOW)), subs


def test_an_operator_subscribes_reads_and_deletes():
    c, subs = client()
    op = bearer("operator")
    r = c.post("/webhooks", json={"url": "https://x.org/h", "facility": "ccs-07"}, headers=op)
    assert r.status_code == 201 and r.headers["location"] == "/webhooks/wh_1"
    assert subs.users == ["ada"] and subs.subs["wh_1"]["facility"] == "ccs-07"
    assert c.get("/webhooks", headers=op).json()["count"] == 1
    assert c.get("/webhooks/wh_1", headers=op).json()["url"] == "https://x.org/h"
    r = c.get("/webhooks/wh_1/deliveries?limit=2", headers=op)
    assert r.json() == {"webhook": "wh_1", "deliveries": [{"attempt": 2}, {"attempt": 1}],
                        "count": 2}
    assert c.delete("/webhooks/wh_1", headers=op).status_code == 204
    for method, path in [("GET", "/webhooks/wh_1"), ("DELETE", "/webhooks/wh_1"),
                         ("GET", "/webhooks/wh_1/deliveries")]:
        r = c.request(method, path, headers=op)
        assert r.status_code == 404 and "wh_1" in r.json()["error"]


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/webhooks"), ("GET", "/webhooks"), ("GET", "/webhooks/wh_1"),
    ("DELETE", "/webhooks/wh_1"), ("GET", "/webhooks/wh_1/deliveries")])
def test_webhooks_need_an_operator_or_admin(method, path):
    c, subs = client()
    body = {"json": {"url": "https://x.org/h"}} if method == "POST" else {}
    assert c.request(method, path, **body).status_code == 401
    for role in ("viewer", "auditor"):
        assert c.request(method, path, headers=bearer(role), **body).status_code == 403
    assert c.request(method, path, headers=bearer("admin"), **body).status_code != 403


@pytest.mark.parametrize(("raw", "status", "says"), [
    (b"{", 400, "not JSON"),
    (b'{"severities": ["major"]}', 422, "url"),
    (b'{"url": "ftp://x.org/h"}', 422, "http or https"),
    (b'{"url": "https://x.org/h", "event_types": ["alert.deleted"]}', 422, "event_types"),
    (b'{"url": "https://x.org/h", "secret": "short"}', 422, "secret"),
    (b'{"url": "https://x.org/h", "colour": "red"}', 422, "colour"),
])
def test_bad_subscriptions_say_what_is_wrong_and_store_nothing(raw, status, says):
    c, subs = client()
    r = c.post("/webhooks", content=raw, headers=bearer("operator"))
    assert r.status_code == status and says in r.json()["error"]
    assert subs.subs == {}


def test_a_bad_limit_is_a_400():
    c, _ = client()
    c.post("/webhooks", json={"url": "https://x.org/h"}, headers=bearer("operator"))
    for bad in ("0", "x", "1001"):
        r = c.get(f"/webhooks/wh_1/deliveries?limit={bad}", headers=bearer("operator"))
        assert r.status_code == 400 and "limit" in r.json()["error"]


def test_a_deployment_without_a_notifier_says_so():
    c = TestClient(build_app(None, None, verify=KEY.verify, clock=lambda: NOW))
    r = c.get("/webhooks", headers=bearer("operator"))
    assert r.status_code == 503 and "no webhooks" in r.json()["error"]
