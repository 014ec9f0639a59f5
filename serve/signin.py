"""Sign-in over HTTP, and API keys for admins.

`POST /auth/login` answers in the OAuth 2.0 token-response shape: a short-lived
access token (the EdDSA JWT every route checks, `jti` = `s.<family>`) and an opaque
refresh token. `POST /auth/refresh` spends a refresh token for a new pair; one spent
twice closes its whole family (one of its holders stole it). `POST /auth/logout`
closes the family. A failed sign-in is answered the same way, in comparable time,
whether the user exists or not, and each failure makes the next attempt for that name
and that address wait longer (doubling, bounded). `/auth/keys` lists, creates and
revokes API keys (the `identity` scope: admins).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Annotated
from urllib.parse import parse_qsl

import msgspec
import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from plumeline.events import UserName
from plumeline.serve._params import BadRequest
from plumeline.serve.auth import needs
from plumeline.serve.identity import (
    Gate,
    IdentityStore,
    SessionRefused,
    issue_key,
    revoke_key,
)
from plumeline.serve.passwords import check_password, dummy_check

__all__ = ["SignIn", "Throttle", "routes"]

log = structlog.get_logger("plumeline.signin")

_REFUSED = "wrong user name or password"


class Login(msgspec.Struct, forbid_unknown_fields=True):
    username: Annotated[str, msgspec.Meta(max_length=64)]
    password: Annotated[str, msgspec.Meta(max_length=1024)]


class Refresh(msgspec.Struct, forbid_unknown_fields=True):
    refresh_token: Annotated[str, msgspec.Meta(max_length=256)]


class NewKey(msgspec.Struct, forbid_unknown_fields=True):
    user: UserName
    role: str
    ttl_s: Annotated[int, msgspec.Meta(gt=0, le=366 * 86_400)] = 30 * 86_400
    facilities: list[str] = []


@dataclass
class Throttle:
    """Failed sign-ins by key (a name, an address): the next attempt waits
    `base_s * 2**(failures - 1)` from the last failure, at most `max_s`."""

    base_s: float = 0.5
    max_s: float = 30.0
    failures: dict[str, tuple[int, float]] = field(default_factory=dict)

    def wait_s(self, key: str, now_s: float) -> float:
        count, last = self.failures.get(key, (0, 0.0))
        if count == 0:
            return 0.0
        return max(0.0, last + min(self.base_s * 2 ** (count - 1), self.max_s) - now_s)

    def failed(self, key: str, now_s: float) -> None:
        self.failures[key] = (self.failures.get(key, (0, 0.0))[0] + 1, now_s)
        if len(self.failures) > 100_000:  # a flood of names: forget the oldest
            for old in sorted(self.failures, key=lambda k: self.failures[k][1])[:50_000]:
                del self.failures[old]

    def succeeded(self, key: str) -> None:
        self.failures.pop(key, None)


@dataclass
class SignIn:
    """What a replica needs to sign people in: the store, its gate, the signing key."""

    store: IdentityStore
    signer: object  # serve.tokens.TokenKey
    access_ttl_s: int = 900
    refresh_ttl_s: int = 12 * 3600
    throttle: Throttle = field(default_factory=Throttle)
    gate: Gate | None = None

    def __post_init__(self) -> None:
        self.gate = self.gate or Gate(self.store)


async def _form(request: Request, kind):
    raw = await request.body()
    try:
        if request.headers.get("content-type", "").startswith(
                "application/x-www-form-urlencoded"):
            return msgspec.convert(dict(parse_qsl(raw.decode())), kind)
        return msgspec.json.decode(raw, type=kind)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        raise BadRequest(f"bad request body: {exc}", 400) from None


async def _signin(request: Request) -> SignIn:
    signin = request.app.state.signin
    if signin is None:
        raise HTTPException(503, "this deployment has no sign-in")
    await signin.store.ready()
    return signin


async def _pair(signin: SignIn, user: str, role: str, family: str | None, now: float):
    session = await signin.store.open_session(user, role, int(now) + signin.refresh_ttl_s,
                                              family)
    access = signin.signer.issue(user, role, int(now) + signin.access_ttl_s,
                                 issued_s=int(now), token_id=f"s.{session.family}")
    return JSONResponse({"access_token": access, "token_type": "Bearer",
                         "expires_in": signin.access_ttl_s,
                         "refresh_token": session.refresh_token, "role": role},
                        headers={"Cache-Control": "no-store"})


def _refused(message: str = _REFUSED) -> JSONResponse:
    return JSONResponse({"error": "invalid_grant", "error_description": message},
                        status_code=401, headers={"Cache-Control": "no-store"})


async def login(request: Request) -> JSONResponse:
    signin = await _signin(request)
    given = await _form(request, Login)
    clock = time.monotonic  # waits are real time, whatever the app's clock says
    keys = (f"user:{given.username}", f"address:{_address(request)}")
    wait = max(signin.throttle.wait_s(k, clock()) for k in keys)
    if wait > 0:
        await asyncio.sleep(wait)
    user = await signin.store.user(given.username)
    if user is None or not user.password:
        await asyncio.to_thread(dummy_check, given.password)
        good = False
    else:
        good = await asyncio.to_thread(check_password, given.password, user.password)
    if not good or user.disabled:
        for k in keys:
            signin.throttle.failed(k, clock())
        # the name as given, never the password; whether it exists is not said here either
        log.info("sign_in_refused", user=given.username[:64], address=keys[1][8:])
        return _refused()
    for k in keys:
        signin.throttle.succeeded(k)
    log.info("signed_in", user=user.user, role=user.role, address=keys[1][8:])
    return await _pair(signin, user.user, user.role, None, request.app.state.clock())


async def refresh(request: Request) -> JSONResponse:
    signin = await _signin(request)
    given = await _form(request, Refresh)
    now = request.app.state.clock()
    try:
        spent = await signin.store.use_refresh(given.refresh_token, now)
    except SessionRefused as exc:
        return _refused(str(exc))
    user = await signin.store.user(spent.user)
    if user is None or user.disabled:
        await signin.store.close_family(spent.family, "user disabled")
        return _refused("user disabled")
    return await _pair(signin, user.user, user.role, spent.family, now)


async def logout(request: Request) -> JSONResponse:
    signin = await _signin(request)
    given = await _form(request, Refresh)
    try:
        spent = await signin.store.use_refresh(given.refresh_token, request.app.state.clock())
    except SessionRefused:
        return JSONResponse({"signed_out": False})  # gone already: nothing to do
    await signin.store.close_family(spent.family, "signed out")
    return JSONResponse({"signed_out": True})


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@needs("identity")
async def list_keys(request: Request) -> JSONResponse:
    keys = await (await _signin(request)).store.all_keys()
    return JSONResponse([msgspec.to_builtins(k) for k in keys])


@needs("identity")
async def create_key(request: Request) -> JSONResponse:
    signin = await _signin(request)
    wanted = await _form(request, NewKey)
    now = request.app.state.clock()
    expires = int(now) + wanted.ttl_s
    key_id, token = await issue_key(
        signin.store, request.app.state.commands.publish, signin.signer, user=wanted.user,
        role=wanted.role, expires=expires, facilities=wanted.facilities,
        by=request.user.display_name, now_s=now)
    return JSONResponse({"key_id": key_id, "token": token, "expires": expires},
                        status_code=201, headers={"Cache-Control": "no-store"})


@needs("identity")
async def revoke(request: Request) -> JSONResponse:
    signin = await _signin(request)
    key_id = request.path_params["key_id"]
    record = await revoke_key(signin.store, request.app.state.commands.publish, key_id,
                              by=request.user.display_name,
                              now_ms=int(request.app.state.clock() * 1000))
    if record is None:
        raise HTTPException(404, f"no API key {key_id}")
    return JSONResponse(msgspec.to_builtins(record))


routes = [
    Route("/auth/login", login, methods=["POST"]),
    Route("/auth/refresh", refresh, methods=["POST"]),
    Route("/auth/logout", logout, methods=["POST"]),
    Route("/auth/keys", list_keys, methods=["GET"]),
    Route("/auth/keys", create_key, methods=["POST"]),
    Route("/auth/keys/{key_id}", revoke, methods=["DELETE"]),
]



# The OpenAPI description of these routes (serve/openapi.py adds it to /openapi.json,
# with the request bodies generated from Login, Refresh and NewKey).
_STR = {"type": "string"}
_TOKENS = {"description": "an OAuth 2.0 token response", "content": {"application/json": {
    "schema": {"type": "object", "required": ["access_token", "token_type", "expires_in",
                                              "refresh_token"],
               "properties": {"access_token": _STR, "token_type": {"const": "Bearer"},
                              "expires_in": {"type": "integer"}, "refresh_token": _STR,
                              "role": _STR}}}}}
_ANSWER = {"description": "a JSON answer", "content": {"application/json": {
    "schema": {"type": "object"}}}}
_ADMIN = {"security": [{"bearer": []}], "description": "role admin only"}
OPENAPI_PATHS = {
    "/auth/login": {"post": {
        "summary": "sign in with a user name and password; the same 401 for an unknown "
                   "user and a wrong password, later each time it fails",
        "responses": {"200": _TOKENS, "400": _ANSWER, "401": _ANSWER}}},
    "/auth/refresh": {"post": {
        "summary": "spend a refresh token for a new pair; one spent twice closes its "
                   "sign-in",
        "responses": {"200": _TOKENS, "400": _ANSWER, "401": _ANSWER}}},
    "/auth/logout": {"post": {
        "summary": "close the sign-in the refresh token belongs to",
        "responses": {"200": _ANSWER, "400": _ANSWER}}},
    "/auth/keys": {
        "get": {"summary": "the API keys issued, revoked ones too", **_ADMIN,
                "responses": {"200": _ANSWER, "401": _ANSWER, "403": _ANSWER}},
        "post": {"summary": "issue an API key (a token with an id); recorded in the ledger",
                 **_ADMIN,
                 "responses": {"201": _ANSWER, "400": _ANSWER, "401": _ANSWER,
                               "403": _ANSWER}}},
    "/auth/keys/{key_id}": {"delete": {
        "summary": "revoke an API key: refused by every replica within seconds", **_ADMIN,
        "parameters": [{"name": "key_id", "in": "path", "required": True, "schema": _STR}],
        "responses": {"200": _ANSWER, "401": _ANSWER, "403": _ANSWER, "404": _ANSWER}}},
}
