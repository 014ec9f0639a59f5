"""Projections: the ledger turned into ClickHouse views that operators query.

`rows_for` maps one ledger record to rows (pure); `Projector` applies batches of
records to a `Store` with a checkpoint; `queries` reads current state, or the state
as of any ledger position, back out as JSON-ready dicts. `Notifier` follows the ledger
too, and POSTs alert events to webhook subscriptions (`WebhookRequest`).
"""

from plumeline.projections import queries
from plumeline.projections.forecast import MAX_HORIZON_H, Forecasts, emissions_history
from plumeline.projections.positions import caused_by, seq_at, seq_of
from plumeline.projections.projector import Projector, SequenceGap
from plumeline.projections.queries import (
    ALERT_STATES,
    SEVERITIES,
    alert,
    alerts,
    facilities,
    hotspots,
    ledger_events,
    projection_status,
    rejections_summary,
)
from plumeline.projections.recommendations import (
    RECOMMENDATION_STATES,
    recommendation,
    recommendations,
)
from plumeline.projections.rows import rows_for
from plumeline.projections.schema import COLUMNS, TABLES
from plumeline.projections.store import Store, open_store
from plumeline.projections.webhooks import EVENT_TYPES as WEBHOOK_EVENT_TYPES
from plumeline.projections.webhooks import OUTCOMES as WEBHOOK_OUTCOMES
from plumeline.projections.webhooks import WebhookRequest

__all__ = [
    "ALERT_STATES",
    "COLUMNS",
    "MAX_HORIZON_H",
    "RECOMMENDATION_STATES",
    "SEVERITIES",
    "TABLES",
    "WEBHOOK_EVENT_TYPES",
    "WEBHOOK_OUTCOMES",
    "Projector",
    "SequenceGap",
    "Store",
    "Forecasts",
    "WebhookRequest",
    "alert",
    "alerts",
    "caused_by",
    "emissions_history",
    "facilities",
    "hotspots",
    "ledger_events",
    "open_store",
    "projection_status",
    "queries",
    "recommendation",
    "recommendations",
    "rejections_summary",
    "rows_for",
    "seq_at",
    "seq_of",
]
