"""Logical actors (facilities, sensors) and the hosts that run them."""

from actors.accounting import FLOW_ROLES, CarbonBalance
from actors.alerts import AlertBook
from actors.derivation import Derivation, Derived
from actors.detection import DetectorConfig, RobustBaseline, severity_of
from actors.facility import FacilityActor, FacilityConfig, Rejected
from actors.ledger_writer import LedgerWriter, read_stream
from actors.sensor import SensorActor, alert_id
from actors.shard_host import Lane, ShardHost, SnapshotPolicy
from actors.snapshot import Snapshot, SnapshotUnusable
from actors.staleness import StaleWatch

__all__ = [
    "FLOW_ROLES",
    "AlertBook",
    "CarbonBalance",
    "Derivation",
    "Derived",
    "DetectorConfig",
    "FacilityActor",
    "FacilityConfig",
    "Lane",
    "LedgerWriter",
    "Rejected",
    "RobustBaseline",
    "SensorActor",
    "ShardHost",
    "Snapshot",
    "SnapshotPolicy",
    "SnapshotUnusable",
    "StaleWatch",
    "alert_id",
    "read_stream",
    "severity_of",
]
