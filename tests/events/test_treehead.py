"""events/treehead.py: the signed message, Ed25519 keys, and verification that never raises."""

from __future__ import annotations

import stat

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from plumeline.events import SigningKey, TreeHead, leaf_hash, tree_head_message, verify_head

ROOT = leaf_hash(b"a record")

# RFC 8032 §7.1, TEST 1: a raw Ed25519 private key, its public key, and its
# signature of the empty message.
RFC8032_SECRET = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
RFC8032_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"


def test_signed_message_is_context_line_then_canonical_json():
    message = tree_head_message(42, "ab" * 32, 1767225600000)
    assert message == (
        b'plumeline.treehead.v1\n{"root":"' + b"ab" * 32 + b'","size":42,"timestamp":1767225600000}'
    )


def test_a_signed_head_verifies_under_its_public_key():
    key = SigningKey.generate()
    head = key.sign_head(7, ROOT, 1767225600000)
    assert head == TreeHead(size=7, root=ROOT.hex(), timestamp=1767225600000,
                            signature=head.signature)
    assert len(head.signature) == 128 and head.signature == head.signature.lower()
    assert verify_head(head, key.public_key_hex)
    public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(key.public_key_hex))
    public.verify(bytes.fromhex(head.signature), tree_head_message(7, ROOT.hex(), 1767225600000))


def test_known_key_from_rfc8032():
    key = SigningKey.from_hex(RFC8032_SECRET)
    assert key.public_key_hex == RFC8032_PUBLIC
    head = key.sign_head(1, ROOT, 0)
    assert verify_head(head, RFC8032_PUBLIC)
    assert RFC8032_SECRET not in repr(key)


@pytest.mark.parametrize(
    "change",
    [
        {"size": 8},
        {"timestamp": 1767225600001},
        {"root": leaf_hash(b"another record").hex()},
        {"root": ROOT.hex().upper()},
    ],
    ids=["size", "timestamp", "root", "root-in-upper-case"],
)
def test_any_change_to_a_signed_field_breaks_the_signature(change):
    key = SigningKey.generate()
    head = key.sign_head(7, ROOT, 1767225600000)
    assert not verify_head(msgspec.structs.replace(head, **change), key.public_key_hex)


def test_bad_signatures_and_keys_give_false_never_an_exception():
    key = SigningKey.generate()
    head = key.sign_head(7, ROOT, 1767225600000)
    sig = bytearray.fromhex(head.signature)
    sig[10] ^= 1
    forged = msgspec.structs.replace(head, signature=sig.hex())
    assert not verify_head(forged, key.public_key_hex)
    assert not verify_head(head, SigningKey.generate().public_key_hex)
    for bad_key in ("", "zz" * 32, key.public_key_hex[:-2], key.public_key_hex + "00"):
        assert not verify_head(head, bad_key)
    spaced = " ".join(head.signature[i : i + 2] for i in range(0, 128, 2))
    for bad_sig in ("", "not hex", head.signature[:-2], head.signature + "00",
                    head.signature.upper(), spaced, spaced[:128]):
        assert not verify_head(msgspec.structs.replace(head, signature=bad_sig),
                               key.public_key_hex)


def test_load_or_create_writes_an_owner_only_key_and_reloads_it(tmp_path):
    path = tmp_path / "keys" / "ledger.key"
    key = SigningKey.load_or_create(path)
    text = path.read_text()
    assert len(text.strip()) == 64 and int(text, 16) >= 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = SigningKey.load_or_create(path)
    assert again.public_key_hex == key.public_key_hex
    assert verify_head(again.sign_head(1, ROOT, 0), key.public_key_hex)


def test_a_corrupt_key_file_is_an_error_not_a_new_key(tmp_path):
    path = tmp_path / "ledger.key"
    path.write_text("not a key\n")
    with pytest.raises(ValueError):
        SigningKey.load_or_create(path)
    assert path.read_text() == "not a key\n"
