"""`plumeline nats-config`: configuration files that nats-server accepts, each routing
to every machine, with the extra text (an authorization block) at the end."""

from __future__ import annotations

import json
import stat
import subprocess

from plumeline.infra.cli.main import main
from plumeline.infra.runtime.nats import nats_server_binary
from plumeline.infra.runtime.nats_auth import (
    COMPONENTS,
    add_device,
    authorization,
    load_credentials,
    outside_credentials,
)
from plumeline.infra.runtime.nats_cluster import write_configs
from plumeline.infra.runtime.nats_routes import ROUTE_FILE
from plumeline.infra.runtime.settings import Settings

PARTITIONS = Settings().partitions


def test_nats_config_writes_a_valid_file_per_machine(tmp_path, capsys):
    hosts = ["a.example", "b.example", "c.example"]
    assert main(["nats-config", "--nodes", "3", "--out", str(tmp_path),
                 "--hosts", ",".join(hosts)]) == 0
    out = capsys.readouterr().out
    assert "--nats nats://a.example:4222,nats://b.example:4222,nats://c.example:4222 " \
           "--replicas 3" in out
    credentials = load_credentials(tmp_path)
    assert set(credentials) == set(COMPONENTS)
    for i, host in enumerate(hosts, 1):
        conf = tmp_path / f"nats-{i}.conf"
        assert f"{conf}  ->  {host}: `nats-server -c nats-{i}.conf`" in out
        assert stat.S_IMODE(conf.stat().st_mode) == 0o600  # it holds the passwords
        text = conf.read_text()
        assert f"server_name: nats-{i}" in text
        assert all(f"@{h}:6222\"" in text for h in hosts)  # the route password, then the host
        # the embedded server's users, permissions and all, on every node
        assert text.endswith(authorization(credentials, PARTITIONS))
        checked = subprocess.run([nats_server_binary(), "-t", "-c", str(conf)],
                                 capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"{tmp_path / 'credentials'}/  ->  the machine that runs `plumeline up`" in out
    for path in (tmp_path / "credentials").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_nats_config_guards_the_routes_and_makes_the_ledger_key_once(tmp_path, capsys):
    argv = ["nats-config", "--nodes", "2", "--out", str(tmp_path), "--hosts", "a,b"]
    assert main(argv) == 0
    route = json.loads((tmp_path / ROUTE_FILE).read_text())
    key = (tmp_path / "ledger.key").read_text()
    for path in (tmp_path / ROUTE_FILE, tmp_path / "ledger.key"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    out = capsys.readouterr().out
    assert f"{tmp_path / 'ledger.key'}  ->  every Ray node, as DATA_DIR/ledger.key" in out
    text = (tmp_path / "nats-1.conf").read_text()
    assert f'password: "{route["password"]}"' in text  # what a joining route must say
    assert f'"nats-route://route:{route["password"]}@b:6222"' in text  # what it says
    assert main(argv) == 0  # again: the same password and key, not new ones
    assert json.loads((tmp_path / ROUTE_FILE).read_text()) == route
    assert (tmp_path / "ledger.key").read_text() == key
    assert ROUTE_FILE not in {p.name for p in (tmp_path / "credentials").iterdir()}


def test_nats_config_for_one_machine_binds_each_node_to_its_address(tmp_path):
    assert main(["nats-config", "--nodes", "2", "--out", str(tmp_path), "--hosts",
                 "127.0.0.2,127.0.0.3", "--bind-hosts", "--monitor-port", "18222",
                 "--store-dir", str(tmp_path / "store")]) == 0
    text = (tmp_path / "nats-2.conf").read_text()
    assert "listen: 127.0.0.3:4222" in text and "http: 127.0.0.3:18222" in text
    assert "listen: 127.0.0.3:6222" in text
    assert f'store_dir: "{tmp_path / "store" / "nats-2"}"' in text


def test_nats_config_again_keeps_the_users_and_names_the_devices(tmp_path, capsys):
    assert main(["nats-config", "--nodes", "1", "--out", str(tmp_path)]) == 0
    first = load_credentials(tmp_path)
    add_device(tmp_path, "ccs-01", PARTITIONS)
    assert main(["nats-config", "--nodes", "1", "--out", str(tmp_path)]) == 0
    again = load_credentials(tmp_path)
    assert {u: c for u, c in again.items() if u in first} == first
    assert f"{tmp_path / 'credentials' / 'device-ccs-01'}.json  ->  the devices of ccs-01" \
        in capsys.readouterr().out
    assert '"user": "device-ccs-01"' in (tmp_path / "nats-1.conf").read_text()


def test_up_on_a_cluster_from_nats_config_logs_each_component_in_as_itself(tmp_path):
    url = "nats://a.example:4222,nats://b.example:4222"
    assert outside_credentials(url, tmp_path) == {}  # no users here: as the URL says
    assert main(["nats-config", "--nodes", "2", "--out", str(tmp_path)]) == 0
    found = outside_credentials(url, tmp_path)
    assert set(found) == set(COMPONENTS) and found == load_credentials(tmp_path)
    assert outside_credentials("nats://ops:secret@a.example:4222", tmp_path) == {}


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
