"""`plumeline export` and `plumeline verify`: the ledger for auditors."""

from __future__ import annotations

import asyncio
import re
import sys
import tempfile
import time
from pathlib import Path

import msgspec
import nats

from plumeline.events import BundleUnreadable, SigningKey, TreeHead, verify_bundle, write_bundle
from plumeline.infra.cli import ExitStatus, UserError
from plumeline.infra.nats import LEDGER, TREEHEADS, connect
from plumeline.infra.progress import Progress
from plumeline.infra.runtime import nats_of

__all__ = ["export", "verify"]


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


def export(data_dir: Path, output: Path) -> int:
    n = write_export(data_dir, output)
    print(f"exported {n} records to {output}")
    return ExitStatus.OK


def verify(bundle: Path | None, data_dir: Path | None, public_key: str | None) -> int:
    if bundle is None and data_dir is None:
        data_dir = Path(".plumeline")
    if bundle is None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "ledger.bundle"
            write_export(data_dir, path)
            return _verify_file(path, public_key)
    return _verify_file(bundle, public_key)


def _verify_file(path: Path, public_key: str | None) -> int:
    try:
        with Progress("verify") as progress:
            report = verify_bundle(path, public_key, progress=lambda done, total, records:
                                   progress.update(done, items=records, total=total))
    except (BundleUnreadable, OSError) as exc:
        print(f"plumeline verify: cannot read {path}: {exc}", file=sys.stderr)
        return ExitStatus.ERROR
    if report.ok:
        print(
            f"ok: {report.records} records, {report.tree_heads} signed tree heads, "
            f"root {report.root}"
        )
        return ExitStatus.OK
    print(f"TAMPERED: {report.problem}", file=sys.stderr)
    return ExitStatus.TAMPERED
