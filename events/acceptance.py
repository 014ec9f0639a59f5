"""Which readings are readings: the bounds of the wire schema and the rule by which a
reading is accepted, in one place for the actors and the readings projection.

Two layers. The schema's bounds are fixed numbers (a time between 2000 and 2100, names
and lists of bounded length): `decode_wire` refuses a message outside them whole, the
same today as on any replay. The acceptance rule then judges each reading of a frame
against the time its message was stored at in READINGS (JetStream's timestamp, kept
with the message, so a replay judges alike; never the wall clock): a value must be
finite and a time no later than `now + max_future_ms`. The actors refuse such readings
and dead-letter them; the readings projection drops the same ones, by `accepted`.

The edges that have a clock (POST /ingest) refuse earlier and more plainly: a time
past the wall clock's now + `EDGE_FUTURE_MS` is a 422 there (`edge_refusal`).
"""

from __future__ import annotations

from math import isfinite
from typing import Annotated

import msgspec

__all__ = [
    "EARLIEST_MS",
    "EDGE_FUTURE_MS",
    "LATEST_MS",
    "MAX_ABS_VALUE",
    "MAX_FUTURE_MS",
    "MAX_ITEMS",
    "MAX_NAME",
    "MAX_READINGS",
    "MAX_TEXT",
    "Label",
    "Name",
    "Text",
    "Time",
    "accepted",
    "edge_refusal",
    "in_schema",
    "refusal",
]

EARLIEST_MS = 946_684_800_000  # 2000-01-01T00:00:00Z: no plant we monitor reads earlier
LATEST_MS = 4_102_444_800_000  # 2100-01-01T00:00:00Z: a fixed cap, so decoding never
# depends on when it is done; ClickHouse's DateTime64(3) and Python's datetime hold it
MAX_FUTURE_MS = 5 * 60_000  # a reading stamped later than this after its message: refused
EDGE_FUTURE_MS = 86_400_000  # what POST /ingest lets through past its own clock
MAX_READINGS = 100_000  # readings in one frame (READINGS takes 8 MB messages: ~290,000)
MAX_NAME = 64  # a facility's or a sensor's name
MAX_TEXT = 2_000  # an operator's note or reason (serve/operator.py takes as much)
MAX_ITEMS = 10_000  # sensors in one manifest
# No instrument reads beyond this; a day of readings near 1.8e308 would sum to inf in a
# balance or a per-minute mean, which neither JSON nor the ledger can carry.
MAX_ABS_VALUE = 1e12

Time = Annotated[int, msgspec.Meta(ge=EARLIEST_MS, le=LATEST_MS)]
Label = Annotated[str, msgspec.Meta(max_length=MAX_NAME)]
# Names travel in NATS subjects and URLs: no dots, spaces or wildcards.
Name = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Text = Annotated[str, msgspec.Meta(max_length=MAX_TEXT)]


def in_schema(time: int) -> bool:
    return EARLIEST_MS <= time <= LATEST_MS


def refusal(time: int, value: float, future_ms: int) -> str | None:
    """Why a reading is refused by the stateless rule, or None: a value not finite or
    beyond ±MAX_ABS_VALUE, a time past `future_ms` (the message's stored time plus
    the facility's `max_future_ms`)."""
    if not isfinite(value):
        return "value not finite"
    if not -MAX_ABS_VALUE <= value <= MAX_ABS_VALUE:
        return "value out of range"
    if time > future_ms:
        return "timestamp in the future"
    return None


def accepted(times, values, future_ms):
    """`refusal` of whole columns: a boolean mask of the readings it lets through.
    `times` and `values` are numpy arrays (int64, float64), `future_ms` a number or an
    array of one bound per reading. This package imports no numpy (an auditor's
    install of it has none): the arrays bring their own operators."""
    return (abs(values) <= MAX_ABS_VALUE) & (times <= future_ms)  # NaN compares False


def edge_refusal(times: list[int], values: list[float], now_ms: int) -> str | None:
    """Why an edge with a clock refuses a frame whole, or None."""
    latest = now_ms + EDGE_FUTURE_MS
    for t in times:
        if t > latest:
            return f"time {t} is more than a day past this server's clock ({now_ms})"
    for v in values:
        if not isfinite(v):
            return f"value {v} is not a finite number"
        if abs(v) > MAX_ABS_VALUE:
            return f"value {v} is beyond ±{MAX_ABS_VALUE:g}"
    return None
