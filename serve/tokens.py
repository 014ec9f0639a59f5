"""Bearer tokens: JWTs signed with Ed25519 (`EdDSA`), verified with public keys only.

A token is a standard JWT. Its header names the signing key (`kid`); its claims are
`sub` (the user), `role`, `iat` and `exp` (epoch seconds) and, for a device, the
`facilities` it may post readings for. One `TokenKey` (the private key, on the host
that issues tokens) signs; every Serve replica holds a `KeyRing`, the public keys
still accepted, so a replica can check a token but never make one. Keys rotate by
`kid`: a new key signs from then on while the old public key stays in the ring, and
the old tokens verify until that key is removed.

Everything that issues or checks a token goes through `TokenKey.issue` and
`KeyRing.verify`; the algorithm list is fixed to `EdDSA`, so a token claiming `none`
or an HMAC algorithm (signed with the public key as its secret) is refused.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from plumeline.events.private_file import create_private

__all__ = ["ALGORITHMS", "ROLES", "InvalidToken", "KeyRing", "Principal", "TokenKey", "key_id"]

ROLES = ("viewer", "operator", "auditor", "admin", "device")
ALGORITHMS = ["EdDSA"]  # the only one accepted, whatever a token's header says
_REQUIRED = ["sub", "role", "iat", "exp"]


class InvalidToken(ValueError):
    """A token that is malformed, forged, expired or signed by a retired key; the
    message says which."""


@dataclass(frozen=True, slots=True)
class Principal:
    user: str
    role: str
    facilities: frozenset[str] = field(default_factory=frozenset)  # a device's, else empty
    token_id: str = ""  # `jti`: an API key's id, or `s.<family>` for a sign-in's token


def key_id(public: Ed25519PublicKey) -> str:
    """A public key's `kid`: the first 16 hex digits of the SHA-256 of its raw bytes."""
    return hashlib.sha256(_raw(public)).hexdigest()[:16]


class KeyRing:
    """The public keys a replica accepts, by `kid`."""

    def __init__(self, keys: Mapping[str, Ed25519PublicKey]) -> None:
        self.keys = dict(keys)

    @classmethod
    def from_raw(cls, raw: Mapping[str, str]) -> KeyRing:
        """From `{kid: base64url of the 32 raw public-key bytes}`, as stored."""
        keys = {}
        for kid, b64 in raw.items():
            public = Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(b64))
            if key_id(public) != kid:
                raise ValueError(f"public key {kid} does not match its kid")
            keys[kid] = public
        return cls(keys)

    def __reduce__(self):
        # sent to every replica: as raw bytes, since key objects do not pickle
        return (KeyRing.from_raw, (self.to_raw(),))

    def to_raw(self) -> dict[str, str]:
        return {kid: base64.urlsafe_b64encode(_raw(k)).decode() for kid, k in self.keys.items()}

    def verify(self, token: str, now_s: float) -> Principal:
        """Who the token names, if one of these keys signed it and it has not expired."""
        if not token.isascii():
            raise InvalidToken("malformed token: not ASCII")
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            if not isinstance(kid, str) or kid not in self.keys:
                raise InvalidToken(f"token signed by an unknown or retired key ({kid!r})")
            # exp is checked below against the caller's clock, but must be there
            claims = jwt.decode(token, self.keys[kid], algorithms=ALGORITHMS,
                                options={"require": _REQUIRED, "verify_exp": False,
                                         "verify_iat": False, "verify_nbf": False})
        except jwt.InvalidTokenError as exc:
            raise InvalidToken(f"invalid token: {exc}") from None
        return _principal(claims, now_s)


class TokenKey:
    """The signing key. It verifies its own tokens too (one process, tests); replicas
    are given `ring()` instead."""

    def __init__(self, key: Ed25519PrivateKey | bytes) -> None:
        """`key` is a private key or its 32-byte seed."""
        if isinstance(key, bytes):
            if len(key) != 32:
                raise ValueError("an Ed25519 seed is 32 bytes")
            key = Ed25519PrivateKey.from_private_bytes(key)
        self._key = key
        self.public = key.public_key()
        self.kid = key_id(self.public)

    def __reduce__(self):
        # handed to the API replicas, which sign sign-ins' tokens: as the 32-byte seed
        seed = self._key.private_bytes(serialization.Encoding.Raw,
                                       serialization.PrivateFormat.Raw,
                                       serialization.NoEncryption())
        return (TokenKey, (seed,))

    @classmethod
    def generate(cls) -> TokenKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load_or_create(cls, path: Path) -> TokenKey:
        """The key in the PEM file at `path`, made first if there is none: created
        exclusively with mode 0600, never readable by others even for a moment."""
        path = Path(path)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):  # another process made it first
                cls.generate().save(path)
        return cls.load(path)

    @classmethod
    def load(cls, path: Path) -> TokenKey:
        try:
            key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
        except ValueError:
            raise ValueError(f"{path} is not a PEM private key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} is not an Ed25519 key")
        return cls(key)

    def save(self, path: Path) -> None:
        """Write the key to a new file (FileExistsError if there is one), mode 0600."""
        pem = self._key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
        create_private(path, pem)

    def ring(self) -> KeyRing:
        return KeyRing({self.kid: self.public})

    def issue(self, user: str, role: str, expires_s: int, *, issued_s: int | None = None,
              facilities: Iterable[str] = (), token_id: str = "") -> str:
        """A token for `user` in `role` until `expires_s`; a device names the
        facilities it posts for, and no other role does."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}; got {role!r}")
        if not user:
            raise ValueError("a token names its user")
        facilities = sorted(set(facilities))
        if role == "device" and not facilities:
            raise ValueError("a device token names the facilities it posts for (--facility)")
        if role != "device" and facilities:
            raise ValueError("only device tokens name facilities")
        claims = {"sub": user, "role": role, "exp": int(expires_s),
                  "iat": int(time.time() if issued_s is None else issued_s)}
        if facilities:
            claims["facilities"] = facilities
        if token_id:
            claims["jti"] = token_id
        return jwt.encode(claims, self._key, algorithm="EdDSA", headers={"kid": self.kid})

    def verify(self, token: str, now_s: float) -> Principal:
        return self.ring().verify(token, now_s)


def _principal(claims: dict, now_s: float) -> Principal:
    user, role, expires = claims["sub"], claims["role"], claims["exp"]
    if not isinstance(user, str) or not user or role not in ROLES:
        raise InvalidToken(f"token names no user or an unknown role ({role!r})")
    if not isinstance(expires, int | float) or now_s >= expires:
        raise InvalidToken("token expired")
    facilities = claims.get("facilities", [])
    if not isinstance(facilities, list) or not all(isinstance(f, str) for f in facilities):
        raise InvalidToken("token's facilities are not a list of names")
    if role == "device" and not facilities:
        raise InvalidToken("device token names no facilities")
    token_id = claims.get("jti", "")
    if not isinstance(token_id, str):
        raise InvalidToken("token's id (jti) is not a string")
    return Principal(user, role, frozenset(facilities), token_id)


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
