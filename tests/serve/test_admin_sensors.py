"""Admin sensor management on the whole system (nats-server, Ray shard hosts, ledger,
chDB, Serve): declare, change and retire a sensor over HTTP, each recorded in the
ledger as a manifest's sensors are, a retired sensor's readings refused as an
undeclared one's, and `audit replay` reproducing it all."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from plumeline.events import (
    Frame,
    Manifest,
    SensorSpec,
    encode_wire,
    readings_subject,
)
from plumeline.infra.cli.main import main
from plumeline.infra.runtime.nats import connect
from plumeline.infra.runtime.streams import ledger_records
from plumeline.serve.tokens import TokenKey

T0 = 1_767_225_600_000
FACILITY = "ccs-21"
PARTITIONS = 4  # the system fixture's
SENSORS = "/admin/facilities/ccs-21/sensors"
MANIFEST = Manifest(facility=FACILITY, name="Capture plant 21", kind="ccs", time=T0, sensors=[
    SensorSpec(sensor="flue_co2", quantity="CO2 flow", unit="t/h", role="emitted"),
    SensorSpec(sensor="solvent_temp", quantity="temperature", unit="degC")])


async def _publish(url: str, messages: list) -> None:
    nc = await connect(url)
    try:
        for m in messages:
            await nc.jetstream().publish(readings_subject(FACILITY, PARTITIONS), encode_wire(m))
    finally:
        await nc.close()


async def _ledger(url: str) -> list:
    nc = await connect(url)
    try:
        return [r.event async for _, r in ledger_records(nc.jetstream())]
    finally:
        await nc.close()


def _until(check, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.2)
    return found


@pytest.fixture(scope="module")
def plant(system):
    """The system with ccs-21 registered by its manifest, and an admin's, an
    operator's and no token."""
    asyncio.run(_publish(system.url_for("simulator"), [MANIFEST]))
    key = TokenKey.load_or_create(system.settings.api_key_path)

    def bearer(role: str) -> dict:
        return {"Authorization": f"Bearer {key.issue('root', role, int(time.time()) + 600)}"}

    with httpx.Client(base_url=system.http_url, timeout=30) as client:
        admin = bearer("admin")
        _until(lambda: client.get(SENSORS, headers=admin).status_code == 200, "registered")
        yield client, admin, bearer("operator")


def _settled(client, admin, sensor: str, r: httpx.Response, **want) -> dict:
    """The sensor as the route answered it, or (202: the projections were slower than
    the route's wait) as the listing shows it once they catch up."""
    assert r.status_code in (200, 201, 202), r.text
    if r.status_code != 202:
        return r.json()["state"]

    def shown():
        listed = client.get(SENSORS, headers=admin).json()["sensors"]
        s = next((s for s in listed if s["sensor"] == sensor), None)
        return s if s and all(s[k] == v for k, v in want.items()) else None

    return _until(shown, f"{sensor} as {want}")


def test_who_may_manage_sensors(plant):
    client, _, operator = plant
    for method, path, body in [("GET", SENSORS, None), ("POST", SENSORS, {}),
                               ("PATCH", SENSORS + "/flue_co2", {"unit": "kg/s"}),
                               ("DELETE", SENSORS + "/flue_co2", None)]:
        assert client.request(method, path, json=body).status_code == 401, (method, path)
        r = client.request(method, path, json=body, headers=operator)
        assert r.status_code == 403 and "may not manage" in r.json()["error"], (method, path)


