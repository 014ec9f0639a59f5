"""`plumeline export` and `plumeline verify`: the ledger for auditors."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from plumeline.events import BundleUnreadable, verify_bundle
from plumeline.infra.runtime.errors import ExitStatus
from plumeline.infra.runtime.export import write_export
from plumeline.infra.runtime.progress import Progress

__all__ = ["export", "verify"]


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
