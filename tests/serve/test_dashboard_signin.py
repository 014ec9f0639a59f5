"""The page signs in and out in a real headless Chromium: the access token lives in
the page's memory only, goes with the page's requests, and is refreshed before it
expires. The app is served by uvicorn on a real nats-server (the KV buckets sign-in
reads); the projections are the API tests' plain objects."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
import uvicorn

from plumeline.infra.runtime.nats import connect, ensure_streams, free_port
from plumeline.serve.app import build_app
from plumeline.serve.identity import IdentityStore, UserRecord
from plumeline.serve.passwords import hash_password
from plumeline.serve.signin import SignIn
from plumeline.serve.tokens import TokenKey
from tests.serve.test_api import Ledger, Projections
from tests.serve.test_dashboard import CHROMIUM, page  # noqa: F401 (the fixture)

pytestmark = pytest.mark.skipif(not __import__("pathlib").Path(CHROMIUM).exists(),
                                reason="Debian's chromium is not installed")
KEY = TokenKey(b"d" * 32)


@pytest.fixture
def served(nats_server):
    """http://127.0.0.1:<port> of an app whose sign-in tokens last 61 s: the page
    refreshes 5 s after signing in."""

    async def js_of():
        nc = await connect(nats_server.url)
        js = nc.jetstream()
        await ensure_streams(js)
        return js

    async def add_user():
        nc = await connect(nats_server.url)
        js = nc.jetstream()
        await ensure_streams(js)
        store = await IdentityStore.of(js)
        await store.put_user(UserRecord(user="ada", role="admin",
                                        password=hash_password("s3cret-enough")))
        await nc.close()

    asyncio.run(add_user())
    app = build_app(Projections(), Ledger(), verify=KEY.verify, sign_in=SignIn(
        IdentityStore(js_of=js_of), KEY, access_ttl_s=61))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_the_page_signs_in_refreshes_and_signs_out(served, page):  # noqa: F811
    expect = pytest.importorskip("playwright.sync_api").expect
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(served)
    page.click("#signin-button")
    page.fill("#signin-user", "ada")
    page.fill("#signin-password", "wrong")
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#signin-error")).to_have_text("wrong user name or password")

    page.fill("#signin-password", "s3cret-enough")
    with page.expect_response("**/auth/login") as signed:
        page.click("#signin-form button[type=submit]")
    assert signed.value.status == 200
    expect(page.locator("#signin-state")).to_have_text("ada (admin)")
    assert page.is_hidden("#signin-button") and page.is_visible("#signout-button")

    # the page's own requests carry the access token: an admin-only route answers
    assert page.evaluate("fetch('/auth/keys').then(r => r.status)") == 200
    stored = page.evaluate("JSON.stringify({...localStorage, ...sessionStorage})")
    access = signed.value.json()["access_token"]
    assert access not in stored and signed.value.json()["refresh_token"] not in stored

    with page.expect_response("**/auth/refresh", timeout=20_000) as refreshed:
        pass  # five seconds after sign-in
    assert refreshed.value.status == 200
    renewed = refreshed.value.json()["access_token"]
    assert renewed != access
    with page.expect_request("**/auth/keys") as sent:
        page.evaluate("fetch('/auth/keys')")
    assert sent.value.headers["authorization"] == f"Bearer {renewed}"

    with page.expect_response("**/auth/logout") as out:
        page.click("#signout-button")
    assert out.value.json() == {"signed_out": True}
    expect(page.locator("#signin-state")).to_have_text("")
    assert page.evaluate("fetch('/auth/keys').then(r => r.status)") == 401
    assert errors == []
