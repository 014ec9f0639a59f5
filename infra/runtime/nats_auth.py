"""Who may do what on the embedded nats-server: one user per component, one per device.

Each component of the running system connects as its own user with the least it
needs (docs/security.md has the table): the ledger writer alone publishes LEDGER and
the tree heads and alone takes `ledger.append` requests; only shard hosts send them;
a device publishes its own facility's readings subject and nothing else, over NATS or
MQTT; only the HTTP layer publishes operator commands (`readings.<p>.<f>.command`); no
identity may delete or purge LEDGER, READINGS, TREEHEADS or DEADLETTER, nor delete a
stream at all. Every identity subscribes to replies under its own name only
(`_INBOX.<user>.>`, events/bus.py), so none reads another's answers.

The passwords live in DATA_DIR/credentials, one JSON file per identity, mode 0600,
made once (O_EXCL) on first start and reused after; the server's `authorization`
block is made from them at every start and every `plumeline device add`, which then
asks the running server to reload it (SIGHUP). `authorization()` returns the block's
text only, so that any nats-server configuration can include it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from plumeline.events import readings_subject
from plumeline.events.private_file import create_private

__all__ = ["COMPONENTS", "Credential", "Permissions", "add_device", "authorization",
           "credentials_dir", "device_user", "ensure_credentials", "load_credentials",
           "outside_credentials", "permissions", "url_as", "write_private"]

_API = "$JS.API"
# streams whose contents are the record: nobody purges them or deletes from them
_KEPT = ("LEDGER", "TREEHEADS", "READINGS", "DEADLETTER")
_DEVICE = "device-"


@dataclass(frozen=True)
class Permissions:
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    responses: bool = False  # may answer requests sent to it (the ledger writer)
    mqtt: bool = False  # may connect over MQTT too (devices)


def _reads(stream: str) -> list[str]:
    """Read a stream through ephemeral consumers and message gets."""
    return [f"{_API}.STREAM.INFO.{stream}", f"{_API}.CONSUMER.CREATE.{stream}",
            f"{_API}.CONSUMER.CREATE.{stream}.>", f"{_API}.CONSUMER.MSG.NEXT.{stream}.*",
            f"{_API}.CONSUMER.INFO.{stream}.*", f"{_API}.STREAM.MSG.GET.{stream}",
            f"{_API}.DIRECT.GET.{stream}", f"{_API}.DIRECT.GET.{stream}.>",
            f"$JS.FC.{stream}.>"]


def _consumes(stream: str) -> list[str]:
    """Read a stream through durable consumers and acknowledge what was handled."""
    return _reads(stream) + [f"{_API}.CONSUMER.DURABLE.CREATE.{stream}.*",
                             f"$JS.ACK.{stream}.>"]


def _kv(bucket: str) -> list[str]:
    return _reads(f"KV_{bucket}") + [f"$KV.{bucket}.>"]


def _objects(bucket: str) -> list[str]:
    # a put purges the chunks of the object's previous version; a get finds the
    # bucket's stream by the chunks' subject (a list of stream names, no contents)
    return _reads(f"OBJ_{bucket}") + [f"$O.{bucket}.>", f"{_API}.STREAM.PURGE.OBJ_{bucket}",
                                      f"{_API}.STREAM.NAMES"]


_LEDGER_READS = _reads("LEDGER") + _reads("TREEHEADS")
_IDENTITY_BUCKETS = ("USERS", "API_KEYS", "SESSIONS")  # infra/runtime/nats.py IDENTITY_BUCKETS
_IDENTITY_KV = tuple(p for b in _IDENTITY_BUCKETS for p in _kv(b))

COMPONENTS: dict[str, Permissions] = {
    # `up` declaring the streams and waiting for the shard hosts to drain READINGS
    "setup": Permissions(
        publish=(f"{_API}.INFO", f"{_API}.STREAM.CREATE.*", f"{_API}.STREAM.UPDATE.*",
                 f"{_API}.STREAM.INFO.*", f"{_API}.CONSUMER.INFO.READINGS.*"),
        subscribe=()),
    "ledger": Permissions(
        publish=("ledger.records", "ledger.heads", "ledger.started", *_LEDGER_READS),
        subscribe=("ledger.append",), responses=True),
    "shard": Permissions(
        # a host makes its durable consumers afresh at every start (shard_host._consume)
        publish=("ledger.append", "deadletter.>", *_consumes("READINGS"),
                 f"{_API}.CONSUMER.DELETE.READINGS.*",
                 *_objects("SNAPSHOTS")),
        subscribe=("ledger.started",)),
    # what a follower cannot apply is dead-lettered and skipped (projections/deadletter.py)
    "projections": Permissions(
        publish=(*_reads("LEDGER"), *_reads("READINGS"), "deadletter.projection_ledger",
                 "deadletter.projection_readings"), subscribe=()),
    "notifier": Permissions(
        publish=(*_consumes("LEDGER"), "deadletter.notifier", "webhooks.deliveries.>",
                 *_reads("DELIVERIES"), f"{_API}.STREAM.PURGE.DELIVERIES",
                 *_kv("WEBHOOKS"), *_kv("WEBHOOK_QUEUE"), *_kv("WEBHOOK_ALERTS")),
        subscribe=()),
    # the HTTP layer: posted frames on any facility's readings subject, operator
    # commands on its command subject (no one else's), the live feed of LEDGER,
    # READINGS' figures for /metrics
    "serve": Permissions(
        publish=("readings.*.*", "readings.*.*.command", *_reads("LEDGER"), "deadletter.stream_feed",
                 f"{_API}.STREAM.INFO.READINGS",
                 f"{_API}.CONSUMER.LIST.READINGS", *_IDENTITY_KV),
        subscribe=()),
    # `plumeline user` and `plumeline token create | list | revoke` (infra/cli/users.py):
    # identity commands, the buckets sign-in reads, and the partitions hosts read
    "identity": Permissions(
        publish=("readings.*._identity.command", *_IDENTITY_KV, f"{_API}.CONSUMER.LIST.READINGS",
                 *(f"{_API}.STREAM.CREATE.KV_{b}" for b in _IDENTITY_BUCKETS)),
        subscribe=()),
    # the simulated plant; it reads READINGS to find where a second `up` resumes and
    # how far the shard hosts are behind while it replays the past (infra/runtime/history.py)
    "simulator": Permissions(publish=("readings.*.*", *_reads("READINGS")), subscribe=()),
    # export, verify, audit: read-only
    "reader": Permissions(
        publish=(*_LEDGER_READS, *_reads("READINGS"), *_reads("DEADLETTER")), subscribe=()),
}


def device_user(facility: str) -> str:
    return _DEVICE + facility


def permissions(user: str, facility: str | None, partitions: int) -> Permissions:
    if facility is not None:
        return Permissions(publish=(readings_subject(facility, partitions),), subscribe=(),
                           mqtt=True)
    return COMPONENTS[user]


def _deny(granted: Permissions) -> list[str]:
    """What no identity does, said again beside each allow list: a broad allow added
    later must not open these."""
    deny = [f"{_API}.STREAM.DELETE.>", f"{_API}.STREAM.MSG.DELETE.>"]
    if any(".STREAM.PURGE." in s for s in granted.publish):
        deny += [f"{_API}.STREAM.PURGE.{stream}" for stream in _KEPT]
    else:
        deny.append(f"{_API}.STREAM.PURGE.>")
    return deny


@dataclass(frozen=True)
class Credential:
    user: str
    password: str
    facility: str | None = None  # a device's


def authorization(credentials: dict[str, Credential], partitions: int) -> str:
    """The nats-server `authorization { users = [...] }` block for these identities.
    No user is given to anonymous connections, so they are refused. MQTT clients log
    in as the same users (nats-server maps them), which only devices may."""
    users = []
    for cred in sorted(credentials.values(), key=lambda c: c.user):
        granted = permissions(cred.user, cred.facility, partitions)
        perms = {
            "publish": {"allow": list(granted.publish), "deny": _deny(granted)},
            "subscribe": {"allow": [*granted.subscribe, f"_INBOX.{cred.user}.>"]},
        }
        if granted.responses:
            perms["allow_responses"] = True
        users.append({
            "user": cred.user, "password": cred.password, "permissions": perms,
            "allowed_connection_types": ["STANDARD", "MQTT"] if granted.mqtt else ["STANDARD"],
        })
    return "authorization {\n  users = " + json.dumps(users, indent=2) + "\n}\n"


def credentials_dir(data_dir: Path) -> Path:
    return data_dir / "credentials"


def write_private(path: Path, text: str, *, exclusive: bool = False) -> None:
    """Write a file only its owner can read: created 0600 (exclusively, if asked, so
    that a file already there is never overwritten), or replaced whole."""
    if exclusive:
        create_private(path, text.encode())
        return
    part = path.with_name(path.name + ".part")
    part.unlink(missing_ok=True)
    write_private(part, text, exclusive=True)
    os.replace(part, path)


def _make(directory: Path, user: str, facility: str | None = None, *,
          partitions: int = 16) -> Path:
    """A new identity's file; FileExistsError if it has one already."""
    body = {"user": user, "password": secrets.token_urlsafe(32)}
    if facility is not None:
        subject = readings_subject(facility, partitions)
        body |= {"facility": facility, "subject": subject,
                 "mqtt_topic": subject.replace(".", "/")}
    path = directory / f"{user}.json"
    write_private(path, json.dumps(body, indent=2) + "\n", exclusive=True)
    return path


