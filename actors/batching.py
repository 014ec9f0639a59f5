"""How the ledger writer's appends become JetStream atomic batches: the waiting
appends taken as a group (`take`), failed together (`tell`), and a batch's records
queued on the connection as raw frames (`queue_records`).

The frames of a batch are built in one go (`frames`): the HPUB lines of the NATS
client protocol, with the batch headers written as bytes, queued on the client's
outgoing buffer in one call. nats-py's `publish` costs ~6 µs a message, most of it
checking and encoding the same header dict again; the commit message, the one that
is answered, still goes through `publish`.
"""

from __future__ import annotations

__all__ = ["ATOMIC_BATCH", "frames", "queue_records", "take", "tell"]


def take(queued: list, records: int) -> list:
    """The first queued appends, as many as fit in `records` records (at least one),
    removed from `queued`."""
    n, total = 1, len(queued[0][0])
    while n < len(queued) and total + len(queued[n][0]) <= records:
        total += len(queued[n][0])
        n += 1
    group = queued[:n]
    del queued[:n]
    return group


def tell(group: list, exc: BaseException) -> None:
    """Fail every append of `group` that still waits."""
    for _, told in group:
        if not told.done():
            told.set_exception(exc)
            told.exception()  # retrieved: a caller that went away leaves no warning


ATOMIC_BATCH = 1000  # nats-server's limit on messages in one atomic batch
# the Nats-Batch-Sequence header of message i of a batch, the same in every batch:
# written once here instead of once a record
_SEQUENCE = [b"\r\nNats-Batch-Sequence: %d\r\n\r\n" % i for i in range(ATOMIC_BATCH + 1)]


def frames(subject: bytes, batch: bytes, first: int, records: list[bytes]) -> bytes:
    """The HPUB frames of records 1..n of atomic batch `batch` (not its commit), the
    first of them record `first`, in the NATS client protocol: `HPUB <subject> <header
    bytes> <total bytes>`, then the headers (`NATS/1.0` and `Key: value` lines, a blank
    line), the payload and CRLF. The first carries the expected last sequence. Subject,
    batch id and numbers are ASCII without spaces or line breaks, so nothing needs
    escaping."""
    if len(records) > ATOMIC_BATCH:
        raise ValueError(f"an atomic batch holds at most {ATOMIC_BATCH} messages")
    start = b"NATS/1.0\r\nNats-Batch-Id: " + batch
    hdr = start + b"\r\nNats-Batch-Sequence: 1\r\nNats-Expected-Last-Sequence: %d\r\n\r\n" % (
        first - 1)
    out = [b"HPUB %s %d %d\r\n%s%s\r\n" % (subject, len(hdr), len(hdr) + len(records[0]),
                                           hdr, records[0])]
    n = len(start)
    for sequence, data in zip(_SEQUENCE[2:len(records) + 1], records[1:]):
        size = n + len(sequence)
        out.append(b"HPUB %s %d %d\r\n%s%s%s\r\n" % (subject, size, size + len(data), start,
                                                   sequence, data))
    return b"".join(out)


async def queue_records(nc, subject: str, batch: str, first: int, records: list[bytes]) -> None:
    """Queue records 1..n of atomic batch `batch` (not its commit), the first of them
    record `first`, on nats-py's outgoing buffer, in order with what `publish` queues,
    flushed by its flusher. The frames go
    through `Client._send_command`, the method `publish` itself ends in and the only
    private name used here; a nats-py without it gets the same messages through
    `publish`, one by one."""
    send = getattr(nc, "_send_command", None)
    if send is not None:
        return await send(frames(subject.encode(), batch.encode(), first, records))
    for i, data in enumerate(records, 1):
        headers = {"Nats-Batch-Id": batch, "Nats-Batch-Sequence": str(i)}
        if i == 1:
            headers["Nats-Expected-Last-Sequence"] = str(first - 1)
        await nc.publish(subject, data, headers=headers)
