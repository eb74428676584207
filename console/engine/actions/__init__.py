"""Actions: restart, migrate and test-login, each refused when unsafe and always audited.

- ``audited``: the one audit sequence (refusal, or intent then exactly one outcome).
- ``migrate``: the plan, the run the UI follows, and driving it to its end (TERM, KILL).
- ``executions``: ``docker exec`` in a container, or the tagging shell wrapper on the host.
- ``login``: test-login, and reading a secret's places for the signature check.
- ``tokens``: the unverified JWT decode and the per-place signature verdicts.
- ``service``: ``ActionService`` and its read model, ``ActionsSnapshot``.
"""

from __future__ import annotations

from console.engine.actions.audited import ActionRefused, AuditedAction, audited, refuse
from console.engine.actions.executions import PID_MARKER
from console.engine.actions.login import LoginResult, classify_login_status, read_secret_places
from console.engine.actions.migrate import (
    MigrationPlan,
    MigrationProgress,
    MigrationRun,
    OutputLine,
    migration_plan,
)
from console.engine.actions.service import (
    CONNECT_WAIT,
    ActionService,
    ActionsSnapshot,
    ContainerRestarter,
    ServerActions,
)
from console.engine.actions.tokens import (
    SignatureCheck,
    TokenInfo,
    inspect_token,
    token_preview,
    verify_signature,
)

__all__ = [
    "CONNECT_WAIT",
    "PID_MARKER",
    "ActionRefused",
    "ActionService",
    "ActionsSnapshot",
    "AuditedAction",
    "ContainerRestarter",
    "LoginResult",
    "MigrationPlan",
    "MigrationProgress",
    "MigrationRun",
    "OutputLine",
    "ServerActions",
    "SignatureCheck",
    "TokenInfo",
    "audited",
    "classify_login_status",
    "inspect_token",
    "migration_plan",
    "read_secret_places",
    "refuse",
    "token_preview",
    "verify_signature",
]
