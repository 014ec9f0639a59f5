"""`/emissions/forecast`, `/simulate` and `/simulate/batch` over HTTP, on the real
`emissions` projection in an embedded chDB store."""

from __future__ import annotations

import math

import pytest
from starlette.testclient import TestClient

from plumeline.events import Causation, EmissionsMeasured, Envelope, Ledger
from plumeline.projections import Forecasts, Projector, open_store
from plumeline.serve.app import build_app
from plumeline.simulator import what_if
from tests.serve.test_api import KEY, NOW, bearer
from tests.serve.test_api import Ledger as LedgerView

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
HOUR = 3_600_000


def measured(facility: str, hour: int, capture: bool) -> EmissionsMeasured:
    emitted = 100 + 10 * math.sin(2 * math.pi * hour / 24) + math.sin(hour * 1.3)
    stored = 0.88 * emitted if capture else 0.0
    return EmissionsMeasured(
        facility=facility, window_start=T0 + hour * HOUR, window_end=T0 + (hour + 1) * HOUR,
        emitted_t=emitted, captured_t=0.9 * emitted if capture else 0.0, stored_t=stored,
        vented_t=emitted - stored, capture_efficiency=0.9 if capture else 0.0, readings=3600,
        first_seq=1, last_seq=2,
    )


class StoreReader:
    """What the ProjectionRunner does with a query, minus Ray and NATS."""

    def __init__(self, store) -> None:
        self.store, self.forecasts = store, Forecasts()

    async def query(self, name, **params):
        assert name == "emissions_forecast", name
        return self.forecasts.forecast(self.store, **params)


@pytest.fixture(scope="module")
def projected(tmp_path_factory):
    with open_store(path=str(tmp_path_factory.mktemp("chdb"))) as store:
        projector = Projector(store)
        projector.rebuild()
        ledger = Ledger()

        def grow(hours: range, facilities=("ccs-01", "factory-02")) -> None:
            envelopes = [
                Envelope.wrap(measured(f, h, f.startswith("ccs")), time=T0 + (h + 1) * HOUR,
                              causation=Causation("readings", ledger.size + 1 + i, 0))
                for i, (h, f) in enumerate((h, f) for h in hours for f in facilities)
            ]
            projector.apply([(r.seq, r.data) for r in ledger.seal(envelopes)])

        grow(range(0, 80))  # past the third midnight: models are fitted on 72 windows
        yield store, grow


def client(store, *, with_what_if=True, open_reads=True) -> TestClient:
    app = build_app(StoreReader(store), LedgerView(), verify=KEY.verify, clock=lambda: NOW,
                    open_reads=open_reads, what_if=what_if if with_what_if else None)
    return TestClient(app)


def test_forecast_is_404_until_two_days_then_168_hours_with_intervals(projected):
    store, grow = projected
    grow(range(0, 40), ["ccs-03"])
    c = client(store)
    r = c.get("/emissions/forecast", params={"facility": "ccs-03"})
    assert r.status_code == 404 and "needs 48" in r.json()["error"], r.text
    assert c.post("/simulate", json={"facility": "ccs-03", "scenario": {
        "kind": "fuel_switch", "co2_factor": 0.8}}).status_code == 404
    grow(range(40, 80), ["ccs-03"])
    r = c.get("/emissions/forecast", params={"facility": "ccs-03"})
    assert r.status_code == 200, r.text
    f = r.json()
    assert len(f["points"]) == 168 and f["fitted_through_ms"] == T0 + 72 * HOUR
    assert f["points"][0]["window_start_ms"] == T0 + 80 * HOUR == f["origin_ms"]
    for p in f["points"]:
        for series in ("emitted_t", "net_t"):
            b = p[series]
            assert b["lo95"] <= b["lo80"] <= b["mean"] <= b["hi80"] <= b["hi95"]
        assert 80 < p["emitted_t"]["mean"] < 120 and 8 < p["net_t"]["mean"] < 16
    assert len(c.get("/emissions/forecast", params={"facility": "ccs-01", "horizon_h": 24})
               .json()["points"]) == 24


@pytest.mark.parametrize("params, status", [
    ({}, 400), ({"facility": "ccs-01", "horizon_h": "169"}, 400),
    ({"facility": "ccs-01", "horizon_h": "0"}, 400), ({"facility": "ccs-01", "horizon_h": "x"}, 400),
    ({"facility": "nowhere"}, 404),
])
def test_bad_forecast_requests_say_why(projected, params, status):
    r = client(projected[0]).get("/emissions/forecast", params=params)
    assert r.status_code == status and r.json()["error"]


