"""Sign-in, refresh, logout, API keys and revocation over HTTP, on a real nats-server:
each app is one replica with its own connection, its own gate, the same KV buckets."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import pytest

from plumeline.events import AddUser, DisableUser, IssueApiKey, RevokeApiKey
from plumeline.infra.runtime.nats import connect, ensure_streams
from plumeline.serve.app import build_app
from plumeline.serve.identity import IdentityStore, UserRecord
from plumeline.serve.passwords import check_password, hash_password
from plumeline.serve.signin import SignIn, Throttle
from plumeline.serve.tokens import TokenKey
from tests.serve.test_api import Ledger, Projections

KEY = TokenKey(b"s" * 32)
PASSWORD = "correct horse battery staple"


class Published:
    def __init__(self) -> None:
        self.commands = []

    async def publish(self, command) -> int:
        self.commands.append(command)
        return len(self.commands)

    async def publish_frames(self, frames):
        return [(i + 1, False) for i in range(len(frames))]


@contextlib.asynccontextmanager
async def replicas(url: str, n: int = 1, **signin):
    """`n` apps (replicas) on the NATS at `url`, and the commands they published."""
    published, conns, apps = Published(), [], []
    try:
        for _ in range(n):
            nc = await connect(url)
            conns.append(nc)
            js = nc.jetstream()
            await ensure_streams(js)
            sign_in = SignIn(await IdentityStore.of(js), KEY,
                             throttle=Throttle(base_s=0.05, max_s=0.2), **signin)
            app = build_app(Projections(), Ledger(), commands=published, intake=published,
                            verify=KEY.verify,
                            open_reads=False, sign_in=sign_in)
            apps.append(httpx.AsyncClient(transport=httpx.ASGITransport(
                app=app, client=("10.0.0.7", 5000)), base_url="http://replica"))
        yield apps, published, await IdentityStore.of(conns[0].jetstream())
    finally:
        for client in apps:
            await client.aclose()
            await client._transport.app.state.signin.gate.close()
        for nc in conns:
            await nc.close()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def add_user(store: IdentityStore, user: str, role: str, password: str = PASSWORD):
    await store.put_user(UserRecord(user=user, role=role, password=hash_password(password)))


async def sign_in(client, user: str) -> dict:
    r = await client.post("/auth/login", json={"username": user, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return r.json()


async def refused_within(client, token: str, path: str = "/alerts", seconds: float = 5.0):
    """Poll until the replica answers 401 to `token`; the answer, or the last one."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        r = await client.get(path, headers=bearer(token))
        if r.status_code == 401 or loop.time() >= deadline:
            return r
        await asyncio.sleep(0.1)


def test_a_password_hash_checks_its_password_only():
    stored = hash_password(PASSWORD)
    assert stored.startswith("scrypt$16384$8$1$") and PASSWORD not in stored
    assert check_password(PASSWORD, stored)
    assert not check_password(PASSWORD + "!", stored)
    assert not check_password(PASSWORD, "scrypt$garbage")
    assert stored != hash_password(PASSWORD)  # salted


def test_sign_in_refresh_and_logout(nats_server):
    async def go():
        async with replicas(nats_server.url) as ([c], _, store):
            await add_user(store, "ada", "operator")
            r = await c.post("/auth/login", json={"username": "ada", "password": PASSWORD})
            assert r.status_code == 200, r.text
            first = r.json()
            assert first["token_type"] == "Bearer" and first["expires_in"] == 900
            assert r.headers["cache-control"] == "no-store"
            who = KEY.verify(first["access_token"], 0)
            assert (who.user, who.role, who.token_id[:2]) == ("ada", "operator", "s.")
            assert (await c.get("/alerts", headers=bearer(first["access_token"]))).status_code == 200

            # a form post works too, as a plain HTML form would send it
            form = await c.post("/auth/login", data={"username": "ada", "password": PASSWORD})
            assert form.status_code == 200 and form.json()["refresh_token"] != first["refresh_token"]

            r = await c.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
            assert r.status_code == 200, r.text
            second = r.json()
            assert second["refresh_token"] != first["refresh_token"]
            assert KEY.verify(second["access_token"], 0).token_id == who.token_id  # one family

            r = await c.post("/auth/logout", json={"refresh_token": second["refresh_token"]})
            assert r.json() == {"signed_out": True}
            assert (await c.post("/auth/refresh", json={
                "refresh_token": second["refresh_token"]})).status_code == 401
            # the access token of a closed sign-in no longer counts either
            assert (await refused_within(c, second["access_token"])).status_code == 401
            # the other sign-in (the form's) is a family of its own and still counts
            assert (await c.get("/alerts", headers=bearer(
                form.json()["access_token"]))).status_code == 200

    asyncio.run(go())


