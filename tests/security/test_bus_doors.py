"""Each door of the bus, as the attack it stops, on a real nats-server running the
configuration `plumeline up` generates (infra/runtime/nats_auth.py)."""

from __future__ import annotations

import asyncio
import json
import time

import nats
import paho.mqtt.client as mqtt
import pytest
from nats.js.errors import NotFoundError

from plumeline.events import Frame, encode_wire, readings_subject
from plumeline.infra.runtime.nats_auth import COMPONENTS
from tests.security.conftest import refused_as

PARTITIONS = 16
UNANSWERED = (TimeoutError, nats.errors.TimeoutError, nats.errors.NoRespondersError)


def _frame(facility: str) -> bytes:
    return encode_wire(Frame(facility=facility, sensors=["flue"], times=[1_000], values=[1.0]))


async def _stored(login, stream: str) -> list[str]:
    """The subjects of every message in `stream`, read as the read-only identity."""
    reader = await login("reader")
    try:
        last = (await reader.js.stream_info(stream)).state.last_seq
        found = []
        for seq in range(1, last + 1):
            try:
                found.append((await reader.js.get_msg(stream, seq)).subject)
            except NotFoundError:
                continue
        return found
    finally:
        await reader.nc.close()


def test_an_anonymous_connection_is_refused(bus):
    server, _, _ = bus

    async def anonymous():
        await nats.connect(server.url, allow_reconnect=False, max_reconnect_attempts=0,
                           connect_timeout=5)

    async def wrong_password():
        await nats.connect(server.url.replace("//", "//ledger:guess@"), allow_reconnect=False,
                           max_reconnect_attempts=0, connect_timeout=5)

    for attempt in (anonymous, wrong_password):
        with pytest.raises(Exception) as refused:
            asyncio.run(attempt())
        assert "authorization" in str(refused.value).lower() or isinstance(
            refused.value, nats.errors.NoServersError), refused.value


def test_a_shard_host_cannot_forge_ledger_records_nor_delete_or_purge_a_stream(bus):
    _, _, login = bus

    async def attack(shard):
        await shard.nc.publish("ledger.records", b"a forged record")
        await shard.nc.publish("ledger.heads", b"a forged tree head")
        for erase in (lambda: shard.js.delete_stream("LEDGER"),
                      lambda: shard.js.purge_stream("READINGS"),
                      lambda: shard.js.delete_msg("LEDGER", 1)):
            with pytest.raises(UNANSWERED):  # the server drops the request
                await erase()

    refused = refused_as(login, "shard", attack)
    for subject in ("ledger.records", "ledger.heads", "$js.api.stream.delete.ledger",
                    "$js.api.stream.purge.readings", "$js.api.stream.msg.delete.ledger"):
        assert any(subject in r for r in refused), (subject, refused)
    assert asyncio.run(_stored(bus[2], "LEDGER")) == []  # and LEDGER is still there
    assert asyncio.run(_stored(bus[2], "TREEHEADS")) == []


def test_no_identity_may_delete_or_purge_the_record(bus):
    _, credentials, login = bus

    async def attack(who):
        erased = await asyncio.gather(
            who.js.delete_stream("LEDGER"), who.js.purge_stream("LEDGER"),
            who.js.purge_stream("READINGS"), who.js.delete_stream("DEADLETTER"),
            return_exceptions=True)
        assert all(isinstance(e, UNANSWERED) for e in erased), erased

    for user in credentials:
        refused = refused_as(login, user, attack)
        assert len([r for r in refused if "permissions violation" in r]) == 4, (user, refused)


def test_only_the_ledger_writer_takes_append_requests(bus):
    _, credentials, login = bus

    async def listen(user: str):
        who = await login(user)
        heard = []

        async def hear(msg):
            heard.append(msg.data)

        await who.nc.subscribe("ledger.append", cb=hear)
        return who, heard

    async def attack():
        listeners = [await listen(user) for user in credentials]
        shard = await login("shard")
        await shard.nc.publish("ledger.append", b"envelopes")  # what a shard host sends
        await shard.nc.flush()
        for who, _ in listeners:
            await who.settle()
        await asyncio.sleep(0.5)  # a message let through would have arrived by now
        out = {who.nc.options["name"]: (heard, list(who.refused)) for who, heard in listeners}
        for who, _ in listeners + [(shard, None)]:
            await who.nc.close()
        return out

    for user, (heard, refused) in asyncio.run(attack()).items():
        if user == "ledger":
            assert heard == [b"envelopes"] and refused == []
        else:
            assert heard == [], user
            assert any("subscription to \"ledger.append\"" in r for r in refused), (user, refused)


