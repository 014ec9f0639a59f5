"""API token keys in the data dir.

The data dir holds the signing key (`api-signing.pem`, private, 0600) and the public
keys still accepted (`api-public.json`, `{kid: raw key}`). Rotating makes a new signing
key and keeps the old public key in the accepted set, so tokens already handed out
keep working until `retire` removes their key. Replicas are given the accepted set
when `plumeline up` starts: restart after a rotate or retire.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from plumeline.infra.runtime.errors import UserError
from plumeline.infra.runtime.settings import Settings
from plumeline.serve.tokens import KeyRing, TokenKey

__all__ = ["KeyStore"]


class KeyStore:
    def __init__(self, signing_path: Path, public_path: Path) -> None:
        self.signing_path = Path(signing_path)
        self.public_path = Path(public_path)

    @classmethod
    def of(cls, settings: Settings) -> KeyStore:
        return cls(settings.api_key_path, settings.api_public_keys_path)

    def signing(self) -> TokenKey:
        """The signing key, made on first use; its public key is always accepted."""
        key = TokenKey.load_or_create(self.signing_path)
        ring = self._ring()
        if key.kid not in ring.keys:
            ring.keys[key.kid] = key.public
            self._save(ring)
        return key

    def ring(self) -> KeyRing:
        self.signing()
        return self._ring()

    def rotate(self) -> TokenKey:
        """A new signing key; the old one's public key stays accepted."""
        self.signing()
        new = TokenKey.generate()
        ring = self._ring()
        ring.keys[new.kid] = new.public
        self._save(ring)  # accepted before it signs anything
        staged = self.signing_path.with_name(f".{self.signing_path.name}.{new.kid}")
        new.save(staged)
        os.replace(staged, self.signing_path)
        return new

    def retire(self, kid: str) -> None:
        """Stop accepting tokens signed by `kid` (not the current signing key)."""
        if kid == self.signing().kid:
            raise UserError(f"{kid} is the current signing key: rotate first")
        ring = self._ring()
        if ring.keys.pop(kid, None) is None:
            raise UserError(f"no accepted key {kid}; accepted: {', '.join(ring.keys)}")
        self._save(ring)

    def _ring(self) -> KeyRing:
        if not self.public_path.exists():
            return KeyRing({})
        try:
            return KeyRing.from_raw(json.loads(self.public_path.read_text()))
        except (ValueError, TypeError, AttributeError) as exc:
            raise UserError(f"{self.public_path} is unreadable: {exc}") from None

    def _save(self, ring: KeyRing) -> None:
        # written aside and renamed: a replica starting meanwhile reads the old or the new
        fd, tmp = tempfile.mkstemp(dir=self.public_path.parent, prefix=".api-public.")
        with os.fdopen(fd, "w") as f:
            json.dump(ring.to_raw(), f, indent=1, sort_keys=True)
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.public_path)
