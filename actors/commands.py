"""What an operator's command decides, judged against the facility's alert book.

A command that cannot be carried out is not dropped: it becomes a `CommandRejected`
event with the reason, so the ledger shows every attempt and who made it, and the
HTTP layer can tell the operator why (docs/architecture.md, "Commands").
"""

from __future__ import annotations

from collections.abc import Collection

from plumeline.actors.alerts import AlertBook
from plumeline.events import (
    AcknowledgeAlert,
    AlertAcknowledged,
    AlertCleared,
    ApproveRecommendation,
    ClearAlert,
    Command,
    CommandRejected,
    Event,
    RecommendationApproved,
    RecommendationRejected,
    RejectRecommendation,
    SilenceSensor,
    SilenceStarted,
)

__all__ = ["decide"]


def decide(book: AlertBook, sensors: Collection[str], command: Command) -> Event:
    """The one event `command` causes; nothing is applied here."""
    f, user = book.facility, command.user

    def rejected(target: str, reason: str) -> CommandRejected:
        tag = type(command).__struct_config__.tag
        return CommandRejected(facility=f, command=tag, target=target, user=user, reason=reason)

    match command:
        case AcknowledgeAlert(alert_id=i) | ClearAlert(alert_id=i) if i not in book.active:
            why = f"alert {i} was cleared already" if i in book.cleared else f"no alert {i}"
            return rejected(i, why)
        case AcknowledgeAlert(alert_id=i, note=note):
            a = book.active[i]
            if a.acknowledged_by:
                return rejected(i, f"alert {i} was acknowledged already by {a.acknowledged_by}")
            return AlertAcknowledged(facility=f, alert_id=i, sensor=a.raised.sensor,
                                     kind=a.raised.kind, user=user, note=note)
        case ClearAlert(alert_id=i):
            # AlertCleared has no note: a field added to it would change the bytes of
            # every clear already in ledgers. The note stays with the command in READINGS.
            a = book.active[i]
            return AlertCleared(facility=f, alert_id=i, sensor=a.raised.sensor,
                                kind=a.raised.kind, value=a.value, by=user)
        case SilenceSensor(sensor=s) if s and s not in sensors:
            return rejected(s, f"no sensor {s} at {f}")
        case SilenceSensor(sensor=s, until_ms=until) if until <= command.time:
            return rejected(s, "the silence would end before it starts")
        case SilenceSensor(sensor=s, until_ms=until, reason=reason):
            return SilenceStarted(facility=f, sensor=s, until_ms=until, reason=reason, user=user)
        case ApproveRecommendation(recommendation_id=r) | RejectRecommendation(
            recommendation_id=r
        ) if r not in book.pending:
            why = f"recommendation {r} was {book.decided[r]} already" if r in book.decided \
                else f"no recommendation {r}"
            return rejected(r, why)
        case ApproveRecommendation(recommendation_id=r, note=note):
            return RecommendationApproved(facility=f, recommendation_id=r, user=user, note=note)
        case RejectRecommendation(recommendation_id=r, note=note):
            return RecommendationRejected(facility=f, recommendation_id=r, user=user, note=note)
    raise TypeError(f"not a command: {command!r}")
