"""Figures for monitoring: how far each projection has got, how many readings are
stored, alerts by state. Cheap on purpose (no FINAL over big tables): a scrape every
few seconds must not cost what a view does.
"""

from __future__ import annotations

from typing import Any

from projections.readings import READINGS_TABLE
from projections.store import Store

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
    checkpoints = {r["projection"]: int(r["seq"]) for r in store.rows(
        "SELECT projection, max(seq) AS seq FROM checkpoints GROUP BY projection")}
    # count() without FINAL reads part metadata; unmerged copies of a replayed batch
    # may count twice until a merge, which a monitoring figure can live with
    stored = store.rows(f"SELECT count() AS n FROM {READINGS_TABLE}")[0]["n"]
    return {
        "checkpoints": {"ledger": checkpoints.get("ledger", 0),
                        "readings": checkpoints.get("readings", 0)},
        "readings_stored": int(stored),
        "alerts": {k: int(v) for k, v in store.rows(_ALERTS)[0].items()},
    }
