"""events/verify*.py on random tamperings: the chunked, parallel verifier names the same
first bad record, for the same reason, as a plain walk of the bundle in file order that
follows docs/ledger.md section 6 line by line."""

from __future__ import annotations

import hashlib

import msgspec
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from msgspec.structs import replace
from test_bundle import KEY, bundle_lines

from plumeline.events import (
    GENESIS,
    MerkleTree,
    decode_record,
    encode_record,
    leaf_hash,
    verify_bundle,
    verify_head,
)
from plumeline.events.bundle import _TreeHeadEntry

LINES = bundle_lines()
_head = msgspec.json.Decoder(_TreeHeadEntry)


def reference(data: bytes) -> tuple[int | None, str | None]:
    """(first_bad_seq, kind of problem) by docs/ledger.md section 6, one line at a time."""
    lines = data.split(b"\n")[1:]  # the header is never tampered with here
    tail = lines.pop()
    tree, heads, ids, prev = MerkleTree(), [], set(), GENESIS
    found: list[tuple[int | None, str]] = []
    for line in lines:
        if line.startswith(b'{"event":'):
            seq = tree.size + 1
            if not found and (kind := _record_problem(line, seq, prev, ids)):
                found.append((seq, kind))
            tree.append(leaf_hash(line))
            prev = leaf_hash(line).hex()
        elif (kind := _head_problem(line, heads)) and not found:
            found.append((None, kind))
    if tail and not found:
        found.append((None, "line"))  # the file ends inside its last line
    found += _end_problems(tree, heads)
    return found[0] if found else (None, None)


def _record_problem(line: bytes, seq: int, prev: str, ids: set[str]) -> str | None:
    try:
        record = decode_record(line)
    except msgspec.DecodeError:
        return "decode"
    c, event = record.event.causation, record.event
    checks = [
        ("seq", record.seq == seq),
        ("prev", record.prev == prev),
        ("event_id", event.id == event_id(c.stream, c.seq, c.index)),
        ("type", event.type == type(event.body).__struct_config__.tag),
        ("duplicate", event.id not in ids),
        ("canonical", encode_record(record) == line),
    ]
    ids.add(event.id)
    return next((kind for kind, ok in checks if not ok), None)


def event_id(stream: str, seq: int, index: int) -> str:
    return hashlib.sha256(f"{stream}/{seq}/{index}".encode()).hexdigest()[:32]


def _head_problem(line: bytes, heads: list) -> str | None:
    if not line.startswith(b'{"tree_head":'):
        return "line"
    try:
        head = _head.decode(line).tree_head
    except msgspec.DecodeError:
        return "line"
    if not verify_head(head, KEY.public_key_hex):
        return "signature"
    if head.size < 0 or len(head.root) != 64 or set(head.root) - set("0123456789abcdef"):
        return "head"
    heads.append(head)
    return None


def _end_problems(tree: MerkleTree, heads: list) -> list[tuple[int | None, str]]:
    if not heads:
        return [(None, "no heads")]
    vouched = 0
    for head in sorted(heads, key=lambda h: h.size):
        if head.size > tree.size:
            return [(tree.size + 1, "removed")]
        if tree.root(head.size).hex() != head.root:
            return [(vouched + 1, "root")]
        vouched = head.size
    return [(vouched + 1, "coverage")] if vouched < tree.size else []


KINDS = {  # the report's sentence, by the kind of problem it names
    "not a valid ledger record": "decode", "where seq": "seq", "prev does not match": "prev",
    "is not the id of its causation": "event_id", "differs from its body's type": "type",
    "appears a second time": "duplicate", "not in canonical form": "canonical",
    "its signature does not verify": "signature", "size or root is malformed": "head",
    "no valid signed tree head": "no heads", "records were removed": "removed",
    "but they hash to": "root", "are not covered by": "coverage",
}


def kind_of(problem: str | None) -> str | None:
    if problem is None:
        return None
    found = [kind for words, kind in KINDS.items() if words in problem]
    return found[0] if found else ("line" if problem.startswith("line ") else problem)


# -- tamperings: each takes the lines after the header and a draw of random numbers --


def flip(lines, draw):
    i = draw(st.integers(0, len(lines) - 1))
    at = draw(st.integers(0, len(lines[i]) - 1))
    bit = draw(st.integers(0, 7))
    line = bytearray(lines[i])
    line[at] ^= 1 << bit
    lines[i] = bytes(line)


def delete(lines, draw):
    del lines[draw(st.integers(0, len(lines) - 1))]


def insert(lines, draw):
    copied = lines[draw(st.integers(0, len(lines) - 1))]
    lines.insert(draw(st.integers(0, len(lines))), copied)


def swap(lines, draw):
    i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
    lines[i], lines[j] = lines[j], lines[i]


def truncate(lines, draw):
    data = b"".join(lines)
    cut = draw(st.integers(0, len(data) - 1))
    lines[:] = [data[:cut]]


def forge(lines, draw):
    """What a forger without the key does: change one record, then rewrite every
    record's seq and prev so that the chain holds again."""
    records = [i for i, line in enumerate(lines) if line.startswith(b'{"event":')]
    if not records:
        return
    k = draw(st.sampled_from(records))
    how = draw(st.sampled_from(["value", "id", "type", "spacing", "duplicate"]))
    prev, seq, first = GENESIS, 0, None
    for i in records:
        data, seq = lines[i].removesuffix(b"\n"), seq + 1
        try:
            record = decode_record(data)
        except msgspec.DecodeError:
            prev = leaf_hash(data).hex()
            continue
        first = first or record.event
        if i == k:
            record = replace(record, event=_changed(record.event, how, first))
        data = encode_record(replace(record, seq=seq, prev=prev))
        if i == k and how == "spacing":
            data = data.replace(b",", b", ", 1)
        lines[i], prev = data + b"\n", leaf_hash(data).hex()


def _changed(event, how: str, first):
    match how:
        case "value":
            return replace(event, body=replace(event.body, facility=event.facility + "x"))
        case "id":
            return replace(event, id="0" * 32)
        case "type":
            return replace(event, type="alert.cleared" if event.type == "alert.raised"
                           else "alert.raised")
        case "duplicate":
            return first
    return event


@st.composite
def tampered(draw) -> bytes:
    lines = LINES[1:]
    for tamper in draw(st.lists(st.sampled_from([flip, delete, insert, swap, truncate, forge]),
                                min_size=1, max_size=3)):
        if lines and b"".join(lines):
            tamper(lines, draw)
    return b"".join([LINES[0], *lines])


def test_the_reference_walk_passes_an_untouched_bundle_and_names_an_altered_record():
    assert reference(b"".join(LINES)) == (None, None)
    lines = list(LINES)
    lines[50] = lines[50].replace(b'"plant-', b'"plant_', 1)
    assert reference(b"".join(lines)) == (51, "prev")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(data=tampered(), chunk_bytes=st.integers(1, 20_000))
def test_chunks_in_parallel_name_the_first_bad_record_as_a_walk_in_file_order(
        tmp_path, data, chunk_bytes):
    path = tmp_path / "ledger.bundle"
    path.write_bytes(data)
    whole = verify_bundle(path, processes=1, chunk_bytes=1 << 30)
    split = verify_bundle(path, processes=2, chunk_bytes=chunk_bytes)
    assert split == whole
    event(f"kind {kind_of(whole.problem)}")
    assert (whole.first_bad_seq, kind_of(whole.problem)) == reference(data)
    assert whole.ok == (reference(data) == (None, None))
