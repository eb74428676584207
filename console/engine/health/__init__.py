"""Health probes that say *which link broke*: DNS, TCP, TLS, proxy, backend or body.

- ``responses``: judging an HTTP answer (the app's own 5xx, or a proxy's error page);
- ``errors``: the failure classes of a request that got no answer;
- ``probe``: one GET within its deadline, its result redacted for the screen;
- ``discovery``: /health endpoints found on published ports (zero-config servers);
- ``model``: the frozen read model, ``HealthSnapshot``, and the ``HealthChange`` event;
- ``service``: ``HealthService``, every endpoint probed live or in one round.
"""

from console.engine.health.discovery import (
    DISCOVERY_PATHS,
    PublishedPort,
    discover_checks,
    parse_published_ports,
)
from console.engine.health.errors import classify_error
from console.engine.health.model import EndpointState, HealthChange, HealthSnapshot, ProbeTarget
from console.engine.health.probe import probe
from console.engine.health.responses import (
    BODY_PREVIEW_BYTES,
    KLASS_LABELS,
    Answer,
    classify_response,
    result_json,
    severity,
)
from console.engine.health.service import HealthService

__all__ = [
    "BODY_PREVIEW_BYTES",
    "DISCOVERY_PATHS",
    "KLASS_LABELS",
    "Answer",
    "EndpointState",
    "HealthChange",
    "HealthService",
    "HealthSnapshot",
    "ProbeTarget",
    "PublishedPort",
    "classify_error",
    "classify_response",
    "discover_checks",
    "parse_published_ports",
    "probe",
    "result_json",
    "severity",
]
