"""LedgerClient: how a shard host appends through the ledger writer (actors/ledger_writer.py).

Shard hosts append by NATS request to APPEND_SUBJECT (`LedgerClient`), not by a Ray
call: on this machine a Ray actor call there and back took p50 1.4 ms idle and 23 ms
beside two busy processes, a NATS request 0.3 and 4 ms (docs/benchmarks.md). A
request's appends are queued as its message arrives, so one caller's appends keep
their order; the answer is the ledger's size once they are stored, or the error.
"""

from __future__ import annotations

import asyncio

from plumeline.events import decode_envelopes, encode_envelopes

__all__ = ["APPEND_SUBJECT", "ERROR_HEADER", "STARTED_SUBJECT", "LedgerAppendError",
           "LedgerClient"]

APPEND_SUBJECT = "ledger.append"  # requests, in no stream: a payload of envelopes
STARTED_SUBJECT = "ledger.started"  # a writer announces its start (in no stream)
ERROR_HEADER = "Plumeline-Error"  # on an answer: the append failed, and why
# A request unanswered this long fails and the caller starts over (mostly: the writer
# died with it, where a Ray call would have failed at once). Above the writer's
# ACK_TIMEOUT_S, so that a commit the server is slow to answer fails in the writer
# first, with its reason.
APPEND_TIMEOUT_S = 15.0


class LedgerAppendError(RuntimeError):
    """The ledger writer answered that an append was not stored."""


class LedgerClient:
    """Appends through the ledger writer's APPEND_SUBJECT, on a NATS connection.

    A writer that dies with requests in flight never answers them. The next one says
    when it starts (STARTED_SUBJECT), and what was in flight fails then, not at its
    timeout: a lane rebuilds in seconds after a writer crash, as it did when a Ray
    call failed with its actor (tests/test_crash.py's ledger kill: 10.5 s with Ray
    calls, 22.3 s with the request's timeout alone, 9.6 s with this)."""

    def __init__(self, nc, *, timeout: float = APPEND_TIMEOUT_S) -> None:
        self.nc = nc
        self.timeout = timeout
        self._restarted = asyncio.get_running_loop().create_future()

    async def start(self) -> LedgerClient:
        await self.nc.subscribe(STARTED_SUBJECT, cb=self._on_started)
        return self

    async def _on_started(self, msg) -> None:
        restarted, self._restarted = (
            self._restarted, asyncio.get_running_loop().create_future())
        restarted.set_result(None)

    async def append(self, payload: bytes, *, limit: int | None = None) -> int:
        """The ledger's size once the envelopes of `payload` are stored. A payload
        larger than `limit` (by default what the server takes in one message) goes
        in parts, one after the other, each stored before the next is sent: an error
        after the first leaves a prefix stored, which the ledger drops when the
        caller derives the batch again."""
        if limit is None:
            limit = self.nc.max_payload - 4096  # room for the request's headers
        parts = [payload] if len(payload) <= limit else _parts(decode_envelopes(payload), limit)
        size = 0
        for part in parts:
            size = await self._request(part)
        return size

    async def _request(self, part: bytes) -> int:
        restarted = self._restarted
        request = asyncio.ensure_future(
            self.nc.request(APPEND_SUBJECT, part, timeout=self.timeout))
        try:
            await asyncio.wait({request, restarted}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not request.done():
                request.cancel()
        if not request.done() or request.cancelled():
            raise LedgerAppendError("the ledger writer restarted with this append in flight")
        msg = request.result()
        if msg.headers and ERROR_HEADER in msg.headers:
            raise LedgerAppendError(msg.headers[ERROR_HEADER])
        return int(msg.data)


def _parts(envelopes: list, limit: int) -> list[bytes]:
    """The envelopes encoded in order, in parts of at most `limit` bytes."""
    encoded = encode_envelopes(envelopes)
    if len(encoded) <= limit or len(envelopes) == 1:
        return [encoded]
    half = len(envelopes) // 2
    return _parts(envelopes[:half], limit) + _parts(envelopes[half:], limit)
