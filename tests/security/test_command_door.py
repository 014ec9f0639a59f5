"""Operator commands have a door of their own: `readings.<p>.<f>.command`, which only
the HTTP layer may publish to. A device may publish its facility's readings subject;
before, a command published there reached the facility's actor with any `user` in it.
Now the bus refuses the device the command subject, and a command that arrives on a
readings subject anyway (from the simulator's identity, or on a bus without
permissions) is dead-lettered and changes nothing, live and on replay alike."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from plumeline.actors import Derivation, FacilityConfig, Lane, ShardHost
from plumeline.events import (
    AcknowledgeAlert,
    CommandRejected,
    Frame,
    Manifest,
    SensorSpec,
    SilenceSensor,
    command_subject,
    decode_envelopes,
    encode_wire,
    partition_of,
    readings_subject,
)
from plumeline.infra.runtime.nats_auth import url_as
from tests.security.conftest import refused_as
from tests.security.test_bus_doors import _mqtt, _stored

PARTITIONS = 16
T0 = 1_767_225_600_000
OWN = partition_of("ccs-01", PARTITIONS)
READINGS_SUBJECT = readings_subject("ccs-01", PARTITIONS)
COMMAND_SUBJECT = command_subject("ccs-01", PARTITIONS)
MANIFEST = encode_wire(Manifest(facility="ccs-01", name="CCS 1", kind="ccs", time=T0,
                                sensors=[SensorSpec("flue_co2", "CO2 flow", "t/h", "emitted")]))
FRAME = encode_wire(Frame(facility="ccs-01", sensors=["flue_co2"], times=[T0], values=[1.0]))


def _ack(user: str) -> bytes:
    return encode_wire(AcknowledgeAlert(facility="ccs-01", alert_id="a1", user=user, time=T0))


def _silence(user: str) -> bytes:
    return encode_wire(SilenceSensor(facility="ccs-01", user=user, time=T0,
                                      until_ms=T0 + 86_400_000, reason="quiet, please"))


def test_the_command_subject_is_the_facilitys_own_under_its_readings_subject():
    assert command_subject("ccs-01", PARTITIONS) == f"readings.{OWN}.ccs-01.command"
    assert COMMAND_SUBJECT.startswith(READINGS_SUBJECT + ".")  # in READINGS, in the lane


def test_a_device_cannot_publish_on_its_facilitys_command_subject(bus, tmp_path):
    server, _, login = bus

    async def attack(device):
        await device.js.publish(READINGS_SUBJECT, FRAME, timeout=5)  # its own: stored
        await device.nc.publish(COMMAND_SUBJECT, _ack("mallory"))

    refused = refused_as(login, "device-ccs-01", attack)
    assert any(f'publish to "{COMMAND_SUBJECT}"' in r for r in refused), refused
    # nor through the MQTT bridge, where the topic maps onto the same subject
    device = json.loads((tmp_path / "credentials" / "device-ccs-01.json").read_text())
    sent = _mqtt(server.mqtt_port, device, [device["mqtt_topic"] + "/command"])
    assert sent["connack"] == "Success"
    assert asyncio.run(_stored(login, "READINGS")) == [READINGS_SUBJECT]


def test_only_the_http_layer_publishes_on_a_command_subject(bus):
    _, _, login = bus

    async def simulate(simulator):
        await simulator.js.publish(READINGS_SUBJECT, FRAME, timeout=5)
        await simulator.nc.publish(COMMAND_SUBJECT, _ack("mallory"))

    async def command(serve):
        await serve.js.publish(COMMAND_SUBJECT, _ack("ada"), timeout=5)

    refused = refused_as(login, "simulator", simulate)
    assert any(f'publish to "{COMMAND_SUBJECT}"' in r for r in refused), refused
    assert refused_as(login, "serve", command) == []
    assert asyncio.run(_stored(login, "READINGS")) == [READINGS_SUBJECT, COMMAND_SUBJECT]


@pytest.mark.parametrize("lane", [Lane(OWN), Lane(OWN, "ccs-01")], ids=["shared", "pinned"])
def test_a_command_on_a_readings_subject_is_dead_lettered_and_derives_nothing(bus, lane):
    """The simulator's identity may publish any facility's readings subject: its forged
    command is dead-lettered by the shard host, while the HTTP layer's command on the
    command subject reaches the facility (here a rejection naming the operator), in
    a shared lane and in a pinned facility's lane alike."""
    server, credentials, login = bus

    async def go():
        appended = []

        async def append(payload: bytes) -> int:
            appended.extend(decode_envelopes(payload))
            return len(appended)

        host = ShardHost(url_as(server.url, credentials["shard"]), [lane], append,
                         partition_count=PARTITIONS)
        await host.start()
        simulator, serve, reader = [await login(u) for u in ("simulator", "serve", "reader")]
        try:
            await simulator.js.publish(READINGS_SUBJECT, MANIFEST)
            await simulator.js.publish(READINGS_SUBJECT, _ack("mallory"))
            await serve.js.publish(COMMAND_SUBJECT, FRAME)  # a frame is no command
            await serve.js.publish(COMMAND_SUBJECT, _ack("ada"))
            deadline = time.monotonic() + 60
            while (host.counters["commands"] < 1
                   or (await reader.js.stream_info("DEADLETTER")).state.messages < 2):
                assert time.monotonic() < deadline, host.stats()
                await asyncio.sleep(0.05)
            dead = [await reader.js.get_msg("DEADLETTER", seq) for seq in (1, 2)]
            refused = [r for who in (simulator, serve, reader) for r in await who.settle()]
        finally:
            await host.stop()
            for who in (simulator, serve, reader):
                await who.nc.close()
        return appended, dead, host.counters, refused

    appended, dead, counters, refused = asyncio.run(asyncio.wait_for(go(), 90))
    assert refused == []
    by_seq = {}
    for e in appended:
        by_seq.setdefault(e.causation.seq, []).append(e.body)
    assert set(by_seq) == {1, 4}  # the manifest's events and the operator's command's
    assert by_seq[4] == [CommandRejected(facility="ccs-01", command="command.acknowledge_alert",
                                         target="a1", user="ada", reason="no alert a1")]
    assert all(getattr(body, "user", "") != "mallory" for body in sum(by_seq.values(), []))
    forged, frame = dead
    assert forged.headers["Plumeline-Source-Subject"] == READINGS_SUBJECT
    assert forged.headers["Plumeline-Source-Seq"] == "2"
    assert forged.headers["Plumeline-Reason"] == (
        f"command AcknowledgeAlert on readings subject {READINGS_SUBJECT}: "
        "commands are taken only from the command subject")
    assert forged.data == _ack("mallory")
    assert frame.headers["Plumeline-Source-Subject"] == COMMAND_SUBJECT
    assert frame.headers["Plumeline-Reason"] == f"a frame on command subject {COMMAND_SUBJECT}"
    assert counters["commands"] == 1 and counters["malformed"] == 2


