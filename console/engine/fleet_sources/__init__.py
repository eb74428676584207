"""Fleet sources: the monitoring engines a team already runs, read for the fleet overview.

Prometheus (with blackbox_exporter probes) gives ``up`` and each probe's outcome for every
target; Alertmanager gives what is firing. SSH servers keep the deep panes and the actions.
"""

from typing import TYPE_CHECKING, Any

from console.engine.fleet_sources.classify import ProbeMetrics, classify_probe
from console.engine.fleet_sources.model import (
    Alert,
    FleetSourcesSnapshot,
    ProbeRow,
    SourceState,
    alert_severity,
)

if TYPE_CHECKING:
    from console.engine.fleet_sources.answers import MAX_ANSWER_BYTES, SourceError
    from console.engine.fleet_sources.service import FleetSourceService

# The service and the HTTP answers pull in httpx and asyncio; the read model does not, and
# the pure diagnosis reads only the read model, so those two are imported when first used.
_LAZY = {"FleetSourceService": "service", "SourceError": "answers",
         "MAX_ANSWER_BYTES": "answers"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f"{__name__}.{_LAZY[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

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
