"""The page on a deployment with closed reads (`up --closed-reads`): it asks for a
token once, then sends it with its reads and on the stream URL."""

from __future__ import annotations

import time

import pytest

from plumeline.serve.tokens import TokenKey
from tests.serve.test_dashboard import CHROMIUM, _plant, _publish, _settled, page  # noqa: F401

pytestmark = pytest.mark.skipif(
    not __import__("pathlib").Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")


@pytest.fixture(scope="module")
def closed(ray_session, tmp_path_factory):
    from plumeline.infra.runtime.nats import free_port
    from plumeline.infra.runtime.settings import Settings
    from plumeline.infra.runtime.system import System

    s = System(Settings(data_dir=tmp_path_factory.mktemp("closed"), port=free_port(),
                        partitions=4, shards=1, open_reads=False)).start()
    yield s
    s.stop()


def test_the_page_asks_for_a_viewer_token_and_reads_with_it(closed, page):  # noqa: F811
    _publish(closed, "ccs-31", _plant("ccs-31", "Capture plant 31", range(0, 70), 0.9))
    _settled(closed)
    sent, errors = [], []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: sent.append((r.url, "authorization" in r.headers)))
    page.goto(closed.http_url + "/")
    page.wait_for_selector("#token-dialog[open]")
    key = TokenKey.load_or_create(closed.settings.api_key_path)
    page.fill("#token-input", key.issue("vic", "viewer", int(time.time()) + 600))
    page.click("#token-dialog button[value=save]")
    page.wait_for_selector(".card[data-facility=ccs-31]")
    page.wait_for_selector("#live.ok")
    assert errors == []
    api = [(u.removeprefix(closed.http_url), auth) for u, auth in sent
           if not u.removeprefix(closed.http_url).startswith(("/static", "/?", "/stream"))
           and u.removeprefix(closed.http_url) != "/"]
    assert ("/facilities", False) in api  # the first read, refused: the page then asks
    assert ("/facilities", True) in api
    streams = [u for u, _ in sent if "/stream" in u]
    assert streams and "token=" in streams[-1]  # EventSource's only way to send it
    assert not [u for u, _ in sent if "token=" in u and "/stream" not in u]
