"""A real embedded chDB store per test module, and a small ledger story sealed by the
real Ledger.

chDB runs one engine per process: opening a second path while a client is open
fails ("EmbeddedServer already initialized with path ..."), while closing the last
client releases the engine. So each module opens one store and closes it when it
ends (a session-wide store would block any later test that opens its own path), and
every test starts from dropped and recreated tables.
"""

from __future__ import annotations

import pytest

from plumeline.events import (
    AlertAcknowledged,
    AlertCleared,
    AlertRaised,
    Causation,
    Envelope,
    FacilityRegistered,
    HotspotDetected,
    Ledger,
    ReadingsRejected,
    RecommendationApproved,
    RecommendationIssued,
    RecommendationRejected,
    SensorRegistered,
)
from plumeline.projections import Projector, open_store

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


@pytest.fixture(scope="module")
def chdb_store(tmp_path_factory):
    with open_store(path=str(tmp_path_factory.mktemp("chdb"))) as s:
        yield s


@pytest.fixture
def projector(chdb_store):
    p = Projector(chdb_store)
    p.rebuild()
    return p


def _seal(bodies: list[tuple[int, object]], stream: str = "READINGS") -> list[tuple[int, bytes]]:
    """(event time, body) pairs -> (ledger seq, record bytes), one causing message each."""
    ledger = Ledger()
    envelopes = [
        Envelope.wrap(body, time=time, causation=Causation(stream, i + 1, 0))
        for i, (time, body) in enumerate(bodies)
    ]
    return [(r.seq, r.data) for r in ledger.seal(envelopes)]


def _alert_raised(alert_id: str, facility: str = "f1", sensor: str = "s1", severity: str = "major"):
    return AlertRaised(
        facility=facility,
        alert_id=alert_id,
        sensor=sensor,
        kind="deviation",
        severity=severity,
        value=42.0,
        baseline=10.0,
        score=14.2,
        model="robust-baseline",
        message=f"{sensor} high",
    )


# The story: seq 1..14. Alert a1 goes raised (6) -> acknowledged (8) -> cleared (9).
STORY = [
    (T0, FacilityRegistered(facility="f1", name="Plant One", kind="cement")),
    (
        T0,
        SensorRegistered(
            facility="f1", sensor="s1", quantity="co2_flow", unit="t/h", role="emitted"
        ),
    ),
    (
        T0,
        SensorRegistered(
            facility="f1", sensor="s2", quantity="temperature", unit="C", role="process"
        ),
    ),
    (T0, FacilityRegistered(facility="f2", name="Plant Two", kind="steel")),
    (T0 + 1_000, ReadingsRejected(facility="f1", count=3, reasons={"nan": 2, "future": 1})),
    (T0 + 2_000, _alert_raised("a1")),
    (
        T0 + 2_500,
        HotspotDetected(
            facility="f1",
            sensor="s1",
            quantity="co2_flow",
            unit="t/h",
            value=30.0,
            baseline=12.0,
            excess_ratio=2.5,
        ),
    ),
    (
        T0 + 3_000,
        AlertAcknowledged(
            facility="f1", alert_id="a1", sensor="s1", kind="deviation", user="olga", note="on it"
        ),
    ),
    (
        T0 + 4_000,
        AlertCleared(facility="f1", alert_id="a1", sensor="s1", kind="deviation", value=11.0),
    ),
    (T0 + 5_000, _alert_raised("a2", facility="f2", sensor="s9", severity="critical")),
    (
        T0 + 6_000,
        RecommendationIssued(
            facility="f1",
            recommendation_id="r1",
            sensor="s1",
            action="reduce kiln feed",
            reason="hotspot",
            expected_effect_tco2e_per_day=4.5,
            confidence=0.8,
            urgency="high",
        ),
    ),
    (T0 + 7_000, RecommendationApproved(facility="f1", recommendation_id="r1", user="olga")),
    (
        T0 + 8_000,
        RecommendationRejected(facility="f1", recommendation_id="r2", user="ivan", note="not now"),
    ),
    (T0 + 9_000, ReadingsRejected(facility="f2", count=1, reasons={"unknown_sensor": 1})),
]


@pytest.fixture(scope="session")
def story_events() -> list[tuple[int, object]]:
    return STORY


@pytest.fixture(scope="session")
def story() -> list[tuple[int, bytes]]:
    return _seal(STORY)
