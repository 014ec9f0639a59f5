import pytest

from plumeline.events.bus import nats_servers


def test_a_cluster_address_is_every_node():
    assert nats_servers("nats://a:4222, nats://b:4222,,c:4222") == [
        "nats://a:4222", "nats://b:4222", "nats://c:4222"]


def test_one_address_is_one_server():
    assert nats_servers("tls://n.example:4222") == ["tls://n.example:4222"]


def test_no_address_is_an_error():
    with pytest.raises(ValueError, match="no NATS server"):
        nats_servers(" , ")
