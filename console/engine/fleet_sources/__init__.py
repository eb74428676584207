"""Fleet sources: the monitoring engines a team already runs, read for the fleet overview.

Prometheus (with blackbox_exporter probes) gives ``up`` and each probe's outcome for every
target; Alertmanager gives what is firing. SSH servers keep the deep panes and the actions.
"""

from console.engine.fleet_sources.answers import MAX_ANSWER_BYTES, SourceError
from console.engine.fleet_sources.classify import ProbeMetrics, classify_probe
from console.engine.fleet_sources.model import (
    Alert,
    FleetSourcesSnapshot,
    ProbeRow,
    SourceState,
    alert_severity,
)
from console.engine.fleet_sources.service import FleetSourceService

__all__ = [
    "MAX_ANSWER_BYTES",
    "Alert",
    "FleetSourceService",
    "FleetSourcesSnapshot",
    "ProbeMetrics",
    "ProbeRow",
    "SourceError",
    "SourceState",
    "alert_severity",
    "classify_probe",
]
