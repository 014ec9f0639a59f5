"""Logical actors (facilities, sensors) and the hosts that run them."""

from plumeline.actors.accounting import FLOW_ROLES, CarbonBalance
from plumeline.actors.alerts import AlertBook
from plumeline.actors.derivation import Derivation, Derived
from plumeline.actors.detection import DetectorConfig, RobustBaseline, severity_of
from plumeline.actors.facility import FacilityActor, FacilityConfig, Rejected
from plumeline.actors.lanes import lanes
from plumeline.actors.ledger_client import LedgerAppendError, LedgerClient
from plumeline.actors.ledger_writer import LedgerWriter
from plumeline.actors.sensor import SensorActor
from plumeline.actors.shard_host import Lane, ShardHost, SnapshotPolicy
from plumeline.actors.snapshot import Snapshot, SnapshotUnusable
from plumeline.actors.staleness import StaleWatch
from plumeline.actors.stream_reader import read_stream

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
    "lanes",
    "LedgerAppendError",
    "LedgerClient",
    "LedgerWriter",
    "Rejected",
    "RobustBaseline",
    "SensorActor",
    "ShardHost",
    "Snapshot",
    "SnapshotPolicy",
    "SnapshotUnusable",
    "StaleWatch",
    "read_stream",
    "severity_of",
]
