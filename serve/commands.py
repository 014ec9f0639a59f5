"""The command publisher: operator commands onto the facility's READINGS subject.

The one module of serve/ that speaks NATS. A command travels in the facility's input
log, so the shard host handles it in order with the readings and replay reproduces
its outcome (docs/architecture.md, "Commands").
"""

from __future__ import annotations

import asyncio

import nats

from events import Command, encode_wire, readings_subject

__all__ = ["CommandPublisher"]


class CommandPublisher:
    def __init__(self, nats_url: str, partitions: int) -> None:
        self.nats_url = nats_url
        self.partitions = partitions
        self._js = None
        self._connecting = asyncio.Lock()

    async def publish(self, command: Command) -> int:
        """Publish and wait for JetStream's ack; returns the command's READINGS seq."""
        js = self._js or await self._connect()
        ack = await js.publish(readings_subject(command.facility, self.partitions),
                               encode_wire(command), timeout=10.0)
        return ack.seq

    async def _connect(self):
        # connected on first use, inside the event loop that serves requests
        async with self._connecting:
            if self._js is None:
                nc = await nats.connect(self.nats_url, name="serve-commands",
                                        max_reconnect_attempts=-1)
                self._js = nc.jetstream()
        return self._js
