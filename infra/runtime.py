"""Reaching the NATS of a data dir, whether or not `plumeline up` is running on it."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from infra.nats import NatsServer

__all__ = ["nats_of"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def nats_of(data_dir: Path):
    """Yield the NATS URL serving `data_dir`: the running system's, or an embedded
    nats-server started on the data dir's store for the duration."""
    from infra.cli import UserError

    runtime = data_dir / "runtime.json"
    if runtime.exists():
        info = json.loads(runtime.read_text())
        if _alive(info.get("pid", -1)):
            yield info["nats_url"]
            return
    if not (data_dir / "nats").is_dir():
        raise UserError(f"no Plumeline data in {data_dir} (run `plumeline up --data-dir {data_dir}`)")
    with NatsServer(data_dir / "nats") as server:
        yield server.url
