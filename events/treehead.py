"""Signed tree heads: the ledger writer's Ed25519 signature over (size, root, time).

A signed tree head commits the writer to the first `size` records: whoever holds the
public key can check any copy of the ledger against it, and two heads that are not
consistent prove the writer rewrote history. The signed message is fixed by
docs/ledger.md so that a verifier in another language can rebuild it byte for byte.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from plumeline.events.private_file import create_private

__all__ = ["TREE_HEAD_CONTEXT", "SigningKey", "TreeHead", "tree_head_message", "verify_head"]

# Domain separation: a signature over a tree head can never be replayed as a
# signature over anything else this key might sign, nor across format versions.
TREE_HEAD_CONTEXT = b"plumeline.treehead.v1\n"

_canonical = msgspec.json.Encoder(order="sorted")
_HEX = "0123456789abcdef"


class TreeHead(msgspec.Struct, frozen=True):
    """The root (lowercase hex) of the first `size` records, signed at `timestamp` (ms)."""

    size: int
    root: str
    timestamp: int
    signature: str


def tree_head_message(size: int, root: str, timestamp: int) -> bytes:
    """The exact bytes signed: the context line, then canonical JSON of the head."""
    body = {"root": root, "size": size, "timestamp": timestamp}
    return TREE_HEAD_CONTEXT + _canonical.encode(body)


class SigningKey:
    """The ledger writer's Ed25519 key."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private_key = private_key

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_hex(cls, private_key_hex: str) -> SigningKey:
        return cls(Ed25519PrivateKey.from_private_bytes(bytes.fromhex(private_key_hex.strip())))

    @classmethod
    def load_or_create(cls, path: str | os.PathLike[str]) -> SigningKey:
        """The key kept at `path` as 64 hex digits (the raw 32-byte private key); a new
        one is generated and written there, readable by the owner only, if none is."""
        path = Path(path)
        try:
            return cls.from_hex(path.read_text(encoding="ascii"))
        except FileNotFoundError:
            pass
        key = cls.generate()
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two writers starting at once must not each keep a different key.
        try:
            create_private(path, (key._private_hex() + "\n").encode("ascii"))
        except FileExistsError:
            return cls.from_hex(path.read_text(encoding="ascii"))
        return key

    @property
    def public_key_hex(self) -> str:
        raw = self._private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return raw.hex()

    def sign_head(self, size: int, root: bytes, timestamp: int) -> TreeHead:
        root_hex = root.hex()
        signature = self._private_key.sign(tree_head_message(size, root_hex, timestamp))
        return TreeHead(size=size, root=root_hex, timestamp=timestamp, signature=signature.hex())

    def _private_hex(self) -> str:
        raw = self._private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return raw.hex()

    def __repr__(self) -> str:  # never print the private key
        return f"SigningKey(public_key={self.public_key_hex})"


def verify_head(head: TreeHead, public_key_hex: str) -> bool:
    """True if `head` carries a valid signature by `public_key_hex`; False for a bad
    signature or a malformed key or signature — never raises for those. The signature
    is 128 lowercase hex digits and nothing else (bytes.fromhex alone would also take
    upper case and spaces), so every verifier agrees on which lines are valid."""
    if len(head.signature) != 128 or head.signature.strip(_HEX):
        return False
    try:
        public_key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex))
        public_key.verify(
            bytes.fromhex(head.signature),
            tree_head_message(head.size, head.root, head.timestamp),
        )
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True
