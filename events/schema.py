"""JSON Schemas of the ledger's lines, generated from the msgspec Structs that read them.

docs/schema/ holds them for verifiers in other languages (docs/ledger.md); they are
generated, never edited: `just schema` (`python -m plumeline.events.schema docs/schema`)
writes them again, and a test fails when the checked-in files differ from the code.
A schema gives the shape (fields, types, defaults, event tags); what it cannot say,
that hashes are lowercase hex and a record line is canonical, is in docs/ledger.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import msgspec

from plumeline.events.bundle import BundleHeader, _TreeHeadEntry
from plumeline.events.domain import Event
from plumeline.events.ledger import Record

__all__ = ["SCHEMAS", "schema_files"]

# file name (without .json) -> the type whose decoder reads that JSON
SCHEMAS: dict[str, object] = {
    "ledger-record": Record,  # a record line, its envelope and every event body
    "events": Event,  # an event body alone, tagged by "type"
    "bundle-header": BundleHeader,  # line 1 of a bundle
    "tree-head-line": _TreeHeadEntry,  # a signed tree head's line in a bundle
}
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def schema_files() -> dict[str, bytes]:
    """{file name: its bytes}: 2-space indented JSON, keys sorted, ending in a newline."""
    files = {}
    for name, kind in SCHEMAS.items():
        schema = {
            "$schema": DIALECT,
            "$comment": "Generated from events/ by `just schema`; do not edit.",
            **msgspec.json.schema(kind),
        }
        text = json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        files[f"{name}.json"] = text.encode()
    return files


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else "docs/schema")
    out.mkdir(parents=True, exist_ok=True)
    for name, data in schema_files().items():
        (out / name).write_bytes(data)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
