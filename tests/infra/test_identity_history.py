"""`plumeline user` and `plumeline token`: who could do what, recorded in the ledger,
and reproduced exactly by `audit replay`."""

from __future__ import annotations

import asyncio
import io
import json
import os

import pytest

from plumeline.infra.runtime.nats import connect
from plumeline.infra.runtime.streams import ledger_records
from plumeline.serve.identity import IdentityStore
from plumeline.serve.passwords import check_password
from plumeline.serve.tokens import TokenKey

PASSWORD = "hunter2-but-longer"


async def _identity_events(url: str) -> tuple[list, bytes]:
    nc = await connect(url)
    try:
        events, raw = [], b""
        async for data, record in ledger_records(nc.jetstream()):
            raw += data
            if record.event.facility == "_identity":
                events.append(record.event)
        return events, raw
    finally:
        await nc.close()


async def _store(url: str, work):
    nc = await connect(url)
    try:
        return await work(await IdentityStore.of(nc.jetstream()))
    finally:
        await nc.close()


@pytest.fixture
def with_password(monkeypatch):
    def give(password: str = PASSWORD) -> None:
        monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))

    return give


def test_user_and_key_history_is_in_the_ledger_and_replays(
        cli, pipeline, story, tmp_path, nats_server, with_password):
    pipeline(story("ccs-01", 20))  # the deployment's shard hosts have run: 4 partitions
    data = ["--data-dir", str(tmp_path)]
    with_password()
    assert cli("user", "add", "ada", "--role", "operator", *data)[0] == 0
    with_password()
    assert cli("user", "add", "root", "--role", "admin", *data)[0] == 0
    with_password()
    assert cli("user", "add", "ada", "--role", "viewer", *data)[0] == 2  # exists
    assert cli("user", "add", "eve", "--role", "superuser", *data)[0] == 2
    assert cli("user", "set-role", "ada", "viewer", *data)[0] == 0
    assert cli("user", "disable", "nobody", *data)[0] == 2
    status, token = cli("token", "create", "--role", "viewer", "--user", "ci", *data)
    assert status == 0
    key_id = TokenKey.load(tmp_path / "api-signing.pem").verify(token.strip(), 0).token_id
    assert key_id.startswith("k")
    assert cli("user", "disable", "ada", *data)[0] == 0
    assert cli("token", "revoke", key_id, *data)[0] == 0
    assert cli("token", "revoke", "knothing", *data)[0] == 2
    status, listed = cli("user", "list", *data)
    assert listed == "ada viewer disabled\nroot admin active\n"
    status, keys = cli("token", "list", *data)
    assert keys.split("\t")[0] == key_id and keys.strip().endswith("revoked")

    users = asyncio.run(_store(nats_server.url, lambda s: s.all_users()))
    assert check_password(PASSWORD, users[1].password)

    pipeline([])  # the shard host takes the identity commands in
    events, raw = asyncio.run(_identity_events(nats_server.url))
    history = [(e.type, e.body.user if hasattr(e.body, "user") else e.body.key_id,
                getattr(e.body, "role", ""), e.body.by) for e in events]
    me = events[0].body.by
    assert me.startswith("cli:")
    assert history == [
        ("user.added", "ada", "operator", me),
        ("user.added", "root", "admin", me),
        ("user.role_changed", "ada", "viewer", me),
        ("api_key.issued", "ci", "viewer", me),
        ("user.disabled", "ada", "", me),
        ("api_key.revoked", key_id, "", me),
    ]
    assert events[3].body.key_id == key_id
    assert [e.time for e in events] == sorted(e.time for e in events)
    # no secret reaches the ledger: not the password, its hash, nor the key's token
    for secret in (PASSWORD, users[0].password.split("$")[-1], token.strip()):
        assert secret.encode() not in raw

    status, out = cli("audit", "replay", *data)
    assert status == 0 and out.startswith("ok:"), out

    # who could command (approve recommendations, at any facility) before ada's role
    # changed, and after she was disabled and the key revoked
    before = str(events[2].time - 1)
    status, out = cli("audit", "identities", "--at", before, *data)
    assert status == 0 and "user ada operator active\n" in out
    assert "may command: ada, root\n" in out and "may identity: root\n" in out
    assert "may manage: root\n" in out  # sensors: admins alone
    status, out = cli("audit", "identities", "--at", str(events[-1].time), *data)
    assert "user ada viewer disabled\n" in out and f"key {key_id} ci viewer revoked\n" in out
    assert "may command: root\n" in out and "may ingest: root\n" in out
    status, out = cli("audit", "identities", "--at", str(events[3].time), *data)
    assert "may command: root\n" in out and f"key:{key_id} (ci)" not in out  # a viewer's
    assert "user ada viewer active\n" in out


def test_a_password_is_read_from_stdin_and_never_printed(cli, tmp_path, nats_server, js_run,
                                                         with_password, capsys):
    js_run(lambda js: asyncio.sleep(0))  # streams declared before the command logs anything
    (tmp_path / "runtime.json").write_text(json.dumps({"pid": os.getpid(),
                                                       "nats_url": nats_server.url}))
    with_password("")
    assert cli("user", "add", "ada", "--role", "operator", "--data-dir", str(tmp_path))[0] == 2
    with_password()
    status, out = cli("user", "add", "ada", "--role", "operator", "--data-dir", str(tmp_path))
    assert status == 0 and PASSWORD not in out + capsys.readouterr().err
