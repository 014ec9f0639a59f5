"""Who may use the HTTP API: the commands that add, change and disable users and
issue and revoke API keys.

They travel like an operator's command, on READINGS, but on the subject of one
reserved name, `_identity` (no facility can take it: a manifest's name is checked
by the HTTP layer and the simulator never makes it); a shard host turns each into
one event (`actors/identity.py`), so the ledger holds the history of every identity
and `audit replay` reproduces it. No command carries a password, a hash or a token:
only names, roles, key ids and who did it.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

__all__ = [
    "IDENTITY",
    "IDENTITY_COMMANDS",
    "AddUser",
    "ChangeUserRole",
    "DisableUser",
    "IdentityCommand",
    "IssueApiKey",
    "RevokeApiKey",
    "UserName",
]

IDENTITY = "_identity"  # the READINGS subject and ledger "facility" of identity events

# A user name goes into KV keys and JWT subjects: no dots, spaces or wildcards.
UserName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_@-]{1,64}$")]
UserRole = Literal["viewer", "operator", "auditor", "admin"]  # people sign in
KeyRole = Literal["viewer", "operator", "auditor", "admin", "device"]
KeyId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class _IdentityCommand(msgspec.Struct, frozen=True, kw_only=True):
    """`by` is who did it (a signed-in admin, or `cli:<account>` for the shell);
    `time` the wall-clock ms, stamped once: the event time of what it causes."""

    facility: Literal["_identity"] = IDENTITY
    by: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    time: Annotated[int, msgspec.Meta(ge=0, lt=2**53)]


class AddUser(_IdentityCommand, tag="command.add_user"):
    user: UserName
    role: UserRole


class ChangeUserRole(_IdentityCommand, tag="command.change_user_role"):
    user: UserName
    role: UserRole


class DisableUser(_IdentityCommand, tag="command.disable_user"):
    user: UserName


class IssueApiKey(_IdentityCommand, tag="command.issue_api_key"):
    """An API key (a long-lived token, `jti` = `key_id`) was handed to `user`."""

    key_id: KeyId
    user: UserName
    role: KeyRole
    expires: Annotated[int, msgspec.Meta(ge=0, lt=2**53)]  # epoch seconds
    facilities: list[str] = []


class RevokeApiKey(_IdentityCommand, tag="command.revoke_api_key"):
    key_id: KeyId


IdentityCommand = AddUser | ChangeUserRole | DisableUser | IssueApiKey | RevokeApiKey
IDENTITY_COMMANDS = (AddUser, ChangeUserRole, DisableUser, IssueApiKey, RevokeApiKey)
