"""Bearer tokens: who is asking and in which role, signed with HMAC-SHA256.

A token is `<payload>.<tag>`, both base64url without padding; the payload is JSON
`{"u": user, "r": role, "exp": epoch seconds}` and the tag is HMAC-SHA256 of the
payload's base64 text under the deployment's API key (DATA_DIR/api.key, made on first
start). Stateless on purpose: any Serve replica verifies without asking anyone, and
a token ends by expiring; to revoke all of them, replace the key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ROLES", "InvalidToken", "Principal", "TokenKey"]

ROLES = ("viewer", "operator", "auditor", "admin", "device")


class InvalidToken(ValueError):
    """A token that is malformed, forged, or expired; the message says which."""


@dataclass(frozen=True, slots=True)
class Principal:
    user: str
    role: str


class TokenKey:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError("an API key needs at least 32 bytes")
        self._secret = secret

    @classmethod
    def load_or_create(cls, path: Path) -> TokenKey:
        path = Path(path)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_hex(32))
            path.chmod(0o600)
        return cls(bytes.fromhex(path.read_text().strip()))

    def issue(self, user: str, role: str, expires_s: int) -> str:
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}; got {role!r}")
        if not user:
            raise ValueError("a token names its user")
        payload = _b64(json.dumps({"u": user, "r": role, "exp": expires_s},
                                  separators=(",", ":"), sort_keys=True).encode())
        return f"{payload}.{self._tag(payload)}"

    def verify(self, token: str, now_s: float) -> Principal:
        payload, _, tag = token.partition(".")
        if not payload or not tag:
            raise InvalidToken("malformed token")
        if not hmac.compare_digest(tag, self._tag(payload)):
            raise InvalidToken("token signature does not match")
        try:
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            user, role, expires = claims["u"], claims["r"], claims["exp"]
        except (ValueError, KeyError, TypeError):
            raise InvalidToken("malformed token") from None
        if role not in ROLES:
            raise InvalidToken(f"unknown role {role!r}")
        if now_s >= expires:
            raise InvalidToken("token expired")
        return Principal(user, role)

    def _tag(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
