"""docs/ledger.md §1 and §5, rule by rule: the canonical JSON of records, and what the
header and tree-head lines of a bundle may look like. Each case is a sentence of the
specification; a verifier in another language is written from those sentences."""

from __future__ import annotations

import io

import msgspec
import pytest

from plumeline.events import (
    AlertAcknowledged,
    AlertRaised,
    BundleUnreadable,
    Causation,
    Envelope,
    Ledger,
    MalformedLine,
    ReadingsRejected,
    Record,
    SigningKey,
    TreeHeadLine,
    decode_record,
    read_bundle,
    verify_bundle,
    write_bundle,
)

T0 = 1_767_225_600_000
KEY = SigningKey.from_hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")


def sealed(*bodies, ledger: Ledger | None = None) -> list[bytes]:
    ledger = ledger or Ledger()
    envelopes = [Envelope.wrap(b, time=T0, causation=Causation("readings", ledger.size + i + 1, 0))
                 for i, b in enumerate(bodies)]
    return [s.data for s in ledger.seal(envelopes)]


def alert(**fields) -> AlertRaised:
    base = dict(facility="kiln-2", alert_id="a/1", sensor="co2-stack", kind="spike",
                severity="high", value=18.4, baseline=12.25, score=0.97, model="ewma",
                message="m")
    return AlertRaised(**base | fields)


def test_keys_sort_by_code_point_at_every_level_utf8_byte_order_not_utf16():
    (data,) = sealed(ReadingsRejected(facility="f", count=7,
                                      reasons={"b": 1, "a": 1, "A": 1, "é": 1, "\uffff": 1,
                                               "😀": 1, "z": 1}))
    assert '"reasons":{"A":1,"a":1,"b":1,"z":1,"é":1,"\uffff":1,"😀":1}' in data.decode()
    # the body's tag sorts among its fields; the envelope's and the record's keys too
    assert data.startswith(b'{"event":{"body":{"count":7,"facility":"f","reasons":')
    assert b'},"type":"readings.rejected"},"causation":{"index":0,"seq":1,"stream":"readings"}' \
        in data


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.0, "0.0"), (-0.0, "-0.0"), (18.4, "18.4"), (400.0, "400.0"), (1e-5, "0.00001"),
     (1e-6, "1e-6"), (1e-7, "1e-7"), (9999999999999998.0, "9999999999999998.0"),
     (1e16, "1e16"), (1.2345678901234568e17, "1.2345678901234568e17"), (5e-324, "5e-324"),
     (-1.5e300, "-1.5e300")],
)
def test_floats_are_shortest_round_trip_and_always_look_like_floats(value, text):
    (data,) = sealed(alert(value=value))
    assert f'"value":{text}}}'.encode() in data  # the body's last key
    assert decode_record(data).event.body.value == value


def test_strings_escape_only_quote_backslash_and_controls_below_0x20():
    message = 'q" b\\ /\x00\x08\x09\x0a\x0b\x0c\x0d\x1f DEL\x7f \u2028\u2029 CO₂ 😀'
    (data,) = sealed(alert(message=message))
    written = ('"message":"q\\" b\\\\ /\\u0000\\b\\t\\n\\u000b\\f\\r\\u001f DEL\x7f '
               '\u2028\u2029 CO₂ 😀"')
    assert written.encode() in data


def test_no_record_holds_true_false_or_null_and_nan_is_refused():
    types = str(msgspec.json.schema(Record))  # the envelope and every event body
    assert "'boolean'" not in types and "'null'" not in types and "'number'" in types
    with pytest.raises(ValueError, match="cannot be sealed"):
        sealed(alert(value=float("nan")))
    with pytest.raises(ValueError, match="cannot be sealed"):
        sealed(alert(score=float("-inf")))


def test_an_integer_field_takes_no_fraction_exponent_or_boolean():
    (data,) = sealed(alert())
    for bad in (b'"seq":1.0', b'"seq":1e0', b'"seq":true'):
        with pytest.raises(msgspec.ValidationError, match="Expected `int`"):
            decode_record(data.replace(b'"seq":1', bad))


def _bundle(records: list[bytes], size: int | None = None) -> bytes:
    ledger = Ledger()
    for data in records:
        ledger.restore(data)
    fp = io.BytesIO()
    size = ledger.size if size is None else size
    write_bundle(fp, KEY.public_key_hex, records, [KEY.sign_head(size, ledger.tree.root(size),
                                                                 T0)])
    return fp.getvalue()


def test_a_duplicate_key_decodes_as_its_last_value_and_is_not_canonical(tmp_path):
    records = sealed(alert(), AlertAcknowledged(facility="kiln-2", alert_id="a/1",
                                                sensor="co2-stack", kind="spike", user="ops"))
    doubled = records[1].replace(b'"user":"ops"', b'"user":"eve","user":"ops"')
    assert decode_record(doubled).event.body.user == "ops"
    path = tmp_path / "ledger.bundle"
    path.write_bytes(_bundle([records[0], doubled], size=1))
    report = verify_bundle(path)
    assert not report.ok and report.first_bad_seq == 2 and "canonical" in report.problem


def test_the_header_is_plain_json_its_keys_in_any_order_extra_keys_ignored():
    key = KEY.public_key_hex
    header = (b'{ "public_key" : "%s", "hash":"sha256", "version":1,'
              b' "bundle":"plumeline-ledger", "comment":"ignored" }\n' % key.encode())
    assert read_bundle(io.BytesIO(header)).header.public_key == key
    for bad in (header.replace(b'"version":1', b'"version":1.0'),
                header.replace(key.encode(), key.upper().encode()),
                b"\xef\xbb\xbf" + header):
        with pytest.raises(BundleUnreadable):
            read_bundle(io.BytesIO(bad))


def test_a_tree_head_line_begins_with_its_prefix_then_any_order_inside():
    head = KEY.sign_head(0, Ledger().tree.root(), T0)
    inner = (b'{ "signature":"%s", "timestamp":%d, "root":"%s", "size":0, "note":1 }'
             % (head.signature.encode(), T0, head.root.encode()))
    header = b'{"bundle":"plumeline-ledger","version":1,"hash":"sha256","public_key":"%s"}\n'
    lines = [b'{"tree_head":' + inner + b" }\n",  # inside the prefix: any JSON
             b' {"tree_head":' + inner + b"}\n",  # not the prefix
             b'{"tree_head":' + inner + b',"note":1}\n']  # a key beside tree_head
    bundle = header % KEY.public_key_hex.encode() + b"".join(lines)
    first, spaced, extra = read_bundle(io.BytesIO(bundle))
    assert isinstance(first, TreeHeadLine) and first.head == head
    assert isinstance(spaced, MalformedLine) and "neither a record" in spaced.reason
    assert isinstance(extra, MalformedLine) and "not a valid tree head" in extra.reason
