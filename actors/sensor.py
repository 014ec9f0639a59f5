"""SensorActor: one sensor's private state, fed one reading at a time, in order.

A logical actor, not a Ray process (DESIGN.md): plain Python that decides in
`observe` and changes its alert state only in `apply`, so replaying the ledger's
events rebuilds it.
"""

from __future__ import annotations

from plumeline.actors.detection import DetectorConfig, RobustBaseline, severity_of
from plumeline.events import AlertCleared, AlertRaised, Event, SensorSpec, alert_id

__all__ = ["SensorActor"]

_NOTHING: tuple[Event, ...] = ()


class SensorActor:
    __slots__ = ("detector", "facility", "last_time", "open_alert", "open_drift", "spec")

    def __init__(self, facility: str, spec: SensorSpec, config: DetectorConfig) -> None:
        self.facility = facility
        self.spec = spec
        self.detector = RobustBaseline(config)
        self.last_time = -1
        self.open_alert: AlertRaised | None = None
        self.open_drift: AlertRaised | None = None  # a drift alert, beside any other

    @property
    def sensor(self) -> str:
        return self.spec.sensor

    def observe(self, time: int, value: float) -> list[Event] | tuple[Event, ...]:
        """One validated reading in; the events it causes out (not yet applied): most
        readings cause none, and get the same empty tuple back."""
        self.last_time = time
        d = self.detector
        baseline = d.level
        score, decision = d.update(value)
        if decision is None and d.drift_decision is None:
            return _NOTHING
        out: list[Event] = []
        if decision == "clear":
            if self.open_alert is not None:
                out.append(self._cleared(self.open_alert, value))
        elif decision is not None:
            kind = decision.removeprefix("raise:")
            if kind == "stuck":
                message = f"{self.sensor} has reported {value:g} {self.spec.unit} unchanged"
                severity = "minor"
            else:
                direction = "above" if value > baseline else "below"
                message = (
                    f"{self.spec.quantity} at {self.sensor} is {value:.4g} {self.spec.unit}, "
                    f"{score:.1f} scales {direction} its baseline {baseline:.4g}"
                )
                severity = severity_of(score)
            out.append(self._raised(time, kind, severity, value, baseline, score, message))
        if d.drift_decision == "clear":
            if self.open_drift is not None:
                out.append(self._cleared(self.open_drift, value))
        elif d.drift_decision == "raise":
            message = (
                f"{self.spec.quantity} at {self.sensor} has drifted to {d.level:.4g} "
                f"{self.spec.unit} from its slow baseline {d.slow:.4g} ({d.drift:.1f} times "
                "their usual distance)"
            )
            out.append(self._raised(time, "drift", "warning" if d.drift < 10 else "minor",
                                    value, d.slow, d.drift, message))
        return out

    def _raised(self, time, kind, severity, value, baseline, score, message) -> AlertRaised:
        return AlertRaised(
            facility=self.facility, alert_id=alert_id(self.facility, self.sensor, kind, time),
            sensor=self.sensor, kind=kind, severity=severity, value=value, baseline=baseline,
            score=round(score, 3), model="robust-baseline", message=message,
        )

    def _cleared(self, alert: AlertRaised, value: float) -> AlertCleared:
        return AlertCleared(facility=self.facility, alert_id=alert.alert_id,
                            sensor=alert.sensor, kind=alert.kind, value=value)

    def apply(self, event: Event) -> None:
        match event:
            case AlertRaised(kind="drift"):
                self.open_drift = event
            case AlertRaised():
                self.open_alert = event
            case AlertCleared(alert_id=cleared) if (
                self.open_alert is not None and self.open_alert.alert_id == cleared
            ):
                self.open_alert = None
            case AlertCleared(alert_id=cleared) if (
                self.open_drift is not None and self.open_drift.alert_id == cleared
            ):
                self.open_drift = None
