"""The diagnosis: what is broken, why the console thinks so, and which key fixes it.

Deterministic rules over the services' read models, no I/O of their own: ``diagnose``
turns a frozen ``DiagnosisInput`` into ``Finding``s, most severe first, one per cause;
``FindingTracker`` adds how long each has held and keeps what recovered in the last hour.
``build.from_snapshots`` is the only module that knows the live services.
"""

from console.engine.diagnosis.engine import diagnose, sort_findings
from console.engine.diagnosis.model import (
    FIX_KEYS,
    DiagnosisInput,
    Endpoint,
    Evidence,
    Finding,
    Fix,
    LoginCheck,
    ServerInput,
    Volume,
)
from console.engine.diagnosis.render import finding_json, fix_text, held_text, serious
from console.engine.diagnosis.tracker import (
    DiagnosisView,
    FindingTracker,
    Tracked,
    format_duration,
)

__all__ = [
    "FIX_KEYS",
    "DiagnosisInput",
    "DiagnosisView",
    "Endpoint",
    "Evidence",
    "Finding",
    "FindingTracker",
    "Fix",
    "LoginCheck",
    "ServerInput",
    "Tracked",
    "Volume",
    "diagnose",
    "finding_json",
    "fix_text",
    "held_text",
    "serious",
    "format_duration",
    "sort_findings",
]
