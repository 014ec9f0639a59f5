"""Logical actors (facilities, sensors) and the hosts that run them."""

from actors.detection import DetectorConfig, RobustBaseline, severity_of
from actors.facility import FacilityActor, FacilityConfig, Rejected
from actors.ledger_writer import LedgerWriter, read_stream
from actors.sensor import SensorActor, alert_id
from actors.shard_host import ShardHost

__all__ = [
    "DetectorConfig",
    "FacilityActor",
    "FacilityConfig",
    "LedgerWriter",
    "Rejected",
    "RobustBaseline",
    "SensorActor",
    "ShardHost",
    "alert_id",
    "read_stream",
    "severity_of",
]
