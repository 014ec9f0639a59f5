"""Facilities, sensor physics and anomaly injection with ground truth.

Deterministic for a seed: the same seed, fleet and start time give the same readings
and the same anomalies, however the steps are batched into frames.
"""

from plumeline.simulator.anomalies import (
    KINDS,
    AnomalySchedule,
    AnomalyWindow,
    read_ground_truth,
    write_ground_truth,
)
from plumeline.simulator.facilities import (
    CCS,
    FACTORY,
    TEMPLATES,
    FacilityTemplate,
    SensorTemplate,
    facility_ids,
    facility_kinds,
)
from plumeline.simulator.publisher import Published, frame_headers, manifest_headers, publish
from plumeline.simulator.scenarios import SCENARIO_KINDS, what_if
from plumeline.simulator.simulation import Readings, Simulation

__all__ = [
    "CCS",
    "FACTORY",
    "KINDS",
    "SCENARIO_KINDS",
    "TEMPLATES",
    "AnomalySchedule",
    "AnomalyWindow",
    "FacilityTemplate",
    "Published",
    "Readings",
    "SensorTemplate",
    "Simulation",
    "facility_ids",
    "facility_kinds",
    "frame_headers",
    "manifest_headers",
    "publish",
    "read_ground_truth",
    "what_if",
    "write_ground_truth",
]
