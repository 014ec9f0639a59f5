"""Figures for monitoring: how far each projection has got, how many readings are
stored, alerts by state. Cheap on purpose (no FINAL over big tables): a scrape every
few seconds must not cost what a view does.
"""

from __future__ import annotations

from typing import Any

from plumeline.projections.projector import ledger_checkpoint, stored_checkpoint
from plumeline.projections.readings import READINGS_TABLE, ReadingsProjector
from plumeline.projections.store import Store

__all__ = ["figures"]

_ALERTS = """
SELECT countIf(cleared_seq < raised_seq AND ack_seq < raised_seq) AS active_unacknowledged,
       countIf(cleared_seq < raised_seq AND ack_seq > raised_seq) AS active_acknowledged,
       countIf(cleared_seq > raised_seq) AS cleared
FROM (
    SELECT alert_id, maxIf(seq, type = 'alert.raised') AS raised_seq,
           maxIf(seq, type = 'alert.acknowledged') AS ack_seq,
           maxIf(seq, type = 'alert.cleared') AS cleared_seq
    FROM alert_events GROUP BY alert_id HAVING raised_seq > 0
)
"""


def figures(store: Store) -> dict[str, Any]:
    # count() without FINAL reads part metadata; unmerged copies of a replayed batch
    # may count twice until a merge, which a monitoring figure can live with
    stored = store.rows(f"SELECT count() AS n FROM {READINGS_TABLE}")[0]["n"]
    return {
        "checkpoints": {"ledger": ledger_checkpoint(store),
                        "readings": stored_checkpoint(store, ReadingsProjector.name)},
        "readings_stored": int(stored),
        "alerts": {k: int(v) for k, v in store.rows(_ALERTS)[0].items()},
    }
