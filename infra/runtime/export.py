"""The ledger of a data dir as an audit bundle: its records, its stored tree heads and,
when the newest records are under none, a head signed for them now."""

from __future__ import annotations

import asyncio
import re
import sys
import time
from pathlib import Path

import msgspec
import nats

from plumeline.events import SigningKey, TreeHead, write_bundle
from plumeline.infra.runtime.data_dir import nats_of
from plumeline.infra.runtime.errors import UserError
from plumeline.infra.runtime.nats import LEDGER, TREEHEADS, connect
from plumeline.infra.runtime.progress import Progress

__all__ = ["write_export"]


async def _collect(url: str) -> tuple[list[bytes], list[TreeHead]]:
    # imported here: plumeline.actors takes seconds to import (scikit-learn) and starts
    # BLAS threads, after which verify's workers must come from a fork server; a bundle
    # file is verified without it
    from plumeline.actors import read_stream

    nc = await connect(url, name="export")
    try:
        js = nc.jetstream()
        try:
            last = (await js.stream_info(LEDGER)).state.last_seq
            heads_last = (await js.stream_info(TREEHEADS)).state.last_seq
        except nats.js.errors.NotFoundError:
            raise UserError("this NATS holds no Plumeline ledger") from None
        records: list[bytes] = []
        with Progress("export: reading LEDGER", last) as progress:
            async for m in read_stream(js, LEDGER, "ledger.records", 1, last):
                records.append(m.data)
                progress.update(len(records))
        first_head = max(1, heads_last - 100_000 + 1)
        heads = [
            head
            async for m in read_stream(js, TREEHEADS, "ledger.heads", first_head, heads_last)
            if (head := _head(m)) is not None and head.size <= last
        ]
        return records, heads
    finally:
        await nc.close()


_decode_head = msgspec.json.Decoder(TreeHead).decode
_HEX64, _HEX128 = re.compile(r"[0-9a-f]{64}"), re.compile(r"[0-9a-f]{128}")


def _head(msg) -> TreeHead | None:
    """A stored tree head, or None, with a warning, for one that cannot be read: the
    bundle then lacks that head, which `verify` does not need (the export signs one
    for the newest records when none covers them)."""
    try:
        head = _decode_head(msg.data)
        if head.size < 0 or not _HEX64.fullmatch(head.root) \
                or not _HEX128.fullmatch(head.signature):
            raise ValueError("size, root or signature out of form")
        return head
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
        seq = msg.metadata.sequence.stream
        print(f"plumeline export: warning: skipped tree head {seq} of {TREEHEADS}, "
              f"unreadable: {exc}", file=sys.stderr)
        return None


def write_export(data_dir: Path, output: Path) -> int:
    key_path = data_dir / "ledger.key"
    if not key_path.exists():
        raise UserError(f"no ledger key in {data_dir}")
    key = SigningKey.load_or_create(key_path)
    with nats_of(data_dir) as url:
        records, heads = asyncio.run(_collect(url))
    if not any(h.size == len(records) for h in heads):
        # the newest records are not under a stored head yet: attest them now
        from plumeline.events import Ledger

        ledger = Ledger()
        with Progress("export: attesting the newest records", len(records)) as progress:
            for data in records:
                ledger.restore(data)
                progress.update(ledger.size)
        heads.append(
            key.sign_head(ledger.size, ledger.tree.root(), int(time.time() * 1000))
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    with open(output, "wb") as fp:
        return write_bundle(fp, key.public_key_hex, records, heads)
