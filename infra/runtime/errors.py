"""How a command ends: its exit status, and the one error a user can act on."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["ExitStatus", "UserError"]


class ExitStatus(IntEnum):
    OK = 0
    TAMPERED = 1  # verify found the ledger altered; the message names the first bad record
    # (audit: a proof that fails, a replay that differs — the same "do not trust this")
    ERROR = 2  # could not run: unreadable input, no data, a service that would not start
    INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C


class UserError(Exception):
    """A failure the user can act on; printed as one line."""
