"""docs/schema/: the JSON Schemas published for verifiers are those of the code, and
they accept what the ledger writes and refuse what it does not."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import msgspec
import pytest

from plumeline.events import (
    AlertRaised,
    Causation,
    Envelope,
    Ledger,
    ReadingsSealed,
    SigningKey,
    decode_record,
    write_bundle,
)
from plumeline.events.schema import schema_files

SCHEMA_DIR = Path(__file__).parents[2] / "docs" / "schema"
T0 = 1_767_225_600_000


def test_the_checked_in_schemas_are_what_the_code_generates():
    generated = schema_files()
    checked_in = {path.name: path.read_bytes() for path in SCHEMA_DIR.glob("*.json")}
    assert checked_in.keys() == generated.keys()
    stale = [name for name in generated if checked_in[name] != generated[name]]
    assert stale == [], f"run `just schema`: {stale} differ from events/"


def _validator(name: str) -> jsonschema.Validator:
    schema = json.loads((SCHEMA_DIR / name).read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _records() -> list[bytes]:
    alert = AlertRaised(facility="kiln-2", alert_id="a/1", sensor="co2-stack", kind="spike",
                        severity="high", value=18.4, baseline=12.25, score=0.97,
                        model="ewma-3sigma", message="CO₂ flow 50% above baseline")
    sealed = ReadingsSealed(facility="kiln-2", window_start=T0, window_end=T0 + 3_600_000,
                            root="ab" * 32, count=3, first_seq=1, last_seq=2, leaves=2)
    envelopes = [Envelope.wrap(body, time=T0, causation=Causation("readings", 7, i))
                 for i, body in enumerate([alert, sealed])]
    return [s.data for s in Ledger().seal(envelopes)]


def test_a_record_the_ledger_writes_is_valid_and_a_broken_one_is_not():
    validator = _validator("ledger-record.json")
    for data in _records():
        validator.validate(json.loads(data))
    record = json.loads(_records()[0])
    record["event"]["body"]["type"] = "alert.exploded"
    assert not validator.is_valid(record)
    record = json.loads(_records()[0])
    del record["event"]["body"]["score"]
    assert not validator.is_valid(record)
    record = json.loads(_records()[0])
    record["seq"] = 1.5
    assert not validator.is_valid(record)


def test_an_event_body_alone_matches_the_events_schema():
    validator = _validator("events.json")
    body = json.loads(_records()[1])["event"]["body"]
    validator.validate(body)
    assert not validator.is_valid({**body, "count": "three"})


def test_bundle_header_and_tree_head_lines_match_their_schemas(tmp_path):
    key = SigningKey.generate()
    ledger = Ledger()
    path = tmp_path / "ledger.bundle"
    with path.open("wb") as fp:
        write_bundle(fp, key.public_key_hex, [], [key.sign_head(0, ledger.tree.root(), T0)])
    header, head = (json.loads(line) for line in path.read_bytes().splitlines())
    _validator("bundle-header.json").validate(header)
    lines = _validator("tree-head-line.json")
    lines.validate(head)
    assert not lines.is_valid({**head, "note": "extra keys beside tree_head are refused"})


@pytest.mark.parametrize("name", ["ledger-record.json", "events.json"])
def test_every_event_type_is_in_the_schemas(name):
    schema = json.loads((SCHEMA_DIR / name).read_text())
    titles = {d.get("title") for d in schema["$defs"].values()}
    for tag, kind in _event_types().items():
        assert kind.__name__ in titles, tag


def _event_types() -> dict[str, type]:
    from plumeline.events import Event

    return {k.__struct_config__.tag: k for k in Event.__args__}


def test_the_schema_agrees_with_msgspec_on_what_decodes():
    record = json.loads(_records()[0])
    record["event"]["version"] = "1"
    assert not _validator("ledger-record.json").is_valid(record)
    with pytest.raises(msgspec.ValidationError):
        decode_record(json.dumps(record).encode())


def test_the_ledger_doc_lists_every_event_type_with_its_fields_and_types():
    """docs/ledger.md, "Event bodies": one row per type, each field with its type."""
    doc = (SCHEMA_DIR.parent / "ledger.md").read_text(encoding="utf-8")
    rows = {}
    for line in doc.splitlines():
        cells = [c.strip() for c in line.split("|")[1:-1]]
        if len(cells) == 3 and cells[0].startswith("`") and "." in cells[0]:
            rows[cells[0].strip("`")] = cells[1]
    names = {msgspec.inspect.StrType: "string", msgspec.inspect.IntType: "integer",
             msgspec.inspect.FloatType: "float", msgspec.inspect.DictType: "object of integers",
             msgspec.inspect.ListType: "array of strings"}
    assert rows.keys() == _event_types().keys()
    for tag, kind in _event_types().items():
        fields = [f for f in msgspec.inspect.type_info(kind).fields if f.name != "facility"]
        listed = [f"`{f.encode_name}` {names[type(f.type)]}" for f in fields]
        assert [part.split(" =")[0] for part in rows[tag].split(", ")] == listed, tag
