"""A facility's sensors as the ledger knows them, retired ones too: what an admin
manages (`/admin/facilities/{facility}/sensors`)."""

from __future__ import annotations

from typing import Any

from plumeline.projections import _params
from plumeline.projections.store import Store

__all__ = ["sensors"]


def sensors(store: Store, facility: str, as_of_seq: int | None = None
            ) -> dict[str, Any] | None:
    """The facility and each sensor's latest declaration: quantity, unit, role, whether
    it is retired, who last declared, changed or retired it ("" for its manifest) and
    when; None for a facility the ledger has not registered."""
    params = {"facility": facility, "as_of": _params.as_of(as_of_seq)}
    found = store.rows(
        "SELECT facility, argMax(name, seq) AS name, argMax(kind, seq) AS kind"
        " FROM facilities WHERE facility = {facility:String} AND seq <= {as_of:UInt64}"
        " GROUP BY facility", params)
    if not found:
        return None
    rows = store.rows(
        "SELECT sensor, argMax(quantity, seq) AS quantity, argMax(unit, seq) AS unit,"
        " argMax(role, seq) AS role, argMax(retired, seq) = 1 AS retired,"
        " argMax(by, seq) AS by, toUnixTimestamp64Milli(max(time)) AS changed_at_ms"
        " FROM sensors WHERE facility = {facility:String} AND seq <= {as_of:UInt64}"
        " GROUP BY sensor ORDER BY sensor", params)
    for r in rows:
        r["retired"] = bool(r["retired"])
    return {"facility": facility, "name": found[0]["name"], "kind": found[0]["kind"],
            "sensors": rows}
