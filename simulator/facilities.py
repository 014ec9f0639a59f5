"""Facility templates: which sensors a site has, in which order, and what each measures.

A sensor reads a *channel*, a physical quantity of the plant computed once per
facility (simulator/physics.py). Several sensors may read the same channel — a second
solvent thermometer, a redundant fence-line monitor — which is how a facility grows to
100+ sensors while its readings stay physically coupled.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

__all__ = [
    "CCS",
    "FACTORY",
    "TEMPLATES",
    "FacilityTemplate",
    "SensorTemplate",
    "facility_ids",
    "facility_kinds",
]


@dataclass(frozen=True)
class SensorTemplate:
    """One sensor as a template declares it.

    `noise` is the measurement noise as a fraction of the channel's nominal level;
    `smooth` sensors (thermal mass, slow analysers, ambient air) get autocorrelated
    noise instead of white noise.
    """

    sensor: str
    quantity: str
    unit: str
    role: str
    channel: str
    noise: float
    smooth: bool = False


@dataclass(frozen=True)
class FacilityTemplate:
    """A kind of facility: its sensors in manifest order and how it is allowed to fail.

    `extras` names the sensors that are duplicated, in turn, once the base sensors are
    used up; only process sensors are, so a facility's CO2 balance never counts a flow
    twice. `effects` lists the channels each facility-level anomaly kind changes.
    """

    kind: str
    sensors: tuple[SensorTemplate, ...]
    extras: tuple[str, ...]
    effects: dict[str, frozenset[str]]

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.channel for s in self.sensors))

    def instances(self, n: int) -> list[SensorTemplate]:
        """The first `n` sensors: the base ones in order, then numbered extras.

        Extras are `<base>_2`, `<base>_3`, … cycling through `self.extras`, so with
        n=12 a CCS plant has its nine base sensors, `solvent_temp_2`,
        `compressor_pressure_2` and `wellhead_pressure_2`.
        """
        if n < 1:
            raise ValueError(f"a facility needs at least one sensor, got {n}")
        chosen = list(self.sensors[:n])
        base = {s.sensor: s for s in self.sensors}
        copies = ((name, k) for k in itertools.count(2) for name in self.extras)
        for name, k in itertools.islice(copies, max(0, n - len(chosen))):
            chosen.append(replace(base[name], sensor=f"{name}_{k}"))
        return chosen


def _sensor(sensor, quantity, unit, role, noise, smooth=False, channel=None):
    return SensorTemplate(sensor, quantity, unit, role, channel or sensor, noise, smooth)


# Post-combustion capture on a power unit or cement kiln: flue gas → amine absorber →
# stripper → compressor → pipeline → injection well. The order puts the CO2 balance
# first so that even a small --sensors-per-facility keeps emitted and captured.
CCS = FacilityTemplate(
    kind="ccs",
    sensors=(
        _sensor("flue_gas_co2", "co2_mass_flow", "t/h", "emitted", 0.01),
        _sensor("co2_captured", "co2_mass_flow", "t/h", "captured", 0.01),
        _sensor("capture_rate", "capture_efficiency", "%", "process", 0.003),
        _sensor("solvent_temp", "temperature", "°C", "process", 0.005, smooth=True),
        _sensor("compressor_pressure", "pressure", "bar", "process", 0.004, smooth=True),
        _sensor("wellhead_pressure", "pressure", "bar", "process", 0.004, smooth=True),
        _sensor("co2_injected", "co2_mass_flow", "t/h", "stored", 0.01),
        _sensor("co2_vented", "co2_mass_flow", "t/h", "vented", 0.02),
        _sensor("pm25", "pm25_concentration", "µg/m³", "process", 0.05, smooth=True),
    ),
    extras=("solvent_temp", "compressor_pressure", "wellhead_pressure", "pm25"),
    effects={
        # a degraded or overheated solvent absorbs less: less captured, compressed and
        # injected, more vented
        "capture_loss": frozenset(
            {
                "co2_captured",
                "capture_rate",
                "solvent_temp",
                "compressor_pressure",
                "wellhead_pressure",
                "co2_injected",
                "co2_vented",
            }
        ),
        # CO2 escaping between compressor and well: less arrives, the well loses
        # pressure, and the loss is reported with the site's vented CO2
        "slow_leak": frozenset({"wellhead_pressure", "co2_injected", "co2_vented"}),
    },
)

# A gas-fired process plant without capture: everything it burns goes up the stack.
FACTORY = FacilityTemplate(
    kind="factory",
    sensors=(
        _sensor("stack_co2", "co2_mass_flow", "t/h", "emitted", 0.01),
        _sensor("nox", "nox_concentration", "mg/Nm³", "process", 0.02, smooth=True),
        _sensor("fuel_flow", "fuel_volume_flow", "Nm³/h", "process", 0.01),
        _sensor("pm25", "pm25_concentration", "µg/m³", "process", 0.05, smooth=True),
    ),
    extras=("pm25", "nox"),
    effects={},
)

TEMPLATES = {t.kind: t for t in (CCS, FACTORY)}


def facility_kinds(count: int) -> list[str]:
    """Mostly capture plants: every fourth facility, starting with the second, is a factory.

    Fixed by position, not drawn from the seed, so a two-facility demo always shows
    both kinds and adding facilities never changes the kind of existing ones.
    """
    return ["factory" if i % 4 == 1 else "ccs" for i in range(count)]


def facility_ids(kinds: list[str]) -> list[str]:
    """`ccs-01`, `factory-02`, … numbered by position, zero-padded so the numbers sort."""
    width = max(2, len(str(len(kinds))))
    return [f"{kind}-{i + 1:0{width}d}" for i, kind in enumerate(kinds)]
