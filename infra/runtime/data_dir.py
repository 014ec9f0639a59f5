"""Reaching the NATS of a data dir, whether or not `plumeline up` is running on it."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import time
from pathlib import Path
from urllib.parse import urlsplit

import structlog

from plumeline.infra.runtime.nats import AUTH_CONF, NatsServer
from plumeline.infra.runtime.nats_auth import authorization, load_credentials, url_as, write_private
from plumeline.infra.runtime.settings import Settings

log = structlog.get_logger("plumeline.runtime")

# Where infra.runtime.ray_runtime.start_ray makes a private Ray's HAProxy directory (its docstring
# says why so short), and so the only directories a leftover's runtime.json may name.
HAPROXY_PARENT, HAPROXY_PREFIX = "/tmp", "plh-"

__all__ = ["clean_leftovers", "descendants", "nats_of", "reload_nats_users"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):  # a zombie is dead, only not yet reaped
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


@contextlib.contextmanager
def nats_of(data_dir: Path, identity: str = "reader"):
    """Yield the NATS URL serving `data_dir`, logging in as `identity` (by default
    the read-only one of export, verify and audit): the running system's, or an
    embedded nats-server started on the data dir's store, with its users, for the
    duration. A URL that carries credentials of its own (an outside NATS) is kept."""
    from plumeline.infra.runtime.errors import UserError

    credentials = load_credentials(data_dir)

    def logged_in(url: str) -> str:
        if identity in credentials and not urlsplit(url.split(",")[0]).username:
            return url_as(url, credentials[identity])
        return url

    runtime = data_dir / "runtime.json"
    if runtime.exists():
        info = json.loads(runtime.read_text())
        if _alive(info.get("pid", -1)):
            yield logged_in(info["nats_url"])
            return
    if not (data_dir / "nats").is_dir():
        raise UserError(f"no Plumeline data in {data_dir} (run `plumeline up --data-dir {data_dir}`)")
    auth = authorization(credentials, Settings().partitions) if credentials else None
    with NatsServer(data_dir / "nats", auth=auth) as server:
        yield logged_in(server.url)


def reload_nats_users(data_dir: Path) -> bool:
    """Write the embedded nats-server's users again from DATA_DIR/credentials and,
    if `up` runs on the data dir, have its nats-server load them (SIGHUP: a reload,
    no connection dropped); True if it did. A stopped one loads them at its next start."""
    store = data_dir / "nats"
    if not store.is_dir():
        return False
    write_private(store / AUTH_CONF,
                  authorization(load_credentials(data_dir), Settings().partitions))
    runtime = data_dir / "runtime.json"
    if not runtime.exists():
        return False
    info = json.loads(runtime.read_text())
    pid = info.get("nats_pid")
    if not (pid and _alive(info.get("pid", -1)) and _alive(pid)
            and str(data_dir.resolve() / "nats" / "nats-server.conf") in _cmdline(pid)):
        return False
    os.kill(pid, signal.SIGHUP)
    log.info("nats_users_reloaded", pid=pid)
    return True


def clean_leftovers(data_dir: Path) -> list[int]:
    """Stop what a `plumeline up` on `data_dir` left running when it died without
    stopping (SIGKILL, say); the pids stopped. Its Ray fate-shares with it, all but
    a few agent processes; its nats-server runs in a session of its own on purpose
    (Ctrl-C in a terminal must not kill it before JetStream has flushed), so it
    outlives the process and would hold the store's lock. runtime.json names both:
    the nats-server by pid (stopped only if it still runs this data dir's config),
    Ray by its session directory (processes that still hold files in it). It also
    names the directory of Ray's HAProxy files, which is removed."""
    runtime = data_dir / "runtime.json"
    if not runtime.exists():
        return []
    try:
        info = json.loads(runtime.read_text())
    except ValueError:
        info = {}
    if _alive(info.get("pid", -1)):
        return []  # a running system: not leftovers
    stopped = []
    nats_pid = info.get("nats_pid")
    conf = str(data_dir.resolve() / "nats" / "nats-server.conf")
    if nats_pid and _alive(nats_pid) and conf in _cmdline(nats_pid):
        _stop(nats_pid, signal.SIGTERM, wait=10.0)  # TERM: let JetStream flush
        stopped.append(nats_pid)
    session = info.get("ray_session")
    if session:
        for pid in _holding(session):
            _stop(pid, signal.SIGKILL, wait=5.0)
            stopped.append(pid)
    haproxy = info.get("haproxy_dir")  # infra.runtime.ray_runtime.start_ray's, and only such a one
    if (haproxy and Path(haproxy).parent == Path(HAPROXY_PARENT)
            and Path(haproxy).name.startswith(HAPROXY_PREFIX)):
        shutil.rmtree(haproxy, ignore_errors=True)
    runtime.unlink(missing_ok=True)
    if stopped:
        log.warning("leftovers_stopped", pids=stopped, data_dir=str(data_dir))
    return stopped


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def descendants(root: int) -> list[int]:
    """The pids of every process below `root` (children, their children, …), from
    /proc; a process that exits meanwhile is skipped."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                # the field after the parenthesised name, which may hold spaces
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return sorted(found)


def _holding(directory: str) -> list[int]:
    """Processes of ours with a file open under `directory` or naming it in their
    command line."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        pid = int(entry.name)
        if directory in _cmdline(pid):
            found.append(pid)
            continue
        with contextlib.suppress(OSError):
            if any(os.readlink(fd).startswith(directory) for fd in (entry / "fd").iterdir()):
                found.append(pid)
    return found


def _stop(pid: int, sig: int, wait: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + wait
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