def test_a_refresh_token_used_twice_revokes_its_whole_family(nats_server):
    async def go():
        async with replicas(nats_server.url) as ([c], _, store):
            await add_user(store, "ada", "operator")
            first = await sign_in(c, "ada")
            second = (await c.post("/auth/refresh", json={
                "refresh_token": first["refresh_token"]})).json()
            stolen = await c.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
            assert stolen.status_code == 401 and "used already" in stolen.text
            # the rightful holder's newer token is gone with it
            assert (await c.post("/auth/refresh", json={
                "refresh_token": second["refresh_token"]})).status_code == 401
            assert (await refused_within(c, second["access_token"])).status_code == 401

    asyncio.run(go())


def test_a_wrong_password_and_an_unknown_user_get_the_same_answer_and_are_slowed(nats_server):
    async def go():
        async with replicas(nats_server.url) as ([c], _, store):
            await add_user(store, "ada", "operator")
            wrong = await c.post("/auth/login", json={"username": "ada", "password": "nope"})
            unknown = await c.post("/auth/login", json={"username": "nobody", "password": "x"})
            assert wrong.status_code == unknown.status_code == 401
            assert wrong.json() == unknown.json() == {
                "error": "invalid_grant", "error_description": "wrong user name or password"}
            # a name no user can have is an unknown user too, not a store error
            odd = await c.post("/auth/login", json={"username": "a.b *", "password": "x"})
            assert (odd.status_code, odd.json()) == (401, unknown.json())
            throttle = c._transport.app.state.signin.throttle
            assert throttle.failures["user:ada"][0] == 1
            assert throttle.failures["address:10.0.0.7"][0] == 3  # all came from there
            again = await c.post("/auth/login", json={"username": "ada", "password": "nope"})
            assert again.status_code == 401 and throttle.failures["user:ada"][0] == 2
            # the wait doubles with each failure, up to its bound
            assert throttle.wait_s("user:ada", throttle.failures["user:ada"][1]) == pytest.approx(0.1)
            for _ in range(5):
                throttle.failed("user:ada", 0.0)
            assert throttle.wait_s("user:ada", 0.0) == 0.2
            # the right password still signs in, and clears the count
            ok = await c.post("/auth/login", json={"username": "ada", "password": PASSWORD})
            assert ok.status_code == 200 and "user:ada" not in throttle.failures
            bad = await c.post("/auth/login", content=b"{not json",
                               headers={"content-type": "application/json"})
            assert bad.status_code == 400

    asyncio.run(go())


def test_api_keys_are_recorded_and_a_revoked_one_is_refused_on_every_replica(nats_server):
    async def go():
        async with replicas(nats_server.url, n=2) as ([a, b], published, store):
            await add_user(store, "root", "admin")
            admin = await sign_in(a, "root")
            assert (await a.get("/auth/keys")).status_code == 401
            r = await a.post("/auth/keys", headers=bearer(admin["access_token"]),
                             json={"user": "ci", "role": "viewer", "ttl_s": 3600})
            assert r.status_code == 201, r.text
            key_id, token = r.json()["key_id"], r.json()["token"]
            assert KEY.verify(token, 0).token_id == key_id
            assert (await b.get("/alerts", headers=bearer(token))).status_code == 200
            # a viewer's key may not manage keys
            assert (await b.get("/auth/keys", headers=bearer(token))).status_code == 403
            listed = await b.get("/auth/keys", headers=bearer(admin["access_token"]))
            assert [k["key_id"] for k in listed.json()] == [key_id]

            r = await a.delete(f"/auth/keys/{key_id}", headers=bearer(admin["access_token"]))
            assert r.status_code == 200 and r.json()["revoked"] is True
            assert (await refused_within(b, token)).status_code == 401
            assert "revoked" in (await a.get("/alerts", headers=bearer(token))).text
            assert (await a.delete("/auth/keys/knone", headers=bearer(
                admin["access_token"]))).status_code == 404

            issued, revoked = published.commands
            assert isinstance(issued, IssueApiKey) and isinstance(revoked, RevokeApiKey)
            assert (issued.key_id, issued.user, issued.role, issued.by) == (
                key_id, "ci", "viewer", "root")
            assert revoked.key_id == key_id and token not in repr(published.commands)

    asyncio.run(go())