def test_the_http_layer_cannot_append_to_the_ledger(bus):
    _, _, login = bus

    async def attack(serve):
        with pytest.raises(UNANSWERED):
            await serve.nc.request("ledger.append", b"envelopes", timeout=2)
        await serve.nc.publish("ledger.records", b"a forged record")

    refused = refused_as(login, "serve", attack)
    assert any('publish to "ledger.append"' in r for r in refused), refused
    assert any('publish to "ledger.records"' in r for r in refused), refused


def test_a_device_publishes_its_own_facility_only_on_nats(bus):
    _, _, login = bus
    own, other = readings_subject("ccs-01", PARTITIONS), readings_subject("ccs-02", PARTITIONS)
    wrong_partition = f"readings.{(int(own.split('.')[1]) + 1) % PARTITIONS}.ccs-01"

    async def attack(device):
        await device.js.publish(own, _frame("ccs-01"), timeout=5)  # its own: stored
        for subject in (other, wrong_partition, "ledger.append", "readings.>"):
            await device.nc.publish(subject, _frame("ccs-02"))

    refused = refused_as(login, "device-ccs-01", attack)
    for subject in (other, wrong_partition, "ledger.append", "readings.>"):
        assert any(f'publish to "{subject}"' in r for r in refused), (subject, refused)
    assert asyncio.run(_stored(bus[2], "READINGS")) == [own]


def test_a_device_publishes_its_own_facility_only_on_mqtt(bus, tmp_path):
    server, _, login = bus
    device = json.loads((tmp_path / "credentials" / "device-ccs-01.json").read_text())
    other = readings_subject("ccs-02", PARTITIONS)

    anonymous = _mqtt(server.mqtt_port, None)
    assert anonymous["connack"] != "Success"

    sent = _mqtt(server.mqtt_port, device, [device["mqtt_topic"], other.replace(".", "/")])
    assert sent["connack"] == "Success"
    # the server acknowledges a refused QoS 1 publish all the same, and drops it
    assert asyncio.run(_stored(login, "READINGS")) == [device["subject"]]


def _mqtt(port: int, device: dict | None, topics: list[str] = ()) -> dict:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"meter-{time.monotonic_ns()}")
    if device is not None:
        client.username_pw_set(device["user"], device["password"])
    seen: dict = {}
    connected = __import__("threading").Event()

    def on_connect(_client, _userdata, _flags, reason, _props):
        seen["connack"] = str(reason)
        connected.set()

    client.on_connect = on_connect
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        connected.wait(10)
        for topic in topics:
            client.publish(topic, _frame("ccs-01"), qos=1).wait_for_publish(timeout=10)
    finally:
        client.disconnect()
        client.loop_stop()
    return seen


def test_every_component_has_an_identity_and_no_one_reads_anothers_replies(bus):
    _, credentials, login = bus
    assert set(COMPONENTS) <= set(credentials)

    async def attack(device):
        await device.nc.subscribe("_INBOX.notifier.>")  # KV answers: webhook secrets
        await device.nc.subscribe("$KV.WEBHOOKS.>")

    refused = refused_as(login, "device-ccs-01", attack)
    assert any('subscription to "_inbox.notifier.>"' in r for r in refused), refused
    assert any('subscription to "$kv.webhooks.>"' in r for r in refused), refused


def test_a_logged_url_shows_no_password(bus):
    from plumeline.events import redact
    from plumeline.infra.runtime.nats_auth import url_as

    _, credentials, _ = bus
    url = url_as("nats://127.0.0.1:4222,nats://10.0.0.2:4222", credentials["ledger"])
    assert credentials["ledger"].password in url  # what the ledger writer connects with
    assert redact(url) == "nats://ledger:***@127.0.0.1:4222,nats://ledger:***@10.0.0.2:4222"
    assert redact("nats://s3cr3t-token@nats-1:4222") == "nats://***@nats-1:4222"
