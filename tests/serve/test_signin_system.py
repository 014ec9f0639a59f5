"""Sign-in on the whole system: the Serve replica signs with the data dir's key, reads
the users the CLI wrote, and its gate refuses a disabled user."""

from __future__ import annotations

import io
import time

import httpx

from plumeline.infra.cli.main import main


def test_a_user_added_from_the_shell_signs_in_over_http_until_disabled(system, monkeypatch):
    data = ["--data-dir", str(system.settings.data_dir)]
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(["user", "add", "ada", "--role", "operator", *data]) == 0
    with httpx.Client(base_url=system.http_url, timeout=30) as client:
        r = client.post("/auth/login", json={"username": "ada",
                                             "password": "a long enough password"})
        assert r.status_code == 200, r.text
        token = {"Authorization": f"Bearer {r.json()['access_token']}"}
        assert client.get("/alerts", headers=token).status_code == 200
        assert client.post("/silences", headers=token, json={}).status_code == 422
        assert main(["user", "disable", "ada", *data]) == 0
        deadline = time.monotonic() + 5
        while client.get("/alerts", headers=token).status_code != 401:
            assert time.monotonic() < deadline, "a disabled user's token still counts"
            time.sleep(0.1)
        assert client.post("/auth/refresh", json={
            "refresh_token": r.json()["refresh_token"]}).status_code == 401
