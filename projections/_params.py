"""The edges of every query: values from callers checked, values for JSON rendered.

Checked values still travel as bound parameters; checking them only turns a bad
filter into a ValueError that names what is allowed, instead of an empty answer.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

MAX_LIMIT = 10_000
END = 2**64 - 1  # as_of_seq=None: the whole ledger
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def times(r: dict[str, Any]) -> dict[str, Any]:
    """Next to every `<x>_ms` epoch column put `<x>` as ISO-8601 UTC (`time_ms` -> `time`)."""
    for key in [k for k in r if k.endswith("_ms")]:
        ms = r[key]
        r[key.removesuffix("_ms")] = None if ms is None else iso(ms)
    return r


def iso(ms: int) -> str:
    # Integer arithmetic: ms / 1000 as a float can land a microsecond off.
    return (_EPOCH + timedelta(milliseconds=ms)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def choice(name: str, value: str | None, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def text(name: str, value: str | None) -> str:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {value!r}")
    return value or ""


def limit(n: int) -> int:
    if not is_int(n) or not 1 <= n <= MAX_LIMIT:
        raise ValueError(f"limit must be an integer from 1 to {MAX_LIMIT}, got {n!r}")
    return n


def as_of(as_of_seq: int | None) -> int:
    if as_of_seq is None:
        return END
    if not is_int(as_of_seq) or as_of_seq < 0:
        raise ValueError(f"as_of_seq must be a ledger seq >= 0, got {as_of_seq!r}")
    return as_of_seq


def is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)
