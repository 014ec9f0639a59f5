"""What-if scenarios: a facility's hourly CO2 balance under a change, next to its baseline.

The baseline is hourly tonnes emitted, captured, stored and vented (from the
facility's forecast). A scenario changes the plant for hours [start_h, start_h +
duration_h) and the balance follows the rules of simulator/physics.py:

- `load_change` (`factor`): the plant runs at `factor` times its load; emissions
  scale with it, and amine capture loses `CAPTURE_LOAD_SLOPE` of its rate per unit of
  load above design (gains below), within `CAPTURE_RATE_RANGE`.
- `capture_outage` (`fraction`, default 1): that share of capture is lost; what is
  not captured is vented.
- `solvent_change` (`capture_rate_pct`): a fresh or different solvent brings the
  capture rate to this, still within `CAPTURE_RATE_RANGE`.
- `fuel_switch` (`co2_factor`): the new fuel emits `co2_factor` times the CO2 per unit
  of heat (0.8 for a hydrogen blend that cuts a fifth); capture keeps its rate.

What is stored is what is captured times the share that reaches the well, and
vented = emitted − stored, as in the physics. Pure: arrays in, arrays out.
"""

from __future__ import annotations

import numpy as np

from plumeline.simulator.physics import CAPTURE_LOAD_SLOPE, CAPTURE_RATE_RANGE

__all__ = ["CAPTURE_KINDS", "SCENARIO_KINDS", "project", "what_if"]

SCENARIO_KINDS = ("load_change", "capture_outage", "solvent_change", "fuel_switch")
CAPTURE_KINDS = ("capture_outage", "solvent_change")
FLOWS = ("emitted_t", "captured_t", "stored_t", "vented_t")


def project(baseline: dict[str, np.ndarray], scenario: dict, has_capture: bool,
            ) -> dict[str, np.ndarray]:
    """The balance under `scenario` ({"kind": …, its parameters, "start_h",
    "duration_h"}); raises ValueError for a scenario this plant cannot have."""
    kind = scenario["kind"]
    if kind not in SCENARIO_KINDS:
        raise ValueError(f"scenario kind must be one of {', '.join(SCENARIO_KINDS)}")
    if kind in CAPTURE_KINDS and not has_capture:
        raise ValueError(f"{kind} needs a capture plant, and this facility captures nothing")
    e, c, s = (np.asarray(baseline[k], dtype=float) for k in FLOWS[:3])
    hours = len(e)
    active = np.zeros(hours, dtype=bool)
    start = scenario.get("start_h") or 0
    duration = scenario.get("duration_h") or hours
    active[start:start + duration] = True
    rate = np.divide(c, e, out=np.zeros(hours), where=e > 0)
    reach = np.divide(s, c, out=np.zeros(hours), where=c > 0)  # captured that is stored
    lo, hi = CAPTURE_RATE_RANGE
    match kind:
        case "load_change":
            f = scenario["factor"]
            e2 = e * f
            rate2 = np.where(rate > 0, np.clip(rate - CAPTURE_LOAD_SLOPE * (f - 1), lo, hi), 0.0)
        case "capture_outage":
            e2, rate2 = e, rate * (1 - scenario.get("fraction", 1.0))
        case "solvent_change":
            e2, rate2 = e, np.full(hours, np.clip(scenario["capture_rate_pct"] / 100, lo, hi))
        case _:  # fuel_switch
            e2, rate2 = e * scenario["co2_factor"], rate
    e2 = np.where(active, e2, e)
    c2 = np.where(active, e2 * rate2, c)
    s2 = np.where(active, c2 * np.where(c > 0, reach, _typical(reach)), s)
    return {"emitted_t": e2, "captured_t": c2, "stored_t": s2, "vented_t": e2 - s2}


def _typical(reach: np.ndarray) -> float:
    positive = reach[reach > 0]
    return float(np.median(positive)) if len(positive) else 1.0


def what_if(forecast: dict, scenario: dict) -> dict:
    """The answer to `POST /simulate`: the facility's forecast (projections/forecast.py,
    with points) as the baseline, the scenario's balance beside it hour by hour, and the
    difference in t/day averaged over the horizon (projected − baseline)."""
    emitted = np.array([max(p["emitted_t"]["mean"], 0.0) for p in forecast["points"]])
    net = np.array([p["net_t"]["mean"] for p in forecast["points"]])
    shares = forecast["recent"]
    stored = np.clip(emitted - net, 0.0, emitted)
    if shares["stored_share"] > 0:
        captured = np.minimum(stored / shares["stored_share"], emitted)
    else:
        captured = emitted * shares["captured_share"]
    baseline = {"emitted_t": emitted, "captured_t": captured, "stored_t": stored,
                "vented_t": emitted - stored}
    projected = project(baseline, scenario, has_capture=shares["captured_share"] > 0)
    hours = []
    for i, p in enumerate(forecast["points"]):
        hours.append({"window_start_ms": p["window_start_ms"], "window_start": p["window_start"],
                      "baseline": _balance(baseline, i), "projected": _balance(projected, i)})
    per_day = 24 / len(emitted)
    difference = {k: round(float((projected[k] - baseline[k]).sum()) * per_day, 3)
                  for k in FLOWS}
    difference["net_t"] = round(difference["emitted_t"] - difference["stored_t"], 3)
    return {"facility": forecast["facility"], "scenario": scenario,
            "horizon_h": len(emitted), "baseline": "forecast", "origin": forecast["origin"],
            "difference_tco2e_per_day": difference, "hours": hours}


def _balance(flows: dict[str, np.ndarray], i: int) -> dict[str, float]:
    out = {k: round(float(flows[k][i]), 3) for k in FLOWS}
    out["net_t"] = round(float(flows["emitted_t"][i] - flows["stored_t"][i]), 3)
    return out
