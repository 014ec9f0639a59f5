"""Devices that speak MQTT: the embedded nats-server's MQTT listener maps topic
readings/<partition>/<facility> to subject readings.<partition>.<facility>, so a frame
published with QoS 1 lands in READINGS byte for byte, as one published on NATS."""

from __future__ import annotations

import asyncio

import paho.mqtt.client as mqtt

from plumeline.events import Frame, decode_wire, encode_wire, frame_lists, readings_subject
from plumeline.infra.runtime.nats import NatsServer, connect, ensure_streams, free_port


def test_a_frame_published_over_mqtt_lands_in_readings(tmp_path):
    frame = Frame(facility="ccs-01", sensors=["flue", "capture"], times=[1_767_225_600_000] * 2,
                  values=[120.0, 60.5])
    subject = readings_subject(frame.facility, 16)
    with NatsServer(tmp_path / "nats", mqtt_port=free_port()) as server:

        async def declare():
            nc = await connect(server.url)
            await ensure_streams(nc.jetstream())
            await nc.close()

        asyncio.run(declare())
        device = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="meter-7")
        assert device.connect("127.0.0.1", server.mqtt_port) == mqtt.MQTT_ERR_SUCCESS
        device.loop_start()
        try:
            sent = device.publish(subject.replace(".", "/"), encode_wire(frame), qos=1)
            sent.wait_for_publish(timeout=10)
            assert sent.is_published()  # PUBACK: the server has taken it
        finally:
            device.disconnect()
            device.loop_stop()

        async def stored():
            nc = await connect(server.url)
            try:
                sub = await nc.jetstream().pull_subscribe("readings.>", stream="READINGS")
                return await sub.fetch(10, timeout=2.0)
            finally:
                await nc.close()

        [msg] = asyncio.run(stored())
        assert msg.subject == subject
        assert frame_lists(decode_wire(msg.data)) == frame