def test_a_capture_outage_vents_what_it_would_have_stored(projected):
    c = client(projected[0])
    r = c.post("/simulate", json={"facility": "ccs-01", "horizon_h": 48, "scenario": {
        "kind": "capture_outage", "start_h": 6, "duration_h": 12}})
    assert r.status_code == 200, r.text
    out = r.json()
    assert len(out["hours"]) == 48 and out["scenario"]["kind"] == "capture_outage"
    lost = 0.0
    for i, h in enumerate(out["hours"]):
        base, proj = h["baseline"], h["projected"]
        assert base["net_t"] == pytest.approx(base["emitted_t"] - base["stored_t"], abs=1e-2)
        if 6 <= i < 18:
            assert proj["stored_t"] == 0 and proj["vented_t"] == proj["emitted_t"]
            lost += base["stored_t"]
        else:
            assert proj == base
    diff = out["difference_tco2e_per_day"]
    assert diff["net_t"] == pytest.approx(lost / 2, rel=1e-3)  # 48 h: per day is half
    assert diff["stored_t"] == pytest.approx(-diff["net_t"]) and diff["emitted_t"] == 0


def test_load_and_fuel_change_emissions_and_a_batch_answers_in_order(projected):
    c = client(projected[0])
    batch = {"scenarios": [
        {"facility": "factory-02", "horizon_h": 24, "scenario": {"kind": "load_change",
                                                                 "factor": 1.2}},
        {"facility": "ccs-01", "horizon_h": 24, "scenario": {"kind": "fuel_switch",
                                                             "co2_factor": 0.5}},
        {"facility": "ccs-01", "horizon_h": 24, "scenario": {"kind": "solvent_change",
                                                             "capture_rate_pct": 95}},
    ]}
    r = c.post("/simulate/batch", json=batch)
    assert r.status_code == 200, r.text
    load, fuel, solvent = r.json()["results"]
    assert load["facility"] == "factory-02" and load["difference_tco2e_per_day"]["net_t"] > 0
    assert fuel["difference_tco2e_per_day"]["emitted_t"] < 0
    assert fuel["difference_tco2e_per_day"]["net_t"] < 0
    assert solvent["difference_tco2e_per_day"]["captured_t"] > 0  # 90% -> 95%
    assert solvent["difference_tco2e_per_day"]["net_t"] < 0


@pytest.mark.parametrize("payload, status, says", [
    (b"nope", 400, "not JSON"),
    ({"facility": "ccs-01", "scenario": {"kind": "teleport"}}, 422, "kind"),
    ({"facility": "ccs-01", "scenario": {"kind": "load_change", "factor": 3}}, 422, "factor"),
    ({"facility": "ccs-01", "scenario": {"kind": "load_change"}}, 422, "factor"),
    ({"facility": "ccs-01", "horizon_h": 24,
      "scenario": {"kind": "capture_outage", "start_h": 30}}, 422, "start_h"),
    ({"facility": "factory-02", "scenario": {"kind": "capture_outage"}}, 422, "capture"),
    ({"facility": "ccs-01", "scenario": {"kind": "load_change", "factor": 1}, "x": 1}, 422, "x"),
])
def test_bad_scenarios_say_what_is_wrong(projected, payload, status, says):
    c = client(projected[0])
    kw = {"content": payload} if isinstance(payload, bytes) else {"json": payload}
    r = c.post("/simulate", **kw)
    assert r.status_code == status and says in r.json()["error"], r.text


def test_batches_are_bounded_and_name_the_bad_item(projected):
    c = client(projected[0])
    one = {"facility": "ccs-01", "horizon_h": 24, "scenario": {"kind": "capture_outage"}}
    assert c.post("/simulate/batch", json={"scenarios": [one] * 17}).status_code == 422
    assert c.post("/simulate/batch", json={"scenarios": []}).status_code == 422
    bad = {**one, "facility": "factory-02"}
    r = c.post("/simulate/batch", json={"scenarios": [one, bad]})
    assert r.status_code == 422 and r.json()["error"].startswith("scenarios[1]: ")


def test_who_may_simulate(projected):
    store = projected[0]
    body = {"facility": "ccs-01", "scenario": {"kind": "fuel_switch", "co2_factor": 0.9}}
    closed = client(store, open_reads=False)
    assert closed.post("/simulate", json=body).status_code == 401
    assert closed.post("/simulate", json=body, headers=bearer("viewer")).status_code == 200
    assert client(store, with_what_if=False).post("/simulate", json=body).status_code == 503
