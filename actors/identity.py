"""What an identity command records: one event, decided from the command alone.

The command was checked where it was made (the CLI or the admin's HTTP request,
against the user store), so the actor keeps no state of identities: the event is a
function of the command, which is what lets `audit replay` reproduce the history of
every user and key exactly (docs/security.md, "Identities").
"""

from __future__ import annotations

from plumeline.events import (
    IDENTITY,
    AddUser,
    ApiKeyIssued,
    ApiKeyRevoked,
    ChangeUserRole,
    DisableUser,
    Event,
    IdentityCommand,
    IssueApiKey,
    RevokeApiKey,
    UserAdded,
    UserDisabled,
    UserRoleChanged,
)

__all__ = ["record"]


def record(command: IdentityCommand) -> Event:
    """The event `command` causes, at the command's time."""
    match command:
        case AddUser(user=u, role=r, by=by):
            return UserAdded(facility=IDENTITY, user=u, role=r, by=by)
        case ChangeUserRole(user=u, role=r, by=by):
            return UserRoleChanged(facility=IDENTITY, user=u, role=r, by=by)
        case DisableUser(user=u, by=by):
            return UserDisabled(facility=IDENTITY, user=u, by=by)
        case IssueApiKey():
            c = command
            return ApiKeyIssued(facility=IDENTITY, key_id=c.key_id, user=c.user, role=c.role,
                                expires=c.expires, facilities=sorted(c.facilities), by=c.by)
        case RevokeApiKey(key_id=k, by=by):
            return ApiKeyRevoked(facility=IDENTITY, key_id=k, by=by)
    raise TypeError(f"not an identity command: {command!r}")
