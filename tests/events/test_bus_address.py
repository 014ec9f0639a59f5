import pytest

from plumeline.events.bus import connect_options, nats_servers


def test_a_cluster_address_is_every_node():
    assert nats_servers("nats://a:4222, nats://b:4222,,c:4222") == [
        "nats://a:4222", "nats://b:4222", "nats://c:4222"]


def test_one_address_is_one_server():
    assert nats_servers("tls://n.example:4222") == ["tls://n.example:4222"]


def test_no_address_is_an_error():
    with pytest.raises(ValueError, match="no NATS server"):
        nats_servers(" , ")


def test_the_login_goes_to_every_server_even_a_discovered_one():
    options = connect_options("nats://ledger:p%40ss@a:4222,nats://ledger:p%40ss@b:4222")
    assert options["servers"] == ["nats://a:4222", "nats://b:4222"]
    assert (options["user"], options["password"]) == ("ledger", "p@ss")
    assert options["inbox_prefix"] == "_INBOX.ledger"
    assert connect_options("nats://s3cret@a:4222") == {
        "servers": ["nats://a:4222"], "inbox_prefix": "_INBOX", "token": "s3cret"}
    assert connect_options("nats://a:4222") == {"servers": ["nats://a:4222"],
                                                "inbox_prefix": "_INBOX"}
