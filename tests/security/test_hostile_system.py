"""The whole system under hostile input: impossible times posted to /ingest and
published on NATS, then a few thousand fuzzed frames and commands. Every projection
keeps moving, every route answers, nothing is lost outside DEADLETTER, and the
ledger verifies and replays."""

from __future__ import annotations

import asyncio
import json
import math
import time

import httpx
import msgspec
import ray
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plumeline.events import Manifest, SensorSpec, command_subject, encode_wire, readings_subject
from plumeline.infra.cli.main import main
from plumeline.infra.runtime.nats import DEADLETTER, READINGS, connect
from plumeline.serve.tokens import TokenKey
from tests.infra.conftest import _all_acked
from tests.security.test_hostile_input import MAX_U64, YEAR_2200, hostile_frames, raw_frame

FACILITY = "ccs-hostile"
PARTITIONS = 4
SPECS = [SensorSpec("flue_co2", "CO2 flow", "t/h", "emitted"),
         SensorSpec("solvent_temp", "temperature", "degC")]
SENSORS = [s.sensor for s in SPECS]
ROUTES = ["/health", "/alerts", "/hotspots", "/facilities", f"/facilities/{FACILITY}",
          f"/facilities/{FACILITY}/sensors", f"/facilities/{FACILITY}/metrics",
          f"/facilities/{FACILITY}/sensors/flue_co2/history", "/emissions/current",
          "/ledger/head", "/ledger/events", "/recommendations", "/metrics"]


def bearer(system, role: str) -> dict:
    key = TokenKey.load_or_create(system.settings.api_key_path)
    facilities = [FACILITY] if role == "device" else []  # a device names where it posts
    token = key.issue("ada", role, int(time.time()) + 3600, facilities=facilities)
    return {"Authorization": f"Bearer {token}"}


def _publish(system, messages: list[tuple[str, bytes]]) -> None:
    """Publish in order, as the identity that may: the HTTP layer's on command
    subjects, the simulator's on readings subjects."""
    async def go():
        ncs = {who: await connect(system.url_for(who)) for who in ("serve", "simulator")}
        try:
            for subject, data in messages:
                who = "serve" if subject.endswith(".command") else "simulator"
                await ncs[who].jetstream().publish(subject, data)
        finally:
            for nc in ncs.values():
                await nc.close()
    asyncio.run(go())


def _settled(system, timeout: float = 120.0) -> dict:
    """Wait until the shard hosts took every READINGS message and both projections
    reached the ends of their streams."""
    async def ends():
        nc = await connect(system.url_for("reader"))
        try:
            js = nc.jetstream()
            last = (await js.stream_info(READINGS)).state.last_seq
            return last, await _all_acked(js, last)
        finally:
            await nc.close()

    deadline = time.monotonic() + timeout
    while True:
        last, acked = asyncio.run(ends())
        stats = system.stats()
        if acked and stats["readings_projected"] == last \
                and stats["projected"] == stats["ledger_size"]:
            return stats
        assert time.monotonic() < deadline, f"a follower stopped: {stats}, READINGS at {last}"
        time.sleep(0.2)


def _register(system) -> None:
    manifest = encode_wire(Manifest(facility=FACILITY, name="Hostile", kind="ccs", sensors=SPECS))
    _publish(system, [(readings_subject(FACILITY, PARTITIONS), manifest)])


def _routes_answer(system) -> None:
    for route in ROUTES:
        r = httpx.get(system.http_url + route, headers=bearer(system, "admin"), timeout=30)
        assert r.status_code == 200, (route, r.status_code, r.text[:300])


def _dead_letters(url: str) -> list:
    async def go():
        nc = await connect(url)
        js = nc.jetstream()
        info = await js.stream_info(DEADLETTER)
        found = [await js.get_msg(DEADLETTER, s)
                 for s in range(info.state.first_seq, info.state.last_seq + 1)]
        await nc.close()
        return found
    return asyncio.run(go())


def test_impossible_times_are_refused_at_ingest_and_on_nats(system):
    _register(system)
    device = bearer(system, "device")
    url = f"{system.http_url}/ingest"
    now = int(time.time() * 1000)
    for times, says in (([MAX_U64], "times"), ([YEAR_2200], "times"),
                        ([now + 2 * 86_400_000], "a day")):
        body = json.dumps({"type": "frame", "facility": FACILITY, "sensors": ["flue_co2"],
                           "times": times, "values": [1.0]})
        r = httpx.post(url, content=body, headers=device, timeout=30)
        assert r.status_code == 422 and says in r.json()["error"], r.text
    r = httpx.post(url, content=b'{"type": "frame", "facility": "%s", "sensors": ["flue_co2"],'
                   b' "times": [%d], "values": [1e999]}' % (FACILITY.encode(), now),
                   headers=device, timeout=30)
    assert r.status_code == 422 and "values" in r.json()["error"], r.text  # not finite

    subject = readings_subject(FACILITY, PARTITIONS)
    good = raw_frame(sensors=SENSORS, times=[now, now], values=[400.0, 40.0])
    _publish(system, [(subject, d) for d in hostile_frames(now)] + [(subject, good)])
    _settled(system)
    _routes_answer(system)
    latest = ray.get(system.projections.query.remote("latest_readings", facility=FACILITY))
    assert {(r["sensor"], r["time_ms"]) for r in latest} == {(s, now) for s in SENSORS}
    reasons = [m.headers["Plumeline-Reason"] for m in _dead_letters(system.url_for("reader"))]
    assert any("malformed frame" in r and "times" in r for r in reasons)
    assert any("timestamp in the future" in r for r in reasons)
    assert any("value not finite" in r for r in reasons)


