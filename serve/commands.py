"""The NATS side of the app: operator commands and ingested frames onto the facility's
READINGS subject, and the stream figures `/metrics` shows.

The one module of serve/ that speaks NATS. A command travels in the facility's input
log, so the shard host handles it in order with the readings and replay reproduces
its outcome (docs/architecture.md, "Commands"); a frame posted over HTTP travels the
same way as one a device publishes itself.
"""

from __future__ import annotations

import asyncio
import re

import nats

from plumeline.events import Command, encode_wire, readings_subject
from plumeline.events.bus import connect_options

__all__ = ["BusPublisher"]

_SHARD_CONSUMER = re.compile(r"^shard-p(\d+)$")


class BusPublisher:
    """The app's one publisher onto READINGS: operator commands and posted frames."""

    def __init__(self, nats_url: str, partitions: int) -> None:
        self.nats_url = nats_url
        self.partitions = partitions
        self._nc = None
        self._js = None
        self._connecting = asyncio.Lock()

    async def publish(self, command: Command) -> int:
        """Publish and wait for JetStream's ack; returns the command's READINGS seq."""
        js = self._js or await self._connect()
        ack = await js.publish(readings_subject(command.facility, self.partitions),
                               encode_wire(command), timeout=10.0)
        return ack.seq

    async def publish_frames(self, frames: list[tuple[str, bytes, str]]
                             ) -> list[tuple[int, bool]]:
        """(facility, payload, message id) in; (READINGS seq, duplicate) out, in order.
        JetStream drops a message whose id it saw within the stream's duplicate window
        and answers with the first one's seq, so a device may safely post again."""
        js = self._js or await self._connect()
        acks = await asyncio.gather(*(
            js.publish(readings_subject(facility, self.partitions), payload, timeout=10.0,
                       headers={"Nats-Msg-Id": msg_id})
            for facility, payload, msg_id in frames))
        return [(ack.seq, bool(ack.duplicate)) for ack in acks]

    async def stream_figures(self) -> dict:
        """READINGS' counters and, per partition, what its shard host has yet to take
        (`shard-p<N>` durable consumers)."""
        js = self._js or await self._connect()
        info = await js.stream_info("READINGS")
        consumers = {}
        for c in await js.consumers_info("READINGS"):
            found = _SHARD_CONSUMER.match(c.name or "")
            if found:
                consumers[int(found[1])] = {"pending": c.num_pending or 0,
                                            "ack_pending": c.num_ack_pending or 0}
        return {"messages": info.state.messages, "bytes": info.state.bytes,
                "last_seq": info.state.last_seq, "consumers": consumers}

    async def _connect(self):
        # connected on first use, inside the event loop that serves requests
        async with self._connecting:
            if self._js is None:
                self._nc = await nats.connect(**connect_options(self.nats_url), name="serve-commands",
                                              max_reconnect_attempts=-1)
                self._js = self._nc.jetstream()
        return self._js

    async def close(self) -> None:
        if self._nc is not None:
            await self._nc.close()
            self._nc = self._js = None
