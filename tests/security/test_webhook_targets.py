"""Webhooks cannot be turned on the inside: internal targets are refused when
subscribed and again at every connection (a name rebound to 127.0.0.1 after it was
subscribed), the delivery log says what happened in classes only, and deliveries are
signed so that a receiver can refuse a replay."""

from __future__ import annotations

import asyncio
import base64
import time

import httpx
import pytest

from plumeline.actors import LedgerWriter
from plumeline.infra.runtime.nats import connect, ensure_streams
from plumeline.projections.outbound.notifier import Notifier
from plumeline.projections.outbound.webhook_targets import (
    PinnedTransport,
    TargetRefused,
    checked_addresses,
    refusal,
)
from plumeline.projections.webhooks import RetryPolicy, sign, verify_signature
from tests.projections.test_notifier import OPERATOR, Receiver, api_of, append, eventually
from tests.projections.test_webhooks import RAISED

PUBLIC = "93.184.216.34"


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.8.9.10", "0.0.0.0", "10.0.0.5", "172.16.3.4", "192.168.1.1",
    "169.254.169.254", "100.64.0.1", "224.0.0.251", "240.0.0.1", "255.255.255.255",
    "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "2002:7f00:1::1",
])
def test_an_internal_address_is_refused(address):
    assert refusal(address) is not None


@pytest.mark.parametrize("address", [PUBLIC, "1.1.1.1", "2606:4700:4700::1111"])
def test_a_public_address_is_a_target(address):
    assert refusal(address) is None


def test_a_name_is_refused_if_any_of_its_addresses_is_internal():
    async def resolver(host, port):
        return {"mixed.test": [PUBLIC, "10.0.0.7"], "fine.test": [PUBLIC],
                "nowhere.test": []}[host]

    async def go():
        assert await checked_addresses("fine.test", 443, resolver) == [PUBLIC]
        with pytest.raises(TargetRefused, match="10.0.0.7"):
            await checked_addresses("mixed.test", 443, resolver)
        with pytest.raises(TargetRefused, match="does not resolve"):
            await checked_addresses("nowhere.test", 443, resolver)
        with pytest.raises(TargetRefused, match="loopback"):
            await checked_addresses("[::1]", 80, resolver)
        assert await checked_addresses("mixed.test", 443, resolver, allow_private=True)
    asyncio.run(go())


def test_the_real_resolver_finds_localhost_internal():
    from plumeline.projections.outbound.webhook_targets import system_resolver

    async def go():
        with pytest.raises(TargetRefused, match="loopback"):
            await checked_addresses("localhost", 80, system_resolver)
    asyncio.run(go())


def test_a_pinned_connection_goes_to_the_checked_address_with_the_name_kept():
    """Allowed (a lab): the request reaches the address the name resolved to, and the
    receiver sees the name in Host."""
    async def go():
        async with Receiver({"/hook": [204]}) as receiver:
            async def resolver(host, port):
                return ["127.0.0.1"] if host == "receiver.test" else []
            transport = PinnedTransport(resolver, allow_private=True)
            async with httpx.AsyncClient(transport=transport) as client:
                r = await client.post(f"http://receiver.test:{receiver.port}/hook", content=b"x")
            assert r.status_code == 204
            [(headers, body)] = receiver.got["/hook"]
            assert headers["host"] == f"receiver.test:{receiver.port}" and body == b"x"
            transport = PinnedTransport(resolver)  # not allowed: nothing is sent
            async with httpx.AsyncClient(transport=transport) as client:
                with pytest.raises(TargetRefused):
                    await client.post(f"http://receiver.test:{receiver.port}/hook")
            assert len(receiver.got["/hook"]) == 1
    asyncio.run(go())


def test_signatures_are_standard_webhooks_and_a_changed_timestamp_fails():
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    body, now = b'{"event_type": "alert.raised"}', int(time.time())
    headers = {"webhook-id": "e1", "webhook-timestamp": str(now),
               "webhook-signature": sign(secret, "e1", now, body)}
    assert verify_signature(secret, headers, body, now)
    assert not verify_signature(secret, {**headers, "webhook-timestamp": str(now + 1)}, body,
                                now)
    assert not verify_signature(secret, {**headers, "webhook-id": "e2"}, body, now)
    assert not verify_signature(secret, headers, body + b" ", now)
    # a delivery captured and sent again later: its signed timestamp is too old
    assert not verify_signature(secret, headers, body, now + 301)
    other = "whsec_" + base64.b64encode(b"j" * 32).decode()
    assert not verify_signature(other, headers, body, now)


def test_internal_targets_are_refused_at_subscription_and_at_connect_time(nats_server,
                                                                           tmp_path):
    asyncio.run(asyncio.wait_for(_scenario(nats_server.url, str(tmp_path / "ledger.key")), 90))


async def _scenario(url: str, key_path: str) -> None:
    nc = await connect(url)
    await ensure_streams(nc.jetstream())
    ledger = LedgerWriter(url, key_path)
    await ledger.start()
    names = {"rebound.test": [PUBLIC], "localhost": ["127.0.0.1", "::1"]}

    async def resolver(host, port):
        return names[host]

    async with Receiver({"/hook": [204]}) as receiver:
        notifier = Notifier(url, retry=RetryPolicy(base_s=0.05, max_attempts=2),
                            idle_s=0.05, timeout_s=2.0, resolver=resolver)
        await notifier.start()
        async with api_of(notifier) as api:
            for target in ("http://127.0.0.1:1/", "http://169.254.169.254/latest/meta-data",
                           "http://[::1]:8000/", "http://[::ffff:127.0.0.1]:4222/",
                           "http://10.1.2.3/hook", f"http://localhost:{receiver.port}/hook"):
                r = await api.post("/webhooks", json={"url": target}, headers=OPERATOR)
                assert r.status_code == 422, (target, r.text)
                assert "refused" in r.json()["error"], r.text
            assert (await api.get("/webhooks", headers=OPERATOR)).json()["count"] == 0

            # public when subscribed, 127.0.0.1 when the delivery connects
            r = await api.post("/webhooks", headers=OPERATOR, json={
                "url": f"http://rebound.test:{receiver.port}/hook"})
            assert r.status_code == 201, r.text
            hook = r.json()["id"]
            names["rebound.test"] = ["127.0.0.1"]
            await append(ledger, RAISED, 1)

            async def logged():
                r = await api.get(f"/webhooks/{hook}/deliveries", headers=OPERATOR)
                found = r.json()["deliveries"]
                return found if len(found) == 2 else None
            log = await eventually(logged)
            assert [(d["result"], d["status"], d["outcome"]) for d in log] == [
                ("refused_target", None, "failed"), ("refused_target", None, "retry")]
            assert all(set(d) >= {"result"} and "error" not in d for d in log)
            assert receiver.got["/hook"] == []  # nothing reached the inside
        await notifier.stop()
    await ledger.stop()
    await nc.close()


def test_private_targets_are_a_lab_setting_off_by_default():
    from plumeline.infra.cli.main import _parser
    from plumeline.infra.runtime.settings import Settings

    lab = _parser().parse_args(["up", "--allow-private-webhooks"])
    plant = _parser().parse_args(["up"])
    assert Settings.from_env(allow_private_webhooks=lab.allow_private_webhooks
                             ).allow_private_webhooks is True
    assert Settings.from_env(allow_private_webhooks=plant.allow_private_webhooks
                             ).allow_private_webhooks is False
    assert Notifier("nats://127.0.0.1:1").allow_private is False
