"""Ports picked for servers that bind them later (Ray's HAProxy, nats-server, the
API): free when picked, and never the same one twice in a process, so that a port
picked for one server cannot collide with another's not yet bound or not yet gone."""

import socket

from plumeline.infra.runtime.nats import free_port


def test_a_port_is_free_when_picked_and_never_handed_out_twice():
    ports = [free_port() for _ in range(500)]
    assert len(set(ports)) == len(ports)
    assert all(20_000 <= p < 32_000 for p in ports)
    with socket.socket() as s:
        s.bind(("127.0.0.1", ports[-1]))  # free: nothing holds it