def test_bad_requests_are_told_what_is_wrong(plant):
    client, admin, _ = plant
    new = {"sensor": "vent_co2", "quantity": "CO2 flow", "unit": "t/h", "role": "vented"}
    cases = [
        ("GET", "/admin/facilities/nowhere/sensors", None, 404, "no facility nowhere"),
        ("POST", "/admin/facilities/nowhere/sensors", new, 404, "no facility nowhere"),
        ("POST", SENSORS, {**new, "role": "leaked"}, 422, "role"),
        ("POST", SENSORS, {**new, "unit": "kg"}, 422, "read in t/h"),
        ("POST", SENSORS, {**new, "unit": ""}, 422, "unit"),
        ("POST", SENSORS, {**new, "sensor": "a.b"}, 422, "sensor"),
        ("POST", SENSORS, {**new, "colour": "red"}, 422, "colour"),
        ("POST", SENSORS, {**new, "sensor": "flue_co2"}, 409, "declared already"),
        ("PATCH", SENSORS + "/ghost", {"unit": "K"}, 404, "no sensor ghost"),
        ("PATCH", SENSORS + "/solvent_temp", {}, 422, "a unit, a role"),
        ("PATCH", SENSORS + "/solvent_temp", {"role": "stored"}, 422, "read in t/h"),
        ("PATCH", SENSORS + "/solvent_temp", {"unit": "degC"}, 409, "already"),
        ("DELETE", SENSORS + "/ghost", None, 404, "no sensor ghost"),
    ]
    for method, path, body, status, says in cases:
        r = client.request(method, path, json=body, headers=admin)
        assert r.status_code == status and says in r.json()["error"], (method, path, body, r.text)
    r = client.post(SENSORS, content=b"{not json", headers=admin)
    assert r.status_code == 400, r.text


def test_declare_change_retire_are_in_the_ledger_and_replay(plant, system):
    client, admin, _ = plant
    r = client.post(SENSORS, headers=admin, json={
        "sensor": "vent_co2", "quantity": "CO2 flow", "unit": "t/h", "role": "vented"})
    assert r.status_code in (201, 202), r.text
    assert _settled(client, admin, "vent_co2", r, role="vented")["retired"] is False
    r = client.patch(SENSORS + "/solvent_temp", headers=admin, json={"unit": "K"})
    assert _settled(client, admin, "solvent_temp", r, unit="K")["unit"] == "K"
    r = client.delete(SENSORS + "/solvent_temp", headers=admin)
    assert _settled(client, admin, "solvent_temp", r, retired=True)["by"] == "root"
    again = client.delete(SENSORS + "/solvent_temp", headers=admin)
    assert again.status_code == 409 and "retired already" in again.json()["error"]

    listed = client.get(SENSORS, headers=admin).json()
    assert [(s["sensor"], s["unit"], s["role"], s["retired"], s["by"])
            for s in listed["sensors"]] == [("flue_co2", "t/h", "emitted", False, ""),
                                            ("solvent_temp", "K", "process", True, "root"),
                                            ("vent_co2", "t/h", "vented", False, "root")]
    # the facilities' view shows the sensors in service only
    [shown] = [f for f in client.get("/facilities").json()["facilities"]
               if f["facility"] == FACILITY]
    assert [s["sensor"] for s in shown["sensors"]] == ["flue_co2", "vent_co2"]

    # the retired sensor's readings are refused as an undeclared one's; the rest count
    frame = Frame(facility=FACILITY, sensors=["flue_co2", "vent_co2", "solvent_temp"],
                  times=[T0 + 1000] * 3, values=[400.0, 2.0, 40.0])
    asyncio.run(_publish(system.url_for("simulator"), [frame]))

    def refused():
        events = asyncio.run(_ledger(system.url_for("reader")))
        return [e for e in events if e.facility == FACILITY] if any(
            e.type == "readings.rejected" and e.facility == FACILITY for e in events) else None

    mine = _until(refused, "the retired sensor's reading refused")
    rejected = next(e.body for e in mine if e.type == "readings.rejected")
    assert (rejected.count, rejected.reasons) == (1, {"retired sensor": 1})
    admin_events = [(e.type, e.sensor, e.body.unit, e.body.by) for e in mine
                    if e.type.startswith("sensor.") and getattr(e.body, "by", "")]
    assert admin_events == [("sensor.registered", "vent_co2", "t/h", "root"),
                            ("sensor.changed", "solvent_temp", "K", "root"),
                            ("sensor.retired", "solvent_temp", "K", "root")]

    system.drain()
    assert main(["audit", "replay", "--data-dir", str(system.settings.data_dir)]) == 0
