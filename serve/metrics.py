"""`GET /metrics`: the system's figures in Prometheus' text exposition format 0.0.4.

From the projections: how far each has got, readings stored, alerts by state; from
the ledger: its size; from NATS, where the deployment reaches it: READINGS' counters
and each partition's backlog (`shard-p<N>` consumers). Readings per second is the
change in readings stored since this replica's previous scrape.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from plumeline.serve.auth import needs

__all__ = ["CONTENT_TYPE", "render", "routes"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def render(families: list[tuple[str, str, str, list[tuple[dict, float]]]]) -> str:
    """(name, type, help, [(labels, value)]) -> exposition text."""
    lines = []
    for name, kind, help_, samples in families:
        lines += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}"]
        for labels, value in samples:
            tag = ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items())
            lines.append(f"{name}{{{tag}}} {value}" if tag else f"{name} {value}")
    return "\n".join(lines) + "\n"


def _dead_lettered(figures: dict, feed) -> list[tuple[dict, float]]:
    """The projections' followers' counts, and this replica's stream feed's."""
    found = [({"follower": f}, n) for f, n in figures.get("dead_lettered", {}).items()]
    if feed is not None:
        found.append(({"follower": "stream_feed"}, feed.dead_lettered))
    return found


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


@needs("read")
async def metrics(request: Request) -> Response:
    state = request.app.state
    figures = await state.reader.query("figures")
    head = (await state.ledger.head())["tree_size"]
    cp = figures["checkpoints"]
    stored = figures["readings_stored"]
    now = state.clock()
    families = [
        ("plumeline_ledger_records", "gauge", "records in the ledger (signed tree head)",
         [({}, head)]),
        ("plumeline_projection_checkpoint", "gauge", "last position each projection applied",
         [({"projection": p}, cp[p]) for p in ("ledger", "readings")]),
        ("plumeline_projection_lag_records", "gauge",
         "positions not yet projected (ledger head or READINGS last seq minus checkpoint)",
         [({"projection": "ledger"}, max(0, head - cp["ledger"]))]),
        ("plumeline_readings_stored_total", "counter", "readings in the readings projection",
         [({}, stored)]),
        ("plumeline_alerts", "gauge", "alerts by state",
         [({"state": s}, n) for s, n in figures["alerts"].items()]),
        ("plumeline_follower_dead_lettered_total", "counter",
         "messages a projection's follower could not apply, dead-lettered and skipped",
         _dead_lettered(figures, getattr(state, "feed", None))),
    ]
    last = getattr(state, "metrics_last", None)
    if last is not None and now > last[0]:
        families.append(("plumeline_readings_per_second", "gauge",
                         "readings stored per second since the previous scrape",
                         [({}, round(max(0, stored - last[1]) / (now - last[0]), 3))]))
    state.metrics_last = (now, stored)
    streams = getattr(state.intake, "stream_figures", None)
    if streams is not None:
        try:
            s = await streams()
        except Exception:  # NATS away: say so, and still show the rest
            s = None
        families.append(("plumeline_nats_reachable", "gauge", "1 if NATS answered",
                         [({}, 0 if s is None else 1)]))
        if s is not None:
            families[2][3].append(({"projection": "readings"},
                                   max(0, s["last_seq"] - cp["readings"])))
            families += [
                ("plumeline_readings_stream_messages", "gauge", "messages in READINGS",
                 [({}, s["messages"])]),
                ("plumeline_readings_stream_bytes", "gauge", "bytes in READINGS",
                 [({}, s["bytes"])]),
                ("plumeline_consumer_pending", "gauge",
                 "READINGS messages a partition's shard host has not fetched yet",
                 [({"partition": p}, c["pending"]) for p, c in sorted(s["consumers"].items())]),
                ("plumeline_consumer_ack_pending", "gauge",
                 "messages fetched but not yet acknowledged (their events not in the ledger)",
                 [({"partition": p}, c["ack_pending"])
                  for p, c in sorted(s["consumers"].items())]),
            ]
    return Response(render(families), media_type=CONTENT_TYPE)


routes = [Route("/metrics", metrics)]
