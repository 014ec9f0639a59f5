"""A cap on request bodies, counted as they arrive.

A body that declares more than its route's limit (`Content-Length`) is answered 413
before a byte of it is read; one that does not (chunked) is counted chunk by chunk and
answered 413 as soon as it passes the limit, so no route ever holds more than the
limit in memory, whoever is asking: the cap is outside authentication, as an anonymous
caller can send a body as large as anyone's.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["DEFAULT_MAX_BODY", "BodyLimit", "BodyTooLarge"]

DEFAULT_MAX_BODY = 1024 * 1024  # bytes: a command, a scenario, a webhook subscription


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over {limit} bytes: send less at a time")


class BodyLimit:
    """ASGI middleware: `limit` bytes per body, or `by_path[path]` for the routes named."""

    def __init__(self, app: ASGIApp, limit: int = DEFAULT_MAX_BODY,
                 by_path: Mapping[str, int] | None = None) -> None:
        if limit < 1:
            raise ValueError(f"a body limit is at least 1 byte, not {limit}")
        self.app = app
        self.limit = limit
        self.by_path = dict(by_path or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.by_path.get(scope["path"], self.limit)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            # answered before reading; the connection is closed so the rest is never read
            too_large = BodyTooLarge(limit)
            await JSONResponse({"error": too_large.detail}, 413,
                               headers={"Connection": "close"})(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # raised inside the handler: its exception handler answers 413
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)