# -- fuzzing ---------------------------------------------------------------------------

_junk = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**64 - 1), st.floats(allow_nan=True),
    st.text(max_size=80), st.none(), st.booleans(), st.binary(max_size=40),
    st.lists(st.integers(min_value=-(2**63), max_value=2**64 - 1), max_size=4),
    st.lists(st.text(max_size=70), max_size=4))


@st.composite
def _message(draw, now: int) -> dict:
    """A frame or a command as it should be, then perhaps a field or two made wrong."""
    kind = draw(st.sampled_from(["frame", "frame", "frame", "command.acknowledge_alert",
                                 "command.silence_sensor", "command.approve_recommendation"]))
    n = draw(st.integers(min_value=0, max_value=6))
    t = now + draw(st.integers(min_value=-600_000, max_value=600_000))
    if kind == "frame":
        msg = {"type": "frame", "facility": FACILITY,
               "sensors": [draw(st.sampled_from(SENSORS + ["ghost"])) for _ in range(n)],
               "times": [t + 1000 * k for k in range(n)],
               "values": [draw(st.floats(allow_nan=True, allow_infinity=True)) for _ in range(n)]}
    else:
        msg = {"type": kind, "facility": FACILITY, "user": "mallory", "time": t,
               "alert_id": "a" * draw(st.integers(0, 3)), "until_ms": t + 60_000,
               "recommendation_id": "r1", "note": draw(st.text(max_size=30))}
        if kind == "command.silence_sensor":
            del msg["alert_id"], msg["recommendation_id"]
        elif kind == "command.acknowledge_alert":
            del msg["until_ms"], msg["recommendation_id"]
        else:
            del msg["until_ms"], msg["alert_id"]
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        msg[draw(st.sampled_from([*msg, "extra"]))] = draw(_junk)
    return msg


def _bytes_of(msg: dict, mutation: int) -> bytes:
    data = msgspec.msgpack.encode(msg)
    if mutation == 1 and data:  # truncated
        return data[: len(data) // 2]
    if mutation == 2 and data:  # one byte flipped
        return data[:3] + bytes([data[3 % len(data)] ^ 0xFF]) + data[4:]
    return data


def _as_json(msg: dict) -> bytes | None:
    try:
        return msgspec.json.encode(msg)
    except (TypeError, ValueError, OverflowError):
        return None


SENT: dict[str, int] = {"nats": 0, "http": 0, "http_accepted": 0}


@settings(max_examples=25, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(st.data())
def test_fuzzed_frames_and_commands_are_taken_or_refused(system, data):
    now = int(time.time() * 1000)
    batch = data.draw(st.lists(_message(now), min_size=100, max_size=100))
    mutations = data.draw(st.lists(st.sampled_from([0, 0, 1, 2]), min_size=100, max_size=100))
    facility = data.draw(st.sampled_from([FACILITY, FACILITY, "unknown-plant"]))
    # a command on its facility's command subject, as the HTTP layer sends it; one in
    # ten messages on the other subject, where the shard host refuses it
    misfiled = data.draw(st.lists(st.sampled_from([False] * 9 + [True]), min_size=100,
                                  max_size=100))
    subjects = [readings_subject(facility, PARTITIONS), command_subject(facility, PARTITIONS)]
    _publish(system, [(subjects[(m.get("type") != "frame") != wrong], _bytes_of(m, k))
                      for m, k, wrong in zip(batch, mutations, misfiled)])
    SENT["nats"] += len(batch)
    bodies = [b for m in batch[:8] if (b := _as_json(m)) is not None]
    frames = [m for m in batch if m.get("type") == "frame"]
    if (whole := _as_json(frames)) is not None:
        bodies.append(whole)
    with httpx.Client(headers=bearer(system, "device"), timeout=30) as client:
        for body in bodies:
            r = client.post(f"{system.http_url}/ingest", content=body)
            assert r.status_code == 202 or 400 <= r.status_code < 500, (r.status_code, r.text)
            assert r.status_code == 202 or r.json().get("error"), r.text
            SENT["http"] += 1
            SENT["http_accepted"] += r.status_code == 202


def test_after_the_fuzz_the_system_is_healthy_and_its_ledger_verifies_and_replays(system):
    assert SENT["nats"] >= 2000 and SENT["http"] >= 100 and SENT["http_accepted"] > 0
    stats = _settled(system)
    assert stats["rejected"] > 0
    _routes_answer(system)
    dead = _dead_letters(system.url_for("reader"))
    assert dead and all(m.headers.get("Plumeline-Reason") for m in dead)
    reasons = [str(m.headers["Plumeline-Reason"]) for m in dead]
    assert any("commands are taken only from the command subject" in r for r in reasons)
    assert any(r.startswith("a frame on command subject") for r in reasons)
    metrics = httpx.get(f"{system.http_url}/metrics", timeout=30).text
    for follower in ("ledger", "readings", "stream_feed"):
        assert f'plumeline_follower_dead_lettered_total{{follower="{follower}"}} 0' in metrics
    latest = ray.get(system.projections.query.remote("latest_readings", facility=FACILITY))
    assert latest and all(math.isfinite(r["value"]) for r in latest)
    assert all(r["time_ms"] <= int(time.time() * 1000) + 600_000 for r in latest)
    data_dir = str(system.settings.data_dir)
    assert main(["verify", "--data-dir", data_dir]) == 0
    assert main(["audit", "replay", "--data-dir", data_dir]) == 0
