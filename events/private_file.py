"""Files only their owner may read, made once: the ledger's signing key, the API's
token keys, the NATS identities' passwords."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["create_private"]


def create_private(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to a new file, mode 0600 from the moment it exists (never briefly
    readable by others); FileExistsError if there is one, which is never overwritten:
    of two processes making the same key at once, one keeps the other's."""
    fd = os.open(Path(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
