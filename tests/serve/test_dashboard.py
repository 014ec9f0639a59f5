"""The dashboard in a real headless Chromium against the whole system: an injected
anomaly appears live as an alert row, an operator acknowledges it from the page, and
the ledger records who did; and a newcomer's first `plumeline up`, a few hours of the
simulated plant's past replayed, shows balances, charts and the latest ledger events at
load, on a page whose tables fit at every common width. Set PLUMELINE_DASHBOARD_PNG to
keep a screenshot at 1280 px, PLUMELINE_DASHBOARD_SHOTS to a directory for 1280 and 390."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from plumeline.events import Frame, Manifest, encode_wire
from plumeline.infra.runtime.nats import connect, free_port
from plumeline.infra.runtime.streams import ledger_records
from plumeline.serve.tokens import TokenKey
from tests.infra.conftest import SPECS, T0  # the same plant, on the `system` fixture
from tests.test_end_to_end import _publish as publish_readings

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed: apt-get install chromium")

EVERY_S = 60


def _plant(facility: str, name: str, steps: range, capture: float, hot: bool = False):
    """Frames of one reading per sensor a minute; `hot` overheats the solvent."""
    frames = []
    for s in steps:
        captured = 400.0 * capture + (s % 7)
        values = [400.0 + s % 3, captured, captured - 8.0, 400.0 - captured,
                  55.0 if hot else 40.0 + 0.2 * (s % 5)]
        frames.append(encode_wire(Frame(facility=facility, sensors=[x.sensor for x in SPECS],
                                        times=[T0 + s * EVERY_S * 1000] * len(SPECS),
                                        values=values)))
    if steps.start == 0:
        frames.insert(0, encode_wire(Manifest(facility=facility, name=name, kind="ccs",
                                              sensors=SPECS, time=T0)))
    return frames


def _run(coroutine):
    # Playwright's sync API holds this thread's event loop: NATS work runs beside it
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _publish(system, facility: str, payloads: list[bytes]) -> None:
    _run(publish_readings(system.url_for("simulator"), payloads, facility))


def _settled(system, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        stats = system.stats()
        if stats["projected"] == stats["ledger_size"] > 0:
            return
        assert time.monotonic() < deadline, f"pipeline stalled: {stats}"
        time.sleep(0.2)


def _acknowledgements(system) -> list:
    async def go():
        nc = await connect(system.url_for("reader"))
        try:
            return [r.event.body async for _, r in ledger_records(nc.jetstream())
                    if r.event.type == "alert.acknowledged"]
        finally:
            await nc.close()

    return _run(go())


@pytest.fixture
def page():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        try:
            yield browser.new_page(viewport={"width": 1440, "height": 900})
        finally:
            browser.close()


def test_an_operator_acknowledges_a_live_alert_from_the_page(system, page):
    # four quiet hours of two capture plants: hourly CO2 balances for the charts
    plants = [("ccs-21", "Capture plant 21", 0.92), ("ccs-22", "Capture plant 22", 0.81)]
    for facility, name, capture in plants:
        _publish(system, facility, _plant(facility, name, range(0, 250), capture))
    _settled(system)

    errors, sent = [], []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # what the Content-Security-Policy blocks is reported on the console
    page.on("console", lambda m: "Content Security Policy" in m.text and errors.append(m.text))
    page.on("request", lambda r: sent.append((r.method, r.url, "authorization" in r.headers)))
    page.goto(system.http_url + "/")
    page.wait_for_selector(".card[data-facility=ccs-21]")
    page.wait_for_selector("#live.ok")
    page.locator(".card[data-facility=ccs-21] .figure", has_text="% captured").wait_for()
    assert page.locator("tr[data-alert-id]").count() == 0

    # the solvent of plant 21 overheats: the alert arrives through /stream
    _publish(system, "ccs-21", _plant("ccs-21", "", range(250, 262), 0.92, hot=True))
    row = page.locator("tr[data-alert-id]").first
    row.wait_for(timeout=30_000)
    assert "ccs-21" in row.inner_text() and "solvent_temp" in row.inner_text()
    alert_id = row.get_attribute("data-alert-id")

    # reads are open, commands are not: the page asks for an operator's token once
    key = TokenKey.load_or_create(system.settings.api_key_path)
    row.locator("input").fill("crew on the way")
    row.locator("button.ack").click()
    page.wait_for_selector("#token-dialog[open]")
    page.fill("#token-input", key.issue("ada", "operator", int(time.time()) + 600))
    page.click("#token-dialog button[value=save]")
    page.locator(f'tr[data-alert-id="{alert_id}"] td.acked', has_text="ada").wait_for(
        timeout=30_000)
    acks = _acknowledgements(system)
    assert [(a.alert_id, a.user, a.note) for a in acks] == [(alert_id, "ada", "crew on the way")]
    # reads are open: the token went with the command only, and never into a URL
    assert {(m, u.split("?")[0].removeprefix(system.http_url)) for m, u, auth in sent if auth} \
        == {("POST", f"/alerts/{alert_id}/acknowledge")}
    assert not [u for _, u, _ in sent if "token=" in u]

    # the page checks each new signed tree head against the one it saw before
    page.locator("#verified", has_text="verified").wait_for(timeout=30_000)
    head = httpx.get(system.http_url + "/ledger/head", timeout=30).json()
    proof = httpx.get(system.http_url + "/ledger/consistency",
                      params={"first": 3, "second": head["tree_size"]}, timeout=30).json()
    check = ("([f, s, p, a, b]) => import('/static/consistency.js')"
             ".then(m => m.verifyConsistency(f, s, p, a, b))")
    args = [3, head["tree_size"], proof["proof"], proof["first_root"], head["root_hash"]]
    assert page.evaluate(check, args) is True
    tampered = [proof["proof"][0][:-1] + ("0" if proof["proof"][0][-1] != "0" else "1"),
                *proof["proof"][1:]]
    assert page.evaluate(check, [*args[:2], tampered, *args[3:]]) is False
    assert page.evaluate(check, [*args[:3], head["root_hash"], head["root_hash"]]) is False
    assert errors == []


# ---- a newcomer's first minutes: `plumeline up` with a short history ----------------

WIDTHS = (1280, 1920, 390)
OVERFLOWS = """() => {
  const out = [];
  const inside = (el, box, what) => {
    const a = el.getBoundingClientRect(), b = box.getBoundingClientRect();
    if (a.left < b.left - 0.5 || a.right > b.right + 0.5)
      out.push(`${what}: ${a.left}..${a.right} outside ${b.left}..${b.right}`);
  };
  for (const t of document.querySelectorAll("main table"))
    inside(t, t.closest("section"), `table in ${t.closest("section").className}`);
  for (const b of document.querySelectorAll("#rec-rows button, #alert-rows button"))
    if (b.offsetParent) inside(b, b.closest("section"), `button ${b.textContent}`);
  if (document.documentElement.scrollWidth > window.innerWidth)
    out.push(`the page scrolls sideways: ${document.documentElement.scrollWidth}px`);
  return out;
}"""
# pixels of the emitted line (#e0a458) the balance chart drew
EMITTED_PIXELS = """() => {
  const c = document.querySelector("#balance-chart canvas");
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4)
    n += Math.abs(d[i] - 224) + Math.abs(d[i + 1] - 164) + Math.abs(d[i + 2] - 88) < 30;
  return n;
}"""


def _first_run_ready(url: str) -> dict:
    """Wait until both facilities have their past hours sealed and an open one, the
    projections hold the whole ledger, and a recommendation awaits a decision."""
    from tests.infra.test_up import _poll

    # three hours ago, taken to the hour: three whole hours sealed once the hosts catch up
    _poll(f"{url}/emissions/windows",
          lambda r: all(sum(w["facility"] == f for w in r.get("windows", [])) >= 3
                        for f in ("ccs-01", "factory-02")), 300)
    _poll(f"{url}/emissions/current",
          lambda r: r.get("count") == 2 and all(f["open"] for f in r["facilities"]), 60)
    _poll(f"{url}/recommendations/pending", lambda r: r.get("recommendations"), 120)
    return _poll(f"{url}/health",
                 lambda r: r.get("projections", {}).get("checkpoint") == r.get("ledger_size") > 0, 120)


def test_a_newcomer_sees_the_plants_past_and_a_page_that_fits(tmp_path, page):
    from tests.infra.test_up import _stop, _up

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _up(tmp_path / "data", port, "--history", "3")
    try:
        health = _first_run_ready(url)
        windows = httpx.get(f"{url}/emissions/windows", timeout=30).json()["windows"]
        assert {w["facility"] for w in windows} == {"ccs-01", "factory-02"}
        last = httpx.get(f"{url}/emissions/windows", params={"hours": 1}, timeout=30).json()
        assert [w["window_end_ms"] for w in last["windows"]] == [
            max(w["window_end_ms"] for w in windows if w["facility"] == f)
            for f in ("ccs-01", "factory-02")]
        for bad in ("0", "745", "x"):
            r = httpx.get(f"{url}/emissions/windows", params={"hours": bad}, timeout=30)
            assert r.status_code == 400 and "hours" in r.json()["error"], (bad, r.text)

        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto(url + "/")
        for facility in ("ccs-01", "factory-02"):
            card = page.locator(f".card[data-facility={facility}]")
            card.locator(".balance", has_text="emitted").first.wait_for()
            card.locator(".open", has_text="this hour so far").wait_for()
        assert "% captured" in page.locator(".card[data-facility=ccs-01] .figure").inner_text()
        # a series per facility with sealed hours, and the chosen one's flows drawn
        legend = page.locator("#efficiency-chart .u-legend").inner_text()
        assert "ccs-01" in legend and "factory-02" in legend, legend
        hours = {w["window_end_ms"] for w in windows if w["facility"] == "ccs-01"}
        assert int(page.get_attribute("#balance-chart", "data-hours")) >= len(hours) >= 3
        assert int(page.get_attribute("#efficiency-chart", "data-hours")) >= len(hours)
        assert page.evaluate(EMITTED_PIXELS) > 0
        # the latest ledger events are there at load, not only those that come after
        page.locator("#ticker li").first.wait_for()
        seqs = [int(s) for s in page.eval_on_selector_all(
            "#ticker li", "items => items.map(li => li.dataset.seq)")]
        assert min(seqs) <= health["ledger_size"] and len(seqs) >= 10, seqs
        page.locator("#rec-rows button.reject").first.wait_for()

        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            page.wait_for_timeout(500)  # the charts redraw 200 ms after a resize
            assert page.evaluate(OVERFLOWS) == [], width
            assert page.locator("#rec-rows button.reject").first.is_visible()
            if width in (1280, 390):
                page.screenshot(path=tmp_path / f"dashboard-{width}.png", full_page=True)
        assert errors == []
        if shot := os.environ.get("PLUMELINE_DASHBOARD_PNG"):
            page.set_viewport_size({"width": 1280, "height": 900})
            page.wait_for_timeout(3500)  # new rows' highlight fades in 3 s
            page.screenshot(path=shot)
        if keep := os.environ.get("PLUMELINE_DASHBOARD_SHOTS"):
            for width in (1280, 390):
                shutil.copy(tmp_path / f"dashboard-{width}.png", keep)
    finally:
        out = _stop(proc)
    assert "history_replayed" in out, out[-3000:]
