"""AlertBook: a facility's alert lifecycle, silences and open recommendations.

Plain state changed only in `apply`, so a fold over the facility's events rebuilds
it. It keeps three rules the sensors cannot keep alone, because they need the
facility's view:

- one active alert per (sensor, kind): a raise of what is still active becomes an
  `AlertUpdated` of the alert that is there, not a second alert;
- a silenced sensor raises nothing new until its silence ends;
- an alert nobody acknowledges climbs one step of the severity scale every
  `escalate_after_ms` of event time (`AlertEscalated`), judged on readings' times,
  never the clock, so replay escalates at the same places.
"""

from __future__ import annotations

from dataclasses import dataclass

from plumeline.events import (
    SEVERITIES,
    AlertAcknowledged,
    AlertCleared,
    AlertEscalated,
    AlertRaised,
    AlertUpdated,
    Event,
    RecommendationApproved,
    RecommendationIssued,
    RecommendationRejected,
    SilenceStarted,
)

__all__ = ["ActiveAlert", "AlertBook"]

_NEVER = 2**63


@dataclass(slots=True)
class ActiveAlert:
    raised: AlertRaised
    raised_at: int
    severity: str
    value: float
    count: int = 1
    acknowledged_by: str = ""
    escalated_at: int = 0  # event time of the last escalation, or of the raise

    def due(self, escalate_after_ms: int) -> int:
        """Event time at which this alert escalates next; never once acknowledged or
        critical."""
        if self.acknowledged_by or self.severity == SEVERITIES[-1]:
            return _NEVER
        return self.escalated_at + escalate_after_ms


class AlertBook:
    def __init__(self, facility: str, escalate_after_ms: int) -> None:
        self.facility = facility
        self.escalate_after_ms = escalate_after_ms
        self.active: dict[str, ActiveAlert] = {}
        self.by_key: dict[tuple[str, str], str] = {}  # (sensor, kind) -> active alert id
        # Ids of cleared alerts and decided recommendations, so a late command gets
        # "already cleared" rather than "unknown". They are few: alerts, not readings.
        self.cleared: dict[str, str] = {}  # alert id -> who cleared it
        self.silences: dict[str, int] = {}  # sensor ("" = all) -> silenced until (ms)
        self.pending: dict[str, RecommendationIssued] = {}
        self.decided: dict[str, str] = {}  # recommendation id -> "approved" | "rejected"
        self.next_due = _NEVER

    def silenced(self, sensor: str, time: int) -> bool:
        return time < self.silences.get(sensor, 0) or time < self.silences.get("", 0)

    def admit(self, caused: list[Event], time: int) -> list[Event]:
        """A sensor's events at `time`, with the facility's rules applied: raises of
        silenced sensors dropped, raises of what is active turned into updates."""
        if not any(isinstance(e, AlertRaised) for e in caused):
            return caused
        out: list[Event] = []
        for event in caused:
            if isinstance(event, AlertRaised):
                if self.silenced(event.sensor, time):
                    continue
                current = self.by_key.get((event.sensor, event.kind))
                if current is not None:
                    a = self.active[current]
                    event = AlertUpdated(
                        facility=self.facility, alert_id=current, sensor=event.sensor,
                        kind=event.kind, severity=_higher(a.severity, event.severity),
                        value=event.value, score=event.score, count=a.count + 1,
                    )
            out.append(event)
        return out

    def escalations(self, time: int) -> list[tuple[int, Event]]:
        """(event time, AlertEscalated) for every alert whose wait ran out by `time`."""
        if time < self.next_due:
            return []
        out = []
        for alert_id, a in sorted(self.active.items(), key=lambda kv: kv[1].raised_at):
            due = a.due(self.escalate_after_ms)
            if due > time:
                continue
            severity = SEVERITIES[SEVERITIES.index(a.severity) + 1]
            out.append((due, AlertEscalated(
                facility=self.facility, alert_id=alert_id, sensor=a.raised.sensor,
                kind=a.raised.kind, severity=severity, previous=a.severity,
                unacknowledged_ms=due - a.raised_at,
            )))
        return out

    def apply(self, event: Event, time: int) -> None:
        match event:
            case AlertRaised(alert_id=i):
                self.active[i] = ActiveAlert(event, time, event.severity, event.value,
                                             escalated_at=time)
                self.by_key[(event.sensor, event.kind)] = i
            case AlertUpdated(alert_id=i) if i in self.active:
                a = self.active[i]
                a.count, a.severity, a.value = event.count, event.severity, event.value
            case AlertAcknowledged(alert_id=i) if i in self.active:
                self.active[i].acknowledged_by = event.user
            case AlertEscalated(alert_id=i) if i in self.active:
                self.active[i].severity = event.severity
                self.active[i].escalated_at = time
            case AlertCleared(alert_id=i) if i in self.active:
                a = self.active.pop(i)
                self.by_key.pop((a.raised.sensor, a.raised.kind), None)
                self.cleared[i] = event.by
            case SilenceStarted(sensor=s, until_ms=until):
                self.silences[s] = max(until, self.silences.get(s, 0))
            case RecommendationIssued(recommendation_id=r):
                self.pending[r] = event
            case RecommendationApproved(recommendation_id=r) if r in self.pending:
                del self.pending[r]
                self.decided[r] = "approved"
            case RecommendationRejected(recommendation_id=r) if r in self.pending:
                del self.pending[r]
                self.decided[r] = "rejected"
            case _:
                return
        self.next_due = min(
            (a.due(self.escalate_after_ms) for a in self.active.values()), default=_NEVER
        )


def _higher(a: str, b: str) -> str:
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    return a if rank.get(a, 0) >= rank.get(b, 0) else b
