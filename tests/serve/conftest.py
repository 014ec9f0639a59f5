"""The app over real chDB-backed projections: a module-wide embedded store, a reader
that runs the named queries in-process, and a ledger view over a sealed `Ledger`."""

from __future__ import annotations

import pytest

from plumeline.events import Causation, Envelope, Ledger
from plumeline.projections import Projector, open_store
from plumeline.projections.readings import ReadingsProjector
from plumeline.projections.runner import QUERIES


class StoreReader:
    """What the projection runner answers, asked of the store directly."""

    def __init__(self, store) -> None:
        self.store = store

    async def query(self, name, **params):
        try:
            fn = QUERIES[name]
        except KeyError:
            raise ValueError(f"unknown query {name!r}") from None
        return fn(self.store, **params)


class TreeLedger:
    """The ledger writer's read side over an in-memory ledger."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def head(self) -> dict:
        return {"tree_size": self.ledger.size, "root_hash": self.ledger.tree.root().hex()}

    async def inclusion(self, seq, tree_size):
        size = self.ledger.size if tree_size is None else tree_size
        if not 1 <= size <= self.ledger.size or not 1 <= seq <= size:
            raise ValueError(f"record {seq} is not in a tree of size {size}")
        return {"seq": seq, "tree_size": size, "audit_path": [
            h.hex() for h in self.ledger.tree.inclusion_proof(seq - 1, size)]}

    async def consistency(self, first, second):
        if not 1 <= first <= second <= self.ledger.size:
            raise ValueError(f"need 1 <= first <= second <= {self.ledger.size}")
        return {"first": first, "second": second, "proof": [
            h.hex() for h in self.ledger.tree.consistency_proof(first, second)]}


@pytest.fixture(scope="module")
def chdb_store(tmp_path_factory):
    with open_store(path=str(tmp_path_factory.mktemp("chdb"))) as s:
        yield s


@pytest.fixture(scope="module")
def projected(chdb_store):
    """Project a story ((time, body) pairs) and frames; returns (reader, ledger view)."""

    def project(story, frames=()):
        projector = Projector(chdb_store)
        projector.rebuild()
        ledger = Ledger()
        envelopes = [Envelope.wrap(body, time=t, causation=Causation("readings", i + 1, 0))
                     for i, (t, body) in enumerate(story)]
        projector.apply([(r.seq, r.data) for r in ledger.seal(envelopes)])
        readings = ReadingsProjector(chdb_store)
        readings.reset()
        readings.apply([(i + 1, payload) for i, payload in enumerate(frames)])
        return StoreReader(chdb_store), TreeLedger(ledger)

    return project