def test_replay_derives_by_the_same_rule_as_the_live_host():
    """`Derivation` is what the shard host, its restores and `audit replay` all run:
    a message one by one and in a batch gives the same, misfiled ones nothing."""
    plain, command = READINGS_SUBJECT, COMMAND_SUBJECT
    messages = [(plain, 1, T0, MANIFEST), (plain, 2, T0, _silence("mallory")),
                (command, 3, T0, MANIFEST), (plain + ".other", 4, T0, FRAME),
                (command, 5, T0, _silence("ada")), (plain, 6, T0 + 1000, FRAME)]
    one_by_one = Derivation(FacilityConfig())
    alone = [one_by_one.derive(*m) for m in messages]
    batched = Derivation(FacilityConfig()).derive_batch(messages)
    assert [(d.envelopes, d.deadletter) for d in alone] == \
        [(d.envelopes, d.deadletter) for d in batched]
    reasons = [d.deadletter and d.deadletter[0] for d in alone]
    assert reasons[1].startswith(f"command SilenceSensor on readings subject {plain}")
    assert reasons[2] == f"a manifest on command subject {command}"
    assert reasons[3] == f"subject {plain}.other is not a readings or command subject"
    assert [bool(d.envelopes) for d in alone] == [True, False, False, False, True, False]
    [silence] = alone[4].envelopes
    assert (type(silence.body).__name__, silence.body.user) == ("SilenceStarted", "ada")
