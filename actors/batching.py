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

__all__ = ["frames", "queue_records", "take", "tell"]


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


def frames(subject: bytes, batch: bytes, records: list) -> bytes:
    """The HPUB frames of records 1..n of atomic batch `batch` (not its commit), in the
    NATS client protocol: `HPUB <subject> <header bytes> <total bytes>`, then the
    headers (`NATS/1.0` and `Key: value` lines, a blank line), the payload and CRLF.
    The first carries the expected last sequence. Subject, batch id and numbers are
    ASCII without spaces or line breaks, so nothing needs escaping."""
    out = []
    for i, r in enumerate(records, 1):
        if i == 1:
            hdr = b"NATS/1.0\r\nNats-Batch-Id: %s\r\nNats-Batch-Sequence: 1\r\n" \
                  b"Nats-Expected-Last-Sequence: %d\r\n\r\n" % (batch, r.seq - 1)
        else:
            hdr = b"NATS/1.0\r\nNats-Batch-Id: %s\r\nNats-Batch-Sequence: %d\r\n\r\n" % (
                batch, i)
        data = r.data
        out.append(b"HPUB %s %d %d\r\n%s%s\r\n" % (
            subject, len(hdr), len(hdr) + len(data), hdr, data))
    return b"".join(out)


async def queue_records(nc, subject: str, batch: str, records: list) -> None:
    """Queue records 1..n of atomic batch `batch` (not its commit) on nats-py's outgoing
    buffer, in order with what `publish` queues, flushed by its flusher. The frames go
    through `Client._send_command`, the method `publish` itself ends in and the only
    private name used here; a nats-py without it gets the same messages through
    `publish`, one by one."""
    send = getattr(nc, "_send_command", None)
    if send is not None:
        return await send(frames(subject.encode(), batch.encode(), records))
    for i, r in enumerate(records, 1):
        headers = {"Nats-Batch-Id": batch, "Nats-Batch-Sequence": str(i)}
        if i == 1:
            headers["Nats-Expected-Last-Sequence"] = str(r.seq - 1)
        await nc.publish(subject, r.data, headers=headers)
