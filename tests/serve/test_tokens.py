"""serve/tokens.py: standard EdDSA JWTs, checked against the accepted public keys only."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from plumeline.serve.tokens import InvalidToken, KeyRing, TokenKey

KEY = TokenKey(b"t" * 32)
EXP = 2_000_000_000


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged(alg: str, secret: bytes | None, key: TokenKey = KEY, now: int = 0) -> str:
    """An admin token for `key`'s kid under another algorithm: `none`, or an HMAC keyed
    with `secret` (the public key, in the classic confusion)."""
    header = _b64(json.dumps({"alg": alg, "typ": "JWT", "kid": key.kid}).encode())
    claims = _b64(json.dumps({"sub": "eve", "role": "admin", "iat": now,
                              "exp": EXP}).encode())
    signed = f"{header}.{claims}".encode()
    tag = _b64(hmac.new(secret, signed, hashlib.sha256).digest()) if secret else ""
    return f"{header}.{claims}.{tag}"


def public_pem(key: TokenKey) -> bytes:
    return key.public.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


def test_a_token_is_a_standard_jwt_any_library_reads_with_the_public_key():
    token = KEY.issue("stack-7", "device", EXP, issued_s=100, facilities=["f2", "f1"])
    assert jwt.get_unverified_header(token) == {"alg": "EdDSA", "typ": "JWT", "kid": KEY.kid}
    claims = jwt.decode(token, KEY.public, algorithms=["EdDSA"], options={"verify_exp": False})
    assert claims == {"sub": "stack-7", "role": "device", "iat": 100, "exp": EXP,
                      "facilities": ["f1", "f2"]}
    who = KeyRing({KEY.kid: KEY.public}).verify(token, now_s=EXP - 1)
    assert (who.user, who.role, who.facilities) == ("stack-7", "device", {"f1", "f2"})


def test_other_algorithms_are_refused_whatever_the_header_says():
    raw = KEY.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    for token in (forged("none", None), forged("HS256", public_pem(KEY)),
                  forged("HS256", raw)):
        with pytest.raises(InvalidToken, match="alg"):
            KEY.ring().verify(token, 0)


def test_expired_tampered_and_unknown_key_tokens_are_refused():
    token = KEY.issue("ada", "viewer", 1000, issued_s=0)
    assert KEY.verify(token, 999).user == "ada"
    with pytest.raises(InvalidToken, match="expired"):
        KEY.verify(token, 1000)
    header, claims, sig = KEY.issue("ada", "viewer", EXP).split(".")
    raised = _b64(json.dumps({"sub": "ada", "role": "admin", "iat": 0, "exp": EXP}).encode())
    with pytest.raises(InvalidToken, match="Signature"):
        KEY.verify(f"{header}.{raised}.{sig}", 0)
    with pytest.raises(InvalidToken, match="unknown or retired key"):
        TokenKey(b"u" * 32).verify(token, 0)
    for junk in ("", "x", "a.b.c", "Bearer x", "ünïcödé.a.b"):
        with pytest.raises(InvalidToken):
            KEY.verify(junk, 0)


def test_a_rotated_key_keeps_its_tokens_until_it_is_removed_from_the_ring():
    old, new = KEY, TokenKey(b"n" * 32)
    old_token, new_token = old.issue("ada", "operator", EXP), new.issue("bob", "viewer", EXP)
    both = KeyRing.from_raw({**old.ring().to_raw(), **new.ring().to_raw()})
    assert both.verify(old_token, 0).user == "ada" and both.verify(new_token, 0).user == "bob"
    del both.keys[old.kid]
    with pytest.raises(InvalidToken, match="unknown or retired key"):
        both.verify(old_token, 0)
    assert both.verify(new_token, 0).user == "bob"


def test_only_devices_name_facilities_and_devices_must():
    with pytest.raises(ValueError, match="--facility"):
        KEY.issue("stack-7", "device", EXP)
    with pytest.raises(ValueError, match="only device"):
        KEY.issue("ada", "viewer", EXP, facilities=["f1"])
    no_facilities = jwt.encode({"sub": "d", "role": "device", "iat": 0, "exp": EXP},
                               KEY._key, algorithm="EdDSA", headers={"kid": KEY.kid})
    with pytest.raises(InvalidToken, match="no facilities"):
        KEY.verify(no_facilities, 0)


def test_a_stored_ring_whose_key_does_not_match_its_kid_is_refused():
    raw = KEY.ring().to_raw()
    with pytest.raises(ValueError, match="does not match"):
        KeyRing.from_raw({"0" * 16: next(iter(raw.values()))})
