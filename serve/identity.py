"""Who may sign in and which tokens still count, shared by every API replica.

Three JetStream KV buckets (declared in infra/runtime/nats.py, `IDENTITY_BUCKETS`) hold the
working state; the ledger holds the history (events/identity.py):

- `USERS`, by user name: role, disabled, password hash. Written by whoever changes a
  user (`plumeline user`, an admin over HTTP), in the same step that publishes the
  command the ledger records; sign-in reads it.
- `API_KEYS`, by key id (the token's `jti`): whose key, its role, whether revoked.
- `SESSIONS`: a sign-in's refresh tokens (`token.<sha256>`), each used at most once,
  and their family (`family.<id>`), revoked at logout or when a used refresh token
  comes back.

Each replica's `Gate` watches the three buckets and so refuses a revoked key, a
disabled user or a logged-out session within moments of the change, whichever
replica made it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import secrets
from dataclasses import dataclass

import msgspec
import structlog
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError, NoKeysError

__all__ = ["BUCKETS", "Gate", "IdentityStore", "Session", "UserRecord"]

log = structlog.get_logger("plumeline.identity")

BUCKETS = ("USERS", "API_KEYS", "SESSIONS")
# what UserName and KeyId in events/identity.py allow
_USER = re.compile(r"^[A-Za-z0-9_@-]{1,64}$")
_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class UserRecord(msgspec.Struct, kw_only=True):
    user: str
    role: str
    password: str = ""  # scrypt hash (serve/passwords.py); "" signs in with nothing
    disabled: bool = False


class KeyRecord(msgspec.Struct, kw_only=True):
    key_id: str
    user: str
    role: str
    expires: int
    facilities: list[str] = []
    revoked: bool = False
    by: str = ""


class RefreshRecord(msgspec.Struct, kw_only=True):
    user: str
    family: str
    expires: int
    used: bool = False


@dataclass(frozen=True, slots=True)
class Session:
    user: str
    role: str
    family: str
    refresh_token: str


class SessionRefused(ValueError):
    """A refresh token that is unknown, expired, used already, or of a closed family."""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def _get(kv, key: str, kind):
    try:
        entry = await kv.get(key)
    except KeyNotFoundError:
        return None, 0
    if entry.value is None:
        return None, entry.revision
    return msgspec.json.decode(entry.value, type=kind), entry.revision


async def _all(kv, kind) -> list:
    try:
        keys = await kv.keys()
    except NoKeysError:
        return []
    found = [(await _get(kv, k, kind))[0] for k in keys]
    return [f for f in found if f is not None]


class IdentityStore:
    """The three buckets of one JetStream context."""

    def __init__(self, users=None, keys=None, sessions=None, *, js_of=None) -> None:
        """The buckets, or `js_of()`, a coroutine giving the JetStream context to
        open them from on first use (`ready()`), in the loop that serves requests."""
        self.users, self.keys, self.sessions = users, keys, sessions
        self._js_of = js_of

    @classmethod
    async def of(cls, js) -> IdentityStore:
        return cls(*[await js.key_value(b) for b in BUCKETS])

    async def ready(self) -> IdentityStore:
        if self.users is None:
            js = await self._js_of()
            self.users, self.keys, self.sessions = [await js.key_value(b) for b in BUCKETS]
        return self

    async def user(self, name: str) -> UserRecord | None:
        """None for a name no user can have (one a KV key cannot hold, too)."""
        if not _USER.match(name):
            return None
        return (await _get(self.users, name, UserRecord))[0]

    async def all_users(self) -> list[UserRecord]:
        return sorted(await _all(self.users, UserRecord), key=lambda u: u.user)

    async def put_user(self, record: UserRecord) -> None:
        await self.users.put(record.user, msgspec.json.encode(record))

    async def key(self, key_id: str) -> KeyRecord | None:
        if not _KEY.match(key_id):
            return None
        return (await _get(self.keys, key_id, KeyRecord))[0]

    async def all_keys(self) -> list[KeyRecord]:
        return sorted(await _all(self.keys, KeyRecord), key=lambda k: k.key_id)

    async def put_key(self, record: KeyRecord) -> None:
        await self.keys.put(record.key_id, msgspec.json.encode(record))

    async def open_session(self, user: str, role: str, expires: int,
                           family: str | None = None) -> Session:
        family = family or secrets.token_hex(12)
        token = secrets.token_urlsafe(32)
        record = RefreshRecord(user=user, family=family, expires=expires)
        await self.sessions.put(f"token.{_digest(token)}", msgspec.json.encode(record))
        return Session(user, role, family, token)

    async def use_refresh(self, token: str, now_s: float) -> RefreshRecord:
        """Spend `token` once. A token that comes back after it was spent was stolen
        from one of its two users: its whole family is closed."""
        key = f"token.{_digest(token)}"
        record, revision = await _get(self.sessions, key, RefreshRecord)
        if record is None or now_s >= record.expires:
            raise SessionRefused("unknown or expired refresh token")
        if record.used or await self.family_closed(record.family):
            await self.close_family(record.family, "refresh token used twice")
            raise SessionRefused("refresh token used already: every token of its sign-in "
                                 "is revoked; sign in again")
        record.used = True
        try:  # compare-and-set: of two uses at the same moment, one wins
            await self.sessions.update(key, msgspec.json.encode(record), last=revision)
        except KeyWrongLastSequenceError as exc:
            await self.close_family(record.family, "refresh token used twice")
            raise SessionRefused("refresh token used already") from exc
        return record

    async def family_closed(self, family: str) -> bool:
        value, _ = await _get(self.sessions, f"family.{family}", dict)
        return value is not None

    async def close_family(self, family: str, why: str) -> None:
        await self.sessions.put(f"family.{family}", msgspec.json.encode({"why": why}))
        log.info("session_closed", family=family, why=why)


class Gate:
    """A replica's view of what was revoked: users disabled or of another role now,
    API keys revoked, sign-in families closed. Kept by watching the buckets."""

    def __init__(self, store: IdentityStore) -> None:
        self.store = store
        self.users: dict[str, UserRecord] = {}
        self.revoked: set[str] = set()
        self.closed: set[str] = set()
        self._tasks: list[asyncio.Task] = []
        self._ready: asyncio.Event | None = None

    async def admit(self, who) -> None:
        """BearerRoles' check after the signature: ValueError for a token that no
        longer counts."""
        await self._started()
        user = self.users.get(who.user)
        if user is not None and user.disabled:
            raise ValueError(f"user {who.user} is disabled")
        token_id = getattr(who, "token_id", "")
        if token_id.startswith("s."):
            if token_id[2:] in self.closed:
                raise ValueError("signed out: sign in again")
            if user is None or user.role != who.role:
                raise ValueError("role changed since sign-in: sign in again")
        elif token_id in self.revoked:
            raise ValueError(f"API key {token_id} is revoked")

    async def _started(self) -> None:
        if self._ready is None:
            self._ready = asyncio.Event()
            await self.store.ready()
            self._pending = 3
            self._tasks = [asyncio.create_task(self._watch(kv, keys, apply)) for kv, keys, apply in (
                (self.store.users, ">", self._user),
                (self.store.keys, ">", self._key),
                (self.store.sessions, "family.>", self._family))]
        try:
            await asyncio.wait_for(self._ready.wait(), 5.0)
        except TimeoutError:  # refused rather than let a revoked token through
            raise ValueError("revocations cannot be checked now: try again") from None

    def _user(self, key: str, value: bytes | None) -> None:
        if value is None:
            self.users.pop(key, None)
        else:
            self.users[key] = msgspec.json.decode(value, type=UserRecord)

    def _key(self, key: str, value: bytes | None) -> None:
        if value is not None and msgspec.json.decode(value, type=KeyRecord).revoked:
            self.revoked.add(key)

    def _family(self, key: str, value: bytes | None) -> None:
        if value is not None:
            self.closed.add(key.removeprefix("family."))

    async def _watch(self, kv, keys: str, apply) -> None:
        initial = True
        while True:
            try:
                watcher = await kv.watch(keys)
                async for entry in _entries(watcher):
                    if entry is None:  # the values there were at the start: all in
                        if initial:
                            initial = False
                            self._counted()
                        continue
                    deleted = entry.operation in ("DEL", "PURGE")
                    apply(entry.key, None if deleted else entry.value)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the connection dropped: watch again
                log.warning("identity_watch_failed", keys=keys, error=repr(exc))
                await asyncio.sleep(1.0)

    def _counted(self) -> None:
        self._pending -= 1
        if self._pending == 0:
            self._ready.set()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _entries(watcher):
    while True:
        yield await watcher.updates(timeout=None)


async def issue_key(store: IdentityStore, publish, signer, *, user: str, role: str,
                    expires: int, facilities: list[str], by: str, now_s: float) -> tuple[str, str]:
    """(key id, token) of a new API key: recorded in the ledger (`publish` of the
    `IssueApiKey` command), then in `API_KEYS`, then signed."""
    from plumeline.events import IssueApiKey

    key_id = "k" + secrets.token_hex(8)
    token = signer.issue(user, role, expires, issued_s=int(now_s), facilities=facilities,
                         token_id=key_id)  # checks role and facilities first
    await publish(IssueApiKey(key_id=key_id, user=user, role=role, expires=expires,
                              facilities=sorted(facilities), by=by, time=int(now_s * 1000)))
    await store.put_key(KeyRecord(key_id=key_id, user=user, role=role, expires=expires,
                                  facilities=sorted(facilities), by=by))
    return key_id, token


async def revoke_key(store: IdentityStore, publish, key_id: str, *, by: str,
                     now_ms: int) -> KeyRecord | None:
    """The key, now revoked; None if there is no such key."""
    from plumeline.events import RevokeApiKey

    record = await store.key(key_id)
    if record is None:
        return None
    if not record.revoked:
        await publish(RevokeApiKey(key_id=key_id, by=by, time=now_ms))
        record.revoked = True
        await store.put_key(record)
    return record