def load_credentials(data_dir: Path) -> dict[str, Credential]:
    """Every identity of the data dir, by user; empty if it has none (yet)."""
    found = {}
    directory = credentials_dir(data_dir)
    if directory.is_dir():
        for path in sorted(directory.glob("*.json")):
            body = json.loads(path.read_text())
            found[body["user"]] = Credential(body["user"], body["password"],
                                             body.get("facility"))
    return found


def ensure_credentials(data_dir: Path) -> dict[str, Credential]:
    """The components' identities, made on first start, and every device's."""
    directory = credentials_dir(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    for user in COMPONENTS:
        with contextlib.suppress(FileExistsError):  # made by an earlier start
            _make(directory, user)
    return load_credentials(data_dir)


_FACILITY = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def add_device(data_dir: Path, facility: str, partitions: int) -> Path:
    """A device identity for `facility`, which may publish only its own subject."""
    if not _FACILITY.match(facility):
        raise ValueError(f"{facility!r}: a facility name for a device is letters, digits, "
                         "'-' and '_' (it names a NATS user and subject)")
    ensure_credentials(data_dir)
    return _make(credentials_dir(data_dir), device_user(facility), facility,
                 partitions=partitions)


def url_as(url: str, cred: Credential) -> str:
    """`url` logging in as `cred` (each server of a comma-separated list)."""
    out = []
    for one in url.split(","):
        parts = urlsplit(one.strip())
        netloc = f"{cred.user}:{cred.password}@{parts.hostname}"
        if parts.port:
            netloc += f":{parts.port}"
        out.append(urlunsplit(parts._replace(netloc=netloc)))
    return ",".join(out)


def outside_credentials(url: str, data_dir: Path) -> dict[str, Credential]:
    """The identities the components log in with on an outside NATS at `url`: the
    data dir's, when it holds every component's (`plumeline nats-config` makes them
    with the cluster's configuration) and the URL names no user of its own; else none,
    and every component logs in as the URL says."""
    if urlsplit(url.split(",")[0].strip()).username:
        return {}
    found = load_credentials(data_dir)
    return found if set(COMPONENTS) <= set(found) else {}
