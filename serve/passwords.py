"""Password hashes: scrypt from the standard library, compared in constant time.

A stored hash reads `scrypt$<n>$<r>$<p>$<salt, base64>$<key, base64>`, so the cost can
be raised later and old hashes still verify. Passwords are never logged or recorded
anywhere else; the ledger holds no hash either.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

__all__ = ["dummy_check", "hash_password", "check_password"]

N, R, P = 2**14, 8, 1
_SALT, _KEY = 16, 32
MAX_PASSWORD = 1024  # bytes: scrypt's cost grows with what it is given


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=_KEY,
                          maxmem=128 * r * n * 2)


def hash_password(password: str) -> str:
    if not password:
        raise ValueError("a password may not be empty")
    if len(password.encode()) > MAX_PASSWORD:
        raise ValueError(f"a password is at most {MAX_PASSWORD} bytes")
    salt = os.urandom(_SALT)
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(_scrypt(password, salt, N, R, P))}"


def check_password(password: str, stored: str) -> bool:
    """Whether `password` is the one `stored` was made from; False for anything
    malformed, in the time a real check takes."""
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        n, r, p = int(n), int(r), int(p)
        salt, key = base64.b64decode(salt), base64.b64decode(key)
        if scheme != "scrypt" or len(password.encode()) > MAX_PASSWORD:
            raise ValueError(scheme)
    except ValueError:
        dummy_check(password)
        return False
    return hmac.compare_digest(_scrypt(password, salt, n, r, p), key)


_DUMMY = hash_password("no one has this password")


def dummy_check(password: str) -> None:
    """The work of a real check, for a user who does not exist: sign-in then takes
    as long for an unknown name as for a wrong password."""
    salt = base64.b64decode(_DUMMY.split("$")[4])
    _scrypt(password[:MAX_PASSWORD], salt, N, R, P)
