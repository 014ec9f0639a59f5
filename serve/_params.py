"""Reading a request's parameters: a bad one is a 400 that says what was expected."""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request

__all__ = ["BadRequest", "as_of", "body", "choice", "instant", "integer", "text"]

T = TypeVar("T")


class BadRequest(HTTPException):
    def __init__(self, detail: str, status_code: int = 400) -> None:
        super().__init__(status_code, detail)


def integer(request: Request, name: str, default: int | None = None, *,
            low: int = 0) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {raw!r}") from None
    if value < low:
        raise BadRequest(f"{name} must be at least {low}, got {value}")
    if value >= 2**63:
        raise BadRequest(f"{name} is too large: {value}")
    return value


def text(request: Request, name: str) -> str | None:
    return request.query_params.get(name) or None


def choice(request: Request, name: str, allowed: tuple[str, ...], default: str) -> str:
    raw = request.query_params.get(name) or default
    if raw not in allowed:
        raise BadRequest(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
    return raw


def instant(request: Request, name: str, default: int | None = None) -> int | None:
    """A time as epoch milliseconds, given as such or as ISO-8601 with a zone."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if raw.isascii() and raw.isdigit():
        value = int(raw)
        if value >= 2**53:
            raise BadRequest(f"{name} is too large: {value}")
        return value
    return _iso_ms(name, raw, "epoch ms")


def _iso_ms(name: str, raw: str, or_else: str) -> int:
    """An ISO-8601 time with a zone, as epoch milliseconds; `or_else` names what
    else the parameter may be, for the message."""
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise BadRequest(f"{name} must be {or_else} or an ISO-8601 time, got {raw!r}") from None
    if moment.tzinfo is None:
        raise BadRequest(f"{name} needs a time zone (e.g. {raw}Z), got {raw!r}")
    try:
        return int(moment.timestamp() * 1000)
    except (OverflowError, OSError, ValueError):
        raise BadRequest(f"{name} is out of range: {raw!r}") from None


async def as_of(request: Request) -> int | None:
    """`?as_of=` as a ledger seq: a number is one already; an ISO-8601 time is mapped
    to the last record stamped at or before it."""
    raw = request.query_params.get("as_of")
    if raw is None or raw == "":
        return None
    if raw.isdigit():
        return integer(request, "as_of", low=0)
    time_ms = _iso_ms("as_of", raw, "a ledger seq")
    return await request.app.state.reader.query("seq_at", time_ms=time_ms)


async def body(request: Request, schema: type[T]) -> T:
    """The JSON body decoded into `schema`; 422 naming the bad field, 400 if not JSON."""
    raw = await request.body()
    try:
        return msgspec.json.decode(raw or b"{}", type=schema)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"invalid body: {exc}", 422) from None
    except msgspec.DecodeError as exc:
        raise BadRequest(f"body is not JSON: {exc}") from None