def test_a_disabled_user_is_refused_on_every_replica(nats_server):
    async def go():
        async with replicas(nats_server.url, n=2) as ([a, b], _, store):
            await add_user(store, "ada", "operator")
            pair = await sign_in(a, "ada")
            assert (await b.post("/alerts/a1/acknowledge",
                                 headers=bearer(pair["access_token"]))).status_code != 401
            user = await store.user("ada")
            user.disabled = True
            await store.put_user(user)
            assert (await refused_within(b, pair["access_token"])).status_code == 401
            assert (await refused_within(a, pair["access_token"])).status_code == 401
            assert (await a.post("/auth/refresh", json={
                "refresh_token": pair["refresh_token"]})).status_code == 401
            assert (await a.post("/auth/login", json={
                "username": "ada", "password": PASSWORD})).status_code == 401
            # an API key of a disabled user goes with the user
            key = KEY.issue("ada", "viewer", 2_000_000_000, token_id="kabc")
            assert (await b.get("/alerts", headers=bearer(key))).status_code == 401

    asyncio.run(go())


@pytest.mark.parametrize("command", [AddUser, DisableUser])
def test_identity_commands_name_no_secret(command):
    fields = set(command.__struct_fields__)
    assert not fields & {"password", "hash", "token", "secret"}


def test_only_identity_commands_go_under_the_reserved_name():
    from plumeline.actors import Derivation, FacilityConfig
    from plumeline.events import Frame, encode_wire

    derivation = Derivation(FacilityConfig())
    frame = Frame(facility="_identity", sensors=["t"], times=[1_767_225_600_000], values=[1.0])
    refused = derivation.derive("readings.0._identity", 1, 5, encode_wire(frame))
    assert refused.deadletter[0] == "Frame on the subject of '_identity'"
    add = AddUser(user="ada", role="viewer", by="root", time=7)
    assert derivation.derive("readings.0.ccs-01.command", 2, 5, encode_wire(add)).deadletter
    # a command, so on the command subject only (events/wire.py, misfiled)
    assert derivation.derive("readings.0._identity", 2, 5, encode_wire(add)).deadletter
    [event] = derivation.derive("readings.0._identity.command", 3, 5,
                                encode_wire(add)).envelopes
    assert (event.type, event.time, event.body.user, event.body.by) == (
        "user.added", 7, "ada", "root")
    assert "_identity" not in derivation.facilities  # no facility actor is made for it


# one route of each scope, with what it needs
DOORS = [("GET", "/alerts", None), ("POST", "/alerts/a1/acknowledge", {}),
         ("GET", "/reports/emissions?from=0&to=1000", None), ("GET", "/ledger/export", None),
         ("GET", "/auth/keys", None), ("GET", "/admin/facilities/f1/sensors", None),
         ("POST", "/ingest", {"facility": "ccs-07", "sensors": ["t"], "times": [1_767_225_600_000],
                              "values": [1.0]})]


@pytest.mark.parametrize("role", ["viewer", "operator", "auditor", "admin"])
def test_a_signed_in_user_and_an_api_key_of_one_role_open_the_same_doors(nats_server, role):
    async def go():
        async with replicas(nats_server.url) as ([c], _, store):
            await add_user(store, "ada", role)
            session = (await sign_in(c, "ada"))["access_token"]
            key = KEY.issue("ada", role, 2_000_000_000, token_id="k1")
            answers = {}
            for method, path, body in DOORS:
                for name, token in (("session", session), ("key", key), ("none", None)):
                    r = await c.request(method, path, json=body,
                                        headers=bearer(token) if token else {})
                    answers.setdefault(path, {})[name] = r.status_code
            for path, codes in answers.items():
                assert codes["session"] == codes["key"], (path, codes)
                assert codes["none"] == 401 and codes["key"] < 500, (path, codes)
            allowed = {path for path, codes in answers.items() if codes["key"] != 403}
            return allowed

    allowed = asyncio.run(go())
    assert ("/auth/keys" in allowed) == (role == "admin")
    assert ("/admin/facilities/f1/sensors" in allowed) == (role == "admin")
    assert ("/alerts/a1/acknowledge" in allowed) == (role in ("operator", "admin"))
    assert ("/ledger/export" in allowed) == (role in ("auditor", "admin"))
