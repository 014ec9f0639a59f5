"""`plumeline user add | list | disable | set-role` and the API-key side of
`plumeline token create | list | revoke`.

Each change is published as an identity command on READINGS (the ledger records it,
events/identity.py) and written to the KV bucket sign-in reads (serve/identity.py),
on the NATS of the data dir: the running system's, or one started for the command
(docs/security.md, "Identities"). On a data dir that holds nothing yet, the command
waits in READINGS until `plumeline up` derives it.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import sys
import time
from pathlib import Path

from plumeline.events import (
    IDENTITY,
    AddUser,
    ChangeUserRole,
    DisableUser,
    command_subject,
    encode_wire,
)
from plumeline.infra.runtime.data_dir import nats_of
from plumeline.infra.runtime.errors import ExitStatus, UserError
from plumeline.infra.runtime.nats import (
    IDENTITY_BUCKETS,
    READINGS,
    connect,
    ensure_buckets,
    ensure_streams,
)
from plumeline.infra.runtime.nats_auth import load_credentials
from plumeline.infra.runtime.settings import Settings
from plumeline.serve.identity import IdentityStore, UserRecord, issue_key, revoke_key
from plumeline.serve.passwords import hash_password

__all__ = ["on_identity", "record_key", "revoke", "user_command"]

USER_ROLES = ("viewer", "operator", "auditor", "admin")


def _by() -> str:
    """Who did it, from the shell: the account running the command."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return f"cli:uid-{os.getuid()}"


def on_identity(data_dir: Path, work):
    """Run `work(store, publish)` against the data dir's NATS; its result."""
    settings = Settings.from_env(data_dir=data_dir)
    (Path(data_dir) / "nats").mkdir(parents=True, exist_ok=True)

    async def run(url: str):
        nc = await connect(url, name="cli-identity")
        try:
            js = nc.jetstream()
            if secured:  # `up` has run: the streams are there, the buckets maybe not
                await ensure_buckets(js, IDENTITY_BUCKETS)
            else:
                await ensure_streams(js)
            subject = command_subject(IDENTITY, await _partitions(js, settings.partitions))

            async def publish(command) -> int:
                return (await js.publish(subject, encode_wire(command), timeout=10.0)).seq

            return await work(await IdentityStore.of(js), publish)
        finally:
            await nc.close()

    secured = bool(load_credentials(Path(data_dir)))
    with nats_of(Path(data_dir), "identity") as url:
        return asyncio.run(run(url))


async def _partitions(js, default: int) -> int:
    """READINGS' partitions as the deployment's shard hosts read them (one durable
    consumer `shard-p<N>` each); `default` before any host has run."""
    numbers = [int(c.name[7:]) for c in await js.consumers_info(READINGS)
               if (c.name or "").startswith("shard-p") and c.name[7:].isdigit()]
    return max(numbers) + 1 if numbers else default


def _password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if first != getpass.getpass("again: "):
            raise UserError("the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def user_command(args) -> int:
    by, now_ms = _by(), int(time.time() * 1000)
    if getattr(args, "role", None) is not None and args.role not in USER_ROLES:
        raise UserError(f"a user's role is one of {', '.join(USER_ROLES)} (a device gets "
                        f"an API key: token create --role device)")
    if args.user_command == "add":
        try:
            hashed = hash_password(_password())
        except ValueError as exc:
            raise UserError(str(exc)) from None

    async def work(store: IdentityStore, publish):
        name = getattr(args, "name", None)
        found = await store.user(name) if name else None
        match args.user_command:
            case "list":
                for u in await store.all_users():
                    print(u.user, u.role, "disabled" if u.disabled else "active")
                return
            case "add":
                if found is not None and not found.disabled:
                    raise UserError(f"user {name} exists (set-role changes a role)")
                await publish(AddUser(user=name, role=args.role, by=by, time=now_ms))
                await store.put_user(UserRecord(user=name, role=args.role, password=hashed))
                return
        if found is None:
            raise UserError(f"no user {name}")
        if args.user_command == "disable":
            await publish(DisableUser(user=name, by=by, time=now_ms))
            found.disabled = True
        else:  # set-role
            await publish(ChangeUserRole(user=name, role=args.role, by=by, time=now_ms))
            found.role = args.role
        await store.put_user(found)

    on_identity(args.data_dir, work)
    return ExitStatus.OK


def record_key(data_dir: Path, signer, *, user: str, role: str, expires: int,
               facilities: list[str], now_s: float) -> str:
    """A new API key, recorded as `ApiKeyIssued`; its token."""

    async def work(store, publish):
        return await issue_key(store, publish, signer, user=user, role=role, expires=expires,
                               facilities=facilities, by=_by(), now_s=now_s)

    return on_identity(data_dir, work)[1]


def revoke(data_dir: Path, key_id: str | None) -> int:
    """`token revoke ID`, or `token list` when `key_id` is None."""

    async def work(store, publish):
        if key_id is None:
            for k in await store.all_keys():
                state = "revoked" if k.revoked else "active"
                print(k.key_id, k.user, k.role, k.expires, state, sep="\t")
            return
        if await revoke_key(store, publish, key_id, by=_by(),
                            now_ms=int(time.time() * 1000)) is None:
            raise UserError(f"no API key {key_id}")

    on_identity(data_dir, work)
    return ExitStatus.OK
