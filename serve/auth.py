"""Roles over HTTP: a Starlette authentication backend and the check each route makes.

Scopes, not roles, are what routes ask for, so a role is only a set of them:
viewer reads; operator reads, commands, reports and ingests; auditor reads, reports
and exports the ledger; admin does everything; a device only posts readings. Reads may be opened to anonymous callers (the default, so a
dashboard on a plant's network needs no token); commands and exports never are.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from functools import wraps

from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    SimpleUser,
    UnauthenticatedUser,
)
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse

__all__ = ["SCOPES", "BearerRoles", "TokenUser", "needs", "on_auth_error"]

SCOPES = {
    "viewer": ("read",),
    "operator": ("read", "command", "report", "ingest"),
    "auditor": ("read", "audit", "report"),
    "admin": ("read", "command", "audit", "report", "ingest", "identity", "manage"),
    "device": ("ingest",),
}

# (token, now) -> Principal(user, role, facilities) (serve/tokens.py); raises ValueError
# for a token that is not good
Verify = Callable[[str, float], object]
# the Principal a good token names -> None, or ValueError for one revoked or disabled
# since it was signed (serve/identity.py)
Admit = Callable[[object], Awaitable[None]]


class TokenUser(SimpleUser):
    """Who a good token names: its role, and the facilities a device may post for."""

    def __init__(self, username: str, role: str, facilities: frozenset[str],
                 token_id: str = "") -> None:
        super().__init__(username)
        self.role = role
        self.facilities = facilities
        self.token_id = token_id


class BearerRoles(AuthenticationBackend):
    def __init__(self, verify: Verify | None, *, open_reads: bool = True,
                 clock: Callable[[], float] = time.time,
                 query_token_paths: frozenset[str] | set[str] = frozenset(),
                 admit: Admit | None = None) -> None:
        """`query_token_paths` also take the token as `?token=`, for clients that cannot
        set headers (a browser's EventSource); nowhere else, as URLs end up in logs."""
        self.verify = verify
        self.open_reads = open_reads
        self.clock = clock
        self.query_token_paths = frozenset(query_token_paths)
        self.admit = admit

    async def authenticate(self, conn: HTTPConnection):
        header = conn.headers.get("authorization")
        query = conn.query_params.get("token")
        if header is None and query and conn.url.path in self.query_token_paths:
            header = f"Bearer {query}"
        if header is None:
            return AuthCredentials(["read"] if self.open_reads else []), UnauthenticatedUser()
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token or not header.isascii():
            # headers arrive as latin-1: a non-ASCII byte can be no token of ours
            raise AuthenticationError("use 'Authorization: Bearer <token>' (ASCII)")
        if self.verify is None:
            raise AuthenticationError("this deployment issues no tokens")
        try:
            who = self.verify(token.strip(), self.clock())
            if self.admit is not None:
                await self.admit(who)
        except ValueError as exc:
            raise AuthenticationError(str(exc)) from None
        return AuthCredentials(list(SCOPES[who.role])), TokenUser(
            who.user, who.role, frozenset(getattr(who, "facilities", ())),
            getattr(who, "token_id", ""))


def on_auth_error(conn: HTTPConnection, exc: Exception) -> JSONResponse:
    return JSONResponse({"error": str(exc)}, status_code=401,
                        headers={"WWW-Authenticate": "Bearer"})


Handler = Callable[[Request], Awaitable[object]]


def needs(scope: str) -> Callable[[Handler], Handler]:
    """401 for a caller without a token, 403 for one whose role lacks `scope`."""

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def checked(request: Request):
            if scope not in request.auth.scopes:
                if not request.user.is_authenticated:
                    raise HTTPException(401, f"this needs a token with the {scope!r} scope",
                                        headers={"WWW-Authenticate": "Bearer"})
                raise HTTPException(403, f"{request.user.display_name} may not {scope}")
            return await handler(request)

        return checked

    return decorate
