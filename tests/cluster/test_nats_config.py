"""`plumeline nats-config`: configuration files that nats-server accepts, each routing
to every machine, with the extra text (an authorization block) at the end."""

from __future__ import annotations

import subprocess

from plumeline.infra.cli import main
from plumeline.infra.nats import nats_server_binary
from plumeline.infra.nats_cluster import write_configs


def test_nats_config_writes_a_valid_file_per_machine(tmp_path, capsys):
    hosts = ["a.example", "b.example", "c.example"]
    assert main(["nats-config", "--nodes", "3", "--out", str(tmp_path),
                 "--hosts", ",".join(hosts)]) == 0
    assert "--nats nats://a.example:4222,nats://b.example:4222,nats://c.example:4222 " \
           "--replicas 3" in capsys.readouterr().out
    for i in (1, 2, 3):
        conf = tmp_path / f"nats-{i}.conf"
        text = conf.read_text()
        assert f"server_name: nats-{i}" in text
        assert all(f"nats-route://{h}:6222" in text for h in hosts)
        checked = subprocess.run([nats_server_binary(), "-t", "-c", str(conf)],
                                 capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_extra_config_goes_into_every_node(tmp_path):
    extra = "authorization {\n  users: [ { user: ledger, password: secret } ]\n}"
    paths = write_configs(tmp_path, ["x", "y"], extra=extra)
    for path in paths:
        assert path.read_text().endswith(extra + "\n")
        checked = subprocess.run([nats_server_binary(), "-t", "-c", str(path)],
                                 capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_hosts_and_nodes_must_agree(tmp_path, capsys):
    assert main(["nats-config", "--nodes", "3", "--out", str(tmp_path), "--hosts", "a,b"]) == 2
    assert "--hosts names 2 machines, --nodes says 3" in capsys.readouterr().err


def test_up_refuses_replicas_jetstream_cannot_make(tmp_path, capsys):
    assert main(["up", "--data-dir", str(tmp_path), "--replicas", "7"]) == 2
    assert "--replicas must be 1 to 5, not 7" in capsys.readouterr().err
