"""events/bundle.py and events/verify.py: a real ledger exported, verified, then tampered with."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import msgspec
import pytest

from plumeline.events import (
    GENESIS,
    AlertAcknowledged,
    AlertCleared,
    AlertRaised,
    BundleUnreadable,
    Causation,
    Envelope,
    FacilityRegistered,
    HotspotDetected,
    Ledger,
    MalformedLine,
    ReadingsRejected,
    RecommendationApproved,
    RecommendationIssued,
    RecommendationRejected,
    Record,
    RecordLine,
    SensorRegistered,
    SigningKey,
    TreeHead,
    TreeHeadLine,
    decode_record,
    encode_record,
    leaf_hash,
    read_bundle,
    verify_bundle,
    write_bundle,
)
from plumeline.events import verify as verify_module

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
N = 300
HEAD_SIZES = (100, 200, N)


def body(i: int, facility: str):
    sensor = f"s{i % 7}"
    match i % 10:
        case 0:
            return FacilityRegistered(facility=facility, name="Nordkalk Kiln 2", kind="cement")
        case 1:
            return SensorRegistered(facility=facility, sensor=sensor, quantity="co2_flow",
                                    unit="t/h", role="emitted")
        case 2:
            return ReadingsRejected(facility=facility, count=3, reasons={"nan": 2, "future": 1})
        case 3:
            return HotspotDetected(facility=facility, sensor=sensor, quantity="co2_flow",
                                   unit="t/h", value=12.5 + i, baseline=7.25, excess_ratio=1e-7)
        case 4:
            return AlertRaised(facility=facility, alert_id=f"a{i}", sensor=sensor, kind="spike",
                               severity="high", value=0.1 * i, baseline=3.0, score=0.97,
                               model="ewma", message="CO₂ flow 3σ above baseline")
        case 5:
            return AlertAcknowledged(facility=facility, alert_id=f"a{i - 1}", sensor=sensor,
                                     kind="spike", user="ops", note='checked "in situ"\nline 2')
        case 6:
            return AlertCleared(facility=facility, alert_id=f"a{i - 2}", sensor=sensor,
                                kind="spike", value=2.0)
        case 7:
            return RecommendationIssued(facility=facility, recommendation_id=f"r{i}",
                                        sensor=sensor, action="raise amine flow",
                                        reason="capture efficiency below 85 %",
                                        expected_effect_tco2e_per_day=4.2, confidence=0.8,
                                        urgency="soon")
        case 8:
            return RecommendationApproved(facility=facility, recommendation_id=f"r{i - 1}",
                                          user="lead")
        case _:
            return RecommendationRejected(facility=facility, recommendation_id=f"r{i - 2}",
                                          user="lead", note="not now")


def envelope(i: int) -> Envelope:
    facility = f"plant-{i % 2}"
    return Envelope.wrap(body(i, facility), time=T0 + 1000 * i,
                         causation=Causation("READINGS", i // 3 + 1, i % 3))


KEY = SigningKey.generate()
LEDGER = Ledger()
RECORDS = [s.data for s in LEDGER.seal([envelope(i) for i in range(N)])]
HEADS = [KEY.sign_head(size, LEDGER.tree.root(size), T0 + size) for size in HEAD_SIZES]


def bundle_lines(records=RECORDS, heads=HEADS, public_key=KEY.public_key_hex) -> list[bytes]:
    fp = io.BytesIO()
    write_bundle(fp, public_key, records, heads)
    return fp.getvalue().splitlines(keepends=True)


def verify_lines(tmp_path, lines: list[bytes], public_key: str | None = None):
    """The report, which must not depend on how the bundle is cut into chunks: one line
    per chunk, a few records per chunk, in this process or in worker processes."""
    path = tmp_path / "ledger.bundle"
    path.write_bytes(b"".join(lines))
    report = verify_bundle(path, public_key)
    for processes, chunk_bytes in SPLITS:
        split = verify_bundle(path, public_key, processes=processes, chunk_bytes=chunk_bytes)
        assert split == report, (processes, chunk_bytes)
    return report


SPLITS = [(1, 1), (1, 2_000), (2, 5_000)]


def head_line(head: TreeHead) -> bytes:
    return msgspec.json.encode({"tree_head": head}) + b"\n"


def rechained(records: list[Record | bytes]) -> list[bytes]:
    """What a forger without the key can do: rewrite seq and prev after a change."""
    out, prev = [], GENESIS
    for seq, r in enumerate(records, start=1):
        record = decode_record(r) if isinstance(r, bytes) else r
        data = encode_record(msgspec.structs.replace(record, seq=seq, prev=prev))
        out.append(data)
        prev = leaf_hash(data).hex()
    return out


def test_the_ledger_holds_every_event_type():
    assert len(RECORDS) == N
    types = {decode_record(r).event.type for r in RECORDS}
    assert len(types) == 10


def test_an_untouched_bundle_verifies(tmp_path):
    report = verify_lines(tmp_path, bundle_lines(), KEY.public_key_hex)
    assert report.ok, report.problem
    assert (report.records, report.tree_heads) == (N, 3)
    assert report.root == LEDGER.tree.root().hex()
    assert report.first_bad_seq is None and report.problem is None


def test_bundle_layout(tmp_path):
    lines = bundle_lines()
    assert lines[0] == (b'{"bundle":"plumeline-ledger","version":1,"hash":"sha256","public_key":"'
                        + KEY.public_key_hex.encode() + b'"}\n')
    assert [line[:-1] for line in lines[1 : N + 1]] == RECORDS
    assert all(line.startswith(b'{"tree_head":{') for line in lines[N + 1 :])
    assert all(line.endswith(b"\n") for line in lines)
    b"".join(lines).decode("utf-8")  # the bundle is UTF-8 text


def test_read_bundle_yields_header_records_and_heads():
    bundle = read_bundle(io.BytesIO(b"".join(bundle_lines())))
    assert bundle.header.public_key == KEY.public_key_hex
    lines = list(bundle)
    assert [line.data for line in lines if isinstance(line, RecordLine)] == RECORDS
    assert [line.head for line in lines if isinstance(line, TreeHeadLine)] == HEADS
    assert lines[0].number == 2


def test_heads_may_stand_anywhere_after_the_header(tmp_path):
    lines = bundle_lines()
    heads = lines[N + 1 :]
    mixed = [lines[0], heads[2], *lines[1:50], heads[0], *lines[50 : N + 1], heads[1]]
    assert verify_lines(tmp_path, mixed).ok


def test_a_text_stream_verifies_too():
    fp = io.StringIO()
    write_bundle(fp, KEY.public_key_hex, RECORDS, HEADS)
    fp.seek(0)
    assert verify_bundle(fp).ok


def test_write_bundle_refuses_what_is_not_a_record():
    with pytest.raises(ValueError, match="record 2"):
        write_bundle(io.BytesIO(), KEY.public_key_hex, [RECORDS[0], b'{"x":1}'], [])


# Tampering. lines[i] holds record i (lines[0] is the header), on line i + 1 of the file.


def test_flipped_byte_inside_a_record(tmp_path):
    for offset in (20, 60, 100, 140):
        lines = bundle_lines()
        line = bytearray(lines[150])
        line[offset] ^= 0x01
        lines[150] = bytes(line)
        report = verify_lines(tmp_path, lines)
        assert not report.ok and report.first_bad_seq in (150, 151), (offset, report)


def test_altered_value_breaks_the_chain_at_the_next_record(tmp_path):
    lines = bundle_lines()
    lines[150] = lines[150].replace(b'"plant-', b'"plant_', 1)
    report = verify_lines(tmp_path, lines)
    assert not report.ok and report.first_bad_seq == 151
    assert "record 151 (line 152): prev does not match the hash of record 150" in report.problem


def test_deleted_record_in_the_middle(tmp_path):
    lines = bundle_lines()
    del lines[150]
    report = verify_lines(tmp_path, lines)
    assert not report.ok and report.first_bad_seq == 150
    assert "has seq 151 where seq 150 belongs" in report.problem


def test_deleted_last_record(tmp_path):
    lines = bundle_lines()
    del lines[N]
    report = verify_lines(tmp_path, lines)
    assert not report.ok and report.first_bad_seq == N
    assert f"signs {N} records but the bundle holds {N - 1}" in report.problem


def test_truncated_tail_with_its_heads_removed_is_found_by_coverage(tmp_path):
    lines = bundle_lines(heads=HEADS[:2])
    report = verify_lines(tmp_path, lines)
    assert not report.ok and report.first_bad_seq == 201
    assert "records 201..300 are not covered by any signed tree head" in report.problem


def test_inserted_record(tmp_path):
    lines = bundle_lines()
    forged = Record(seq=150, prev=leaf_hash(RECORDS[148]).hex(), event=envelope(1000))
    lines.insert(150, encode_record(forged) + b"\n")
    report = verify_lines(tmp_path, lines)
    assert not report.ok and report.first_bad_seq == 151
    assert "has seq 150 where seq 151 belongs" in report.problem


def test_swapped_records(tmp_path):
    lines = bundle_lines()
    lines[150], lines[151] = lines[151], lines[150]
    report = verify_lines(tmp_path, lines)
    assert not report.ok and report.first_bad_seq == 150


def test_duplicated_record(tmp_path):
    lines = bundle_lines()
    lines.insert(151, lines[150])
    report = verify_lines(tmp_path, lines)
    assert not report.ok and report.first_bad_seq == 151


def test_forged_signature(tmp_path):
    lines = bundle_lines()
    head = HEADS[1]
    forged = head.signature[:10] + ("0" if head.signature[10] != "0" else "1") + head.signature[11:]
    lines[N + 2] = head_line(msgspec.structs.replace(head, signature=forged))
    report = verify_lines(tmp_path, lines)
    assert not report.ok and report.first_bad_seq is None
    assert f"tree head on line {N + 3} (size 200): its signature does not verify" in report.problem


def test_altered_head_size_breaks_its_signature(tmp_path):
    lines = bundle_lines()
    lines[N + 3] = head_line(msgspec.structs.replace(HEADS[2], size=N - 1))
    report = verify_lines(tmp_path, lines)
    assert not report.ok and "signature does not verify" in report.problem


def test_tree_head_with_a_wrong_root(tmp_path):
    wrong = KEY.sign_head(200, LEDGER.tree.root(199), T0)
    report = verify_lines(tmp_path, bundle_lines(heads=[HEADS[0], wrong, HEADS[2]]))
    assert not report.ok and report.first_bad_seq == 101
    assert "tree head on line" in report.problem and "for records 1..200" in report.problem


def test_rechained_forgery_is_caught_by_the_signed_roots(tmp_path):
    records = [decode_record(r) for r in RECORDS]
    event = records[149].event
    records[149] = msgspec.structs.replace(
        records[149], event=msgspec.structs.replace(event, time=event.time + 1)
    )
    report = verify_lines(tmp_path, bundle_lines(records=rechained(records)))
    assert not report.ok and report.first_bad_seq == 101
    assert "a record in 101..200 was altered" in report.problem


def test_replaced_public_key_in_the_header(tmp_path):
    other = SigningKey.generate().public_key_hex
    lines = bundle_lines(public_key=other)
    report = verify_lines(tmp_path, lines)
    assert not report.ok and "signature does not verify under key " + other in report.problem
    pinned = verify_lines(tmp_path, lines, public_key=KEY.public_key_hex)
    assert not pinned.ok and pinned.first_bad_seq is None
    assert "header names public key " + other in pinned.problem


def test_heads_signed_by_another_key_fail_against_the_pinned_key(tmp_path):
    other = SigningKey.generate()
    heads = [other.sign_head(h.size, bytes.fromhex(h.root), h.timestamp) for h in HEADS]
    lines = bundle_lines(heads=heads, public_key=other.public_key_hex)
    assert verify_lines(tmp_path, lines).ok  # self-consistent, but not our writer's
    assert not verify_lines(tmp_path, lines, public_key=KEY.public_key_hex).ok


def test_no_tree_head_means_nothing_is_vouched_for(tmp_path):
    report = verify_lines(tmp_path, bundle_lines(heads=[]))
    assert not report.ok and "no valid signed tree head" in report.problem


def test_duplicate_event_wrong_id_and_wrong_type_are_named(tmp_path):
    records = [decode_record(r) for r in RECORDS]

    def with_event(i: int, **changes) -> list[Record]:
        event = msgspec.structs.replace(records[i].event, **changes)
        return [*records[:i], msgspec.structs.replace(records[i], event=event), *records[i + 1 :]]

    cases = {
        "appears a second time": [*records[:150], records[149], *records[150:]],
        "is not the id of its causation": with_event(149, id="0" * 32),
        "differs from its body's type": with_event(149, type="alert.raised"),
    }
    for problem, tampered in cases.items():
        report = verify_lines(tmp_path, bundle_lines(records=rechained(tampered)))
        assert not report.ok and problem in report.problem, report
        assert report.first_bad_seq in (150, 151)


def test_non_canonical_record_bytes(tmp_path):
    last = RECORDS[-1].replace(b',"prev":', b', "prev":')
    report = verify_lines(tmp_path, bundle_lines(records=[*RECORDS[:-1], last]))
    assert not report.ok and report.first_bad_seq == N
    assert "not in canonical form" in report.problem


def test_garbage_and_truncated_lines(tmp_path):
    lines = bundle_lines()
    report = verify_lines(tmp_path, [*lines[:10], b"hello\n", *lines[10:]])
    assert not report.ok and "line 11: neither a record nor a tree head" in report.problem
    report = verify_lines(tmp_path, [*lines[: N + 3], lines[N + 3][:-5]])
    assert not report.ok and "truncated" in report.problem
    bundle = read_bundle(io.BytesIO(b"".join([*lines[:3], b'{"tree_head":{"size":1}}\n'])))
    assert isinstance(list(bundle)[-1], MalformedLine)


# A large bundle is cut into chunks of whole lines, checked side by side in worker
# processes; what a chunk cannot see (the records before it) the coordinator checks.


def cut_before(lines: list[bytes], index: int) -> int:
    """The chunk size that ends the first chunk of records right before lines[index]."""
    return len(b"".join(lines[1:index])) - 1  # the read stops before a line feed


@pytest.mark.parametrize("processes", [1, 2])
def test_a_chain_broken_at_a_chunk_boundary(tmp_path, processes):
    lines = bundle_lines()
    lines[150] = lines[150].replace(b'"plant-', b'"plant_', 1)
    path = tmp_path / "ledger.bundle"
    path.write_bytes(b"".join(lines))
    report = verify_bundle(path, processes=processes, chunk_bytes=cut_before(lines, 151))
    assert not report.ok and report.first_bad_seq == 151
    assert "record 151 (line 152): prev does not match the hash of record 150" in report.problem
    assert (report.records, report.tree_heads) == (N, 3)


@pytest.mark.parametrize("processes", [1, 2])
def test_a_record_deleted_at_a_chunk_boundary(tmp_path, processes):
    lines = bundle_lines()
    del lines[150]
    path = tmp_path / "ledger.bundle"
    path.write_bytes(b"".join(lines))
    report = verify_bundle(path, processes=processes, chunk_bytes=cut_before(lines, 150))
    assert not report.ok and report.first_bad_seq == 150
    assert "record 150 (line 151): has seq 151 where seq 150 belongs" in report.problem


@pytest.mark.parametrize("processes", [1, 2])
def test_a_duplicate_in_a_later_chunk_is_named_on_its_own_line(tmp_path, processes):
    records = [decode_record(r) for r in RECORDS]
    tampered = rechained([*records[:199], records[49], *records[199:]])
    lines = bundle_lines(records=tampered)
    heads = lines[N + 2 :]
    # heads before and after the cut shift the duplicate's line away from its seq
    mixed = [*lines[:90], heads[0], *lines[90:150], heads[1], *lines[150:]]
    path = tmp_path / "ledger.bundle"
    path.write_bytes(b"".join(mixed))
    report = verify_bundle(path, processes=processes, chunk_bytes=cut_before(mixed, 120))
    assert not report.ok and report.first_bad_seq == 200
    assert mixed.index(lines[200]) == 202  # line 203 of the file
    assert (f"record 200 (line 203): event {records[49].event.id} appears a second time"
            in report.problem)
    assert report == verify_bundle(path, processes=1, chunk_bytes=1 << 30)


def test_a_problem_only_in_the_last_chunk_and_the_whole_file_described(tmp_path):
    lines = bundle_lines()
    last = RECORDS[-1].replace(b',"prev":', b', "prev":')
    lines[N] = last + b"\n"
    path = tmp_path / "ledger.bundle"
    path.write_bytes(b"".join(lines))
    report = verify_bundle(path, processes=2, chunk_bytes=4_000)
    assert not report.ok and report.first_bad_seq == N and "canonical" in report.problem
    assert report.records == N and report.tree_heads == 3  # signatures that verify
    tree = Ledger().tree
    tree.extend(b"".join(leaf_hash(line[:-1]) for line in lines[1 : N + 1]))
    assert report.root == tree.root().hex() != LEDGER.tree.root().hex()


def test_workers_start_cleanly_in_a_process_with_threads(tmp_path):
    # a fork would copy the other thread's locks: a server process forks the workers
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert verify_module._context().get_start_method() == "forkserver"
        lines = bundle_lines()
        del lines[150]
        report = verify_lines(tmp_path, lines)
        assert not report.ok and report.first_bad_seq == 150
    finally:
        stop.set()
        thread.join()


ZEROS = b"0" * 64


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\n",
        b"\x00\xff\xfe binary",
        b'{"bundle":"something-else","version":1,"hash":"sha256","public_key":"%s"}\n' % ZEROS,
        b'{"bundle":"plumeline-ledger","version":2,"hash":"sha256","public_key":"%s"}\n' % ZEROS,
        b'{"bundle":"plumeline-ledger","version":1,"hash":"sha256","public_key":"xyz"}\n',
        RECORDS[0] + b"\n",
    ],
    ids=["empty", "blank", "binary", "other-format", "version-2", "bad-key", "no-header"],
)
def test_a_file_without_a_valid_header_is_unreadable(tmp_path, content):
    path = tmp_path / "ledger.bundle"
    path.write_bytes(content)
    with pytest.raises(BundleUnreadable):
        verify_bundle(path)


def test_a_missing_file_or_a_directory_is_unreadable(tmp_path):
    with pytest.raises(BundleUnreadable, match="cannot open"):
        verify_bundle(tmp_path / "absent.bundle")
    with pytest.raises(BundleUnreadable):
        verify_bundle(tmp_path)


def test_the_worked_example_in_docs_is_what_the_code_computes():
    docs = (Path(__file__).parents[2] / "docs" / "ledger.md").read_text(encoding="utf-8")
    alert = "kiln-2/co2-stack/spike/1767225600000"
    ledger = Ledger()
    sealed = ledger.seal([
        Envelope.wrap(
            AlertRaised(facility="kiln-2", alert_id=alert, sensor="co2-stack", kind="spike",
                        severity="high", value=18.4, baseline=12.25, score=0.97,
                        model="ewma-3sigma", message="CO₂ flow 50% above baseline"),
            time=T0, causation=Causation("readings", 4711, 0)),
        Envelope.wrap(
            AlertCleared(facility="kiln-2", alert_id=alert, sensor="co2-stack", kind="spike",
                         value=12.5),
            time=T0 + 60_000, causation=Causation("readings", 4790, 0)),
    ])
    for s in sealed:
        assert s.data.decode() in docs and s.leaf_hash.hex() in docs
    assert f"({len(sealed[0].data)} bytes" in docs
    assert ledger.tree.root().hex() in docs
    key = SigningKey.from_hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    fp = io.BytesIO()
    write_bundle(fp, key.public_key_hex, [], [key.sign_head(1, ledger.tree.root(1), T0 + 500)])
    assert fp.getvalue().splitlines()[1].decode() in docs
