"""`plumeline audit identities --at TIME`: who could do what at a moment, from the
ledger alone.

The identity events (`user.added`, `user.role_changed`, `user.disabled`,
`api_key.issued`, `api_key.revoked`) are folded in ledger order up to TIME; what
each role may do is `SCOPES` (serve/auth.py). Roles hold at every facility, so "who
could approve recommendations at ccs-01 on 3 March" is everyone holding the
`command` scope then: the active users and the unexpired, unrevoked keys of an
operator's or an admin's role.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from plumeline.events import (
    ApiKeyIssued,
    ApiKeyRevoked,
    Envelope,
    UserAdded,
    UserDisabled,
    UserRoleChanged,
)
from plumeline.infra.cli.audit_reading import parse_time
from plumeline.infra.runtime.data_dir import nats_of
from plumeline.infra.runtime.errors import ExitStatus
from plumeline.infra.runtime.nats import connect
from plumeline.infra.runtime.streams import ledger_records
from plumeline.serve.auth import SCOPES

__all__ = ["Identities", "as_of", "identities"]


@dataclass(slots=True)
class Identities:
    users: dict[str, tuple[str, bool]] = field(default_factory=dict)  # name: (role, active)
    keys: dict[str, ApiKeyIssued] = field(default_factory=dict)
    revoked: set[str] = field(default_factory=set)

    def holding(self, scope: str, at_ms: int) -> list[str]:
        """Who held `scope`: user names, and `key:<id> (<user>)` for API keys."""
        users = [u for u, (role, active) in sorted(self.users.items())
                 if active and scope in SCOPES[role]]
        keys = [f"key:{k} ({e.user})" for k, e in sorted(self.keys.items())
                if k not in self.revoked and e.expires * 1000 > at_ms
                and scope in SCOPES[e.role] and self.users.get(e.user, ("", True))[1]]
        return users + keys


def as_of(events: Iterable[Envelope], at_ms: int) -> Identities:
    """The identities in force at `at_ms`, from the ledger's events in order."""
    state = Identities()
    for e in events:
        if e.time > at_ms:
            continue
        match e.body:
            case UserAdded(user=u, role=r) | UserRoleChanged(user=u, role=r):
                state.users[u] = (r, True if isinstance(e.body, UserAdded)
                                  else state.users.get(u, (r, True))[1])
            case UserDisabled(user=u) if u in state.users:
                state.users[u] = (state.users[u][0], False)
            case ApiKeyIssued(key_id=k):
                state.keys[k] = e.body
            case ApiKeyRevoked(key_id=k):
                state.revoked.add(k)
    return state


async def _events(url: str) -> list[Envelope]:
    nc = await connect(url, name="audit-identities")
    try:
        return [r.event async for _, r in ledger_records(nc.jetstream())
                if r.event.facility == "_identity"]
    finally:
        await nc.close()


def identities(data_dir: Path, at: str | None) -> int:
    at_ms = parse_time(at) if at else round(datetime.now(UTC).timestamp() * 1000)
    with nats_of(Path(data_dir)) as url:
        state = as_of(asyncio.run(_events(url)), at_ms)
    print(f"as of {datetime.fromtimestamp(at_ms / 1000, UTC).isoformat()}")
    for user, (role, active) in sorted(state.users.items()):
        print(f"user {user} {role} {'active' if active else 'disabled'}")
    for k, e in sorted(state.keys.items()):
        gone = "revoked" if k in state.revoked else (
            "expired" if e.expires * 1000 <= at_ms else "active")
        print(f"key {k} {e.user} {e.role} {gone}")
    for scope in ("command", "audit", "ingest", "identity", "manage"):
        print(f"may {scope}: {', '.join(state.holding(scope, at_ms)) or 'no one'}")
    return ExitStatus.OK
