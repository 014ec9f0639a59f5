"""What an admin's sensor command decides: declare, change or retire a sensor.

The facility's roster of sensors is its manifest's, and an admin's command changes it
through the same events a manifest records (`SensorRegistered`), or, for what a
manifest cannot say, `SensorChanged` and `SensorRetired`. A command that cannot be
carried out becomes a `CommandRejected` with the reason, as an operator's does
(actors/commands.py); nothing is applied here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from plumeline.events import (
    ChangeSensor,
    CommandRejected,
    DeclareSensor,
    Event,
    RetireSensor,
    SensorChanged,
    SensorCommand,
    SensorRegistered,
    SensorRetired,
    spec_refusal,
)

if TYPE_CHECKING:
    from plumeline.actors.facility import FacilityActor

__all__ = ["decide_sensor"]


def decide_sensor(facility: FacilityActor, command: SensorCommand) -> Event:
    """The one event `command` causes at `facility`."""
    f, user, sensor = facility.facility, command.user, command.sensor

    def rejected(reason: str) -> CommandRejected:
        tag = type(command).__struct_config__.tag
        return CommandRejected(facility=f, command=tag, target=sensor, user=user, reason=reason)

    if not facility.registered:
        return rejected(f"no facility {f}")
    actor = facility.sensors.get(sensor)
    match command:
        case DeclareSensor() if actor is not None:
            was = "was retired" if sensor in facility.retired else "is declared already"
            return rejected(f"sensor {sensor} {was} at {f}")
        case DeclareSensor(quantity=q, unit=u, role=r):
            if why := spec_refusal(u, r):
                return rejected(why)
            return SensorRegistered(facility=f, sensor=sensor, quantity=q, unit=u, role=r,
                                    by=user)
        case _ if actor is None:
            return rejected(f"no sensor {sensor} at {f}")
        case _ if sensor in facility.retired:
            return rejected(f"sensor {sensor} was retired already at {f}")
        case RetireSensor():
            s = actor.spec
            return SensorRetired(facility=f, sensor=sensor, quantity=s.quantity, unit=s.unit,
                                 role=s.role, by=user)
        case ChangeSensor(unit=unit, role=role):
            s = actor.spec
            unit, role = unit or s.unit, role or s.role
            if (unit, role) == (s.unit, s.role):
                return rejected(f"sensor {sensor} has unit {unit!r} and role {role!r} already")
            if why := spec_refusal(unit, role):
                return rejected(why)
            return SensorChanged(facility=f, sensor=sensor, quantity=s.quantity, unit=unit,
                                 role=role, by=user)
    raise TypeError(f"not a sensor command: {command!r}")
