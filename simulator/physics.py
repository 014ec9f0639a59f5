"""Sensor physics: the true value of every channel of every facility of one kind.

Everything here is a pure function of event time and the facility-level anomaly
modifiers, evaluated for whole arrays at once (time along axis 0, facility along axis
1). Being pure in time is what makes the simulation identical however its steps are
batched, and lets any step be generated without the steps before it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CAPTURE_LOAD_SLOPE", "CAPTURE_RATE_RANGE", "LAG_MS", "channels", "draw_params",
           "nominal"]

Params = dict[str, np.ndarray]

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
# Captured CO2 takes this long through compression and pipeline to reach the well, so
# the injected flow follows the captured flow with this delay.
LAG_MS = 30_000
# Natural gas burns to about 1.96 kg of CO2 per normal cubic metre.
GAS_CO2_T_PER_NM3 = 1.96e-3
# Amine capture loses this much of its rate per unit of load above design, within
# these bounds.
CAPTURE_LOAD_SLOPE = 0.04
CAPTURE_RATE_RANGE = (0.5, 0.99)


def draw_params(kind: str, rng: np.random.Generator, count: int) -> Params:
    """Plant sizes and operating points for `count` facilities of one kind."""
    u = rng.uniform
    p = {
        # the daily load peaks in the afternoon, dips at weekends, and wanders with
        # grid dispatch on a scale of tens of minutes (visible in a short demo)
        "peak_hour": u(13, 18, count),
        "diurnal": u(0.08, 0.18, count),
        "weekend_dip": u(0.05, 0.2, count),
        "dispatch_period_s": u(1200, 5400, (2, count)),
        "dispatch_amp": u(0.01, 0.04, (2, count)),
        "dispatch_phase": u(0, 2 * np.pi, (2, count)),
        "pm25_background": u(6, 14, count),
        "weather_amp": u(1, 4, count),
        "weather_period_s": u(4 * 3600, 10 * 3600, count),
        "weather_phase": u(0, 2 * np.pi, count),
    }
    if kind == "ccs":
        power = rng.random(count) < 0.6  # otherwise a cement kiln, a smaller source
        p |= {
            "power_host": power,
            "capacity": np.where(power, u(350, 650, count), u(90, 160, count)),
            "capture_rate": u(0.88, 0.93, count),
            "solvent_temp": u(38, 42, count),
            "compressor_bar": u(105, 120, count),
            "wellhead_bar": u(75, 100, count),
        }
    elif kind == "factory":
        p |= {"fuel_nm3_h": u(8000, 30000, count), "nox_base": u(80, 180, count)}
    else:
        raise ValueError(f"no physics for facility kind {kind!r}")
    return p


def _load(p: Params, t_ms: np.ndarray) -> np.ndarray:
    """Plant load relative to nominal, shape (T, F)."""
    t = t_ms[:, None]
    hour = (t % DAY_MS) / HOUR_MS
    # 1970-01-01 was a Thursday; with Monday = 0, Saturday and Sunday are 5 and 6
    weekday = (t // DAY_MS + 3) % 7
    load = 1 + p["diurnal"] * np.sin(2 * np.pi * (hour - p["peak_hour"] + 6) / 24)
    load = load * np.where(weekday >= 5, 1 - p["weekend_dip"], 1.0)
    t_s = t / 1000.0
    for k in range(2):
        wave = 2 * np.pi * t_s / p["dispatch_period_s"][k] + p["dispatch_phase"][k]
        load = load + p["dispatch_amp"][k] * np.sin(wave)
    return load


def _ambient_pm25(p: Params, t_ms: np.ndarray, load) -> np.ndarray:
    wave = 2 * np.pi * (t_ms[:, None] / 1000.0) / p["weather_period_s"] + p["weather_phase"]
    return p["pm25_background"] * (0.85 + 0.15 * load) + p["weather_amp"] * np.sin(wave)


def _ccs(p: Params, load, load_lag, pm25, loss, loss_lag, leak) -> dict[str, np.ndarray]:
    def captured_at(load, loss):
        # amine capture loses a little efficiency when the absorber runs above design
        rate = np.clip(p["capture_rate"] - CAPTURE_LOAD_SLOPE * (load - 1),
                       *CAPTURE_RATE_RANGE) * (1 - loss)
        return p["capacity"] * load * rate, rate

    flow = p["capacity"] * load
    captured, rate = captured_at(load, loss)
    arriving, _ = captured_at(load_lag, loss_lag)
    stored = arriving * (1 - leak)
    design = p["capacity"] * p["capture_rate"]
    return {
        "flue_gas_co2": flow,
        "co2_captured": captured,
        "capture_rate": 100 * rate,
        # an overheated lean solvent is the usual cause of a capture loss
        "solvent_temp": p["solvent_temp"] + 3 * (load - 1) + 15 * loss,
        "compressor_pressure": p["compressor_bar"] * (0.85 + 0.15 * captured / design),
        "wellhead_pressure": p["wellhead_bar"] * (0.9 + 0.1 * stored / design) * (1 - 0.5 * leak),
        "co2_injected": stored,
        # the stack vents what the absorber missed; leaked CO2 is reported here too, so
        # emitted = stored + vented holds for the site as a whole
        "co2_vented": flow - captured + arriving * leak,
        "pm25": pm25,
    }


def _factory(p: Params, load, pm25) -> dict[str, np.ndarray]:
    fuel = p["fuel_nm3_h"] * load
    return {
        "stack_co2": fuel * GAS_CO2_T_PER_NM3,
        "nox": p["nox_base"] * (0.85 + 0.15 * load),
        "fuel_flow": fuel,
        "pm25": pm25,
    }


def channels(kind: str, p: Params, t_ms: np.ndarray, loss, loss_lag, leak) -> dict[str, np.ndarray]:
    """True channel values at event times `t_ms` (T,), each of shape (T, F).

    `loss` is the fraction of capture lost at t and `loss_lag` the same at t − LAG_MS;
    `leak` the fraction of injected CO2 lost on the way to the well. All are (T, F),
    and ignored by kinds without capture.
    """
    load = _load(p, t_ms)
    pm25 = _ambient_pm25(p, t_ms, load)
    if kind == "ccs":
        return _ccs(p, load, _load(p, t_ms - LAG_MS), pm25, loss, loss_lag, leak)
    return _factory(p, load, pm25)


def nominal(kind: str, p: Params) -> dict[str, np.ndarray]:
    """Channel levels at full load with nothing wrong, each of shape (F,): the scale
    against which anomaly magnitudes and measurement noise are expressed."""
    one = np.ones((1, len(p["diurnal"])))
    pm25 = p["pm25_background"] * one
    if kind == "ccs":
        zero = 0 * one
        out = _ccs(p, one, one, pm25, zero, zero, zero)
    else:
        out = _factory(p, one, pm25)
    return {name: np.asarray(v, dtype=float).reshape(-1) for name, v in out.items()}
