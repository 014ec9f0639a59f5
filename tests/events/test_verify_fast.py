"""events/verify_fast.py: the batch check of a chunk finds exactly what the reference,
a record at a time (`verify_chunk.check_lines`), finds, on untouched and tampered
chunks; and `verify_bundle` reports the same with it as without it."""

from __future__ import annotations

from typing import get_args

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_bundle import KEY
from test_verify_tampering import LINES, tampered

from plumeline.events import (
    GENESIS,
    Causation,
    Envelope,
    Event,
    Record,
    decode_record,
    encode_record,
    verify_bundle,
    verify_fast,
)
from plumeline.events.verify_chunk import CANONICAL, check_lines
from plumeline.events.verify_fast import check_records
from plumeline.events.verify_schema import SortedRecord

RECORDS = [line for line in LINES[1:] if line.startswith(b'{"event":')]
PK = KEY.public_key_hex


def test_a_chunk_of_good_records_is_checked_in_batch_and_found_good(monkeypatch):
    data = b"".join(RECORDS)
    expected = check_lines(data, PK)
    monkeypatch.setattr(verify_fast, "check_lines", None)  # the batch alone decides
    chunk = check_records(data, PK)
    assert chunk == expected
    assert chunk.problem is None and len(chunk.leaves) == 32 * len(RECORDS)
    assert chunk.first_seq == (0, 0, 1)


def test_the_batch_check_names_a_problem_as_the_reference_does():
    lines = list(RECORDS)
    lines[7] = lines[7].replace(b",", b", ", 1)  # not canonical, the hashes aside
    data = b"".join(lines)
    chunk = check_records(data, PK)
    assert chunk.problem is not None and chunk.problem[:2] == (7, CANONICAL)
    assert chunk == check_lines(data, PK)


def test_a_later_piece_is_checked_against_the_one_before():
    lines = list(RECORDS)
    lines[260], lines[261] = lines[261], lines[260]  # in the second piece of 256
    data = b"".join(lines)
    assert check_records(data, PK) == check_lines(data, PK)
    assert check_records(data, PK).problem[3] == "seq"


def test_a_record_cut_in_two_lines_is_no_two_records():
    lines = list(RECORDS[:10])
    head, tail = lines[4].split(b',"causation"', 1)
    lines[4:5] = [head + b"\n", b'{"event":{"causation"' + tail]
    data = b"".join(lines)
    assert check_records(data, PK) == check_lines(data, PK)
    assert check_records(data, PK).problem[:2] == (4, 0)  # DECODE, on the cut line


def _chunks(data: bytes, cut: int) -> list[bytes]:
    """The lines after the header, in pieces of whole lines as the verifier cuts them."""
    lines = data.split(b"\n")[1:]
    return [b"\n".join(lines[i : i + cut]) + b"\n" for i in range(0, len(lines), cut)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=tampered(), cut=st.integers(1, 700))
def test_batch_and_reference_agree_on_every_chunk_of_a_tampered_bundle(data, cut):
    for chunk in _chunks(data, cut):
        assert check_records(chunk, PK) == check_lines(chunk, PK)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(data=tampered(), chunk_bytes=st.integers(1, 200_000), processes=st.sampled_from([1, 2]))
def test_the_fast_verifier_names_the_first_bad_seq_as_the_reference_verifier(
        tmp_path, data, chunk_bytes, processes):
    path = tmp_path / "ledger.bundle"
    path.write_bytes(data)
    fast = verify_bundle(path, processes=processes, chunk_bytes=chunk_bytes)
    assert fast == verify_bundle(path, processes=1, chunk_bytes=1 << 30, fast=False)


_VALUES = {str: "x\u00e9\"", int: -7, float: 0.1, dict[str, int]: {"b": 2, "a": 1},
           list[str]: ["z", "a"]}


def _every_type() -> list[bytes]:
    """A record of each event type, every field written."""
    lines = []
    for i, cls in enumerate(get_args(Event)):
        fields = {f.encode_name: _VALUES[f.type] for f in msgspec.structs.fields(cls)}
        body = msgspec.convert(fields | {"type": cls.__struct_config__.tag}, Event)
        envelope = Envelope.wrap(body, time=5, causation=Causation("readings", i, 0))
        lines.append(encode_record(Record(seq=i + 1, prev=GENESIS, event=envelope)))
    return lines


def test_the_sorted_schema_reads_every_event_type_as_the_domain_does():
    decode = msgspec.json.Decoder(SortedRecord).decode
    lines = _every_type()
    assert len(lines) == len(get_args(Event))
    for line in lines + [r.removesuffix(b"\n") for r in RECORDS]:
        assert encode_record(decode(line)) == line == encode_record(decode_record(line))


EVERY_TYPE = _every_type()


def _verdict(decode, line: bytes):
    try:
        return encode_record(decode(line))
    except msgspec.DecodeError:
        return "refused"


@settings(max_examples=300, deadline=None)
@given(i=st.integers(0, len(get_args(Event)) - 1), at=st.integers(0, 10_000),
       byte=st.binary(min_size=0, max_size=3))
def test_the_sorted_schema_refuses_what_the_domain_refuses(i, at, byte):
    line = EVERY_TYPE[i]
    at %= len(line)
    changed = line[:at] + byte + line[at + 1 :]
    assert (_verdict(msgspec.json.Decoder(SortedRecord).decode, changed)
            == _verdict(decode_record, changed))
