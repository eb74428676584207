"""The one audit sequence every action follows: refusal, or intent, then exactly one outcome.

No record, no action: the intent is written (and fsync'd) before anything runs, and an
``AuditUnavailable`` there becomes an ``ActionRefused``. Whatever way the action then ends
(a result, an exception, the awaiting task cancelled) one outcome line carrying the intent's
id follows it. An outcome that cannot be written does not undo the action: it comes back
as a warning sentence the caller shows beside the result.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import NoReturn

from console.engine.audit import AuditLog, AuditUnavailable, AuditValue

__all__ = ["ActionRefused", "AuditedAction", "audited", "refuse"]

log = logging.getLogger(__name__)

class ActionRefused(Exception):
    """The console will not run this action; the message says why, for the operator."""


class AuditedAction:
    """An action between its intent and its outcome; ``outcome(...)`` writes the second line.

    ``on_cancel`` returns the extra fields of the "cancelled" outcome (a migration adds its
    exit status and elapsed time); it runs when the awaiting task is cancelled.
    """

    def __init__(self, log_: AuditLog, action_id: str, action: str, server: str,
                 target: str) -> None:
        self._log = log_
        self.action_id = action_id
        self.action = action
        self.server = server
        self.target = target
        self.written = False
        self.on_cancel: Callable[[], Mapping[str, AuditValue]] | None = None

    async def outcome(self, outcome: str, ok: bool, **fields: AuditValue) -> str:
        """Write the outcome (once); returns a warning sentence if it could not be written."""
        self.written = True
        try:
            await asyncio.to_thread(self._log.outcome, self.action_id, self.action,
                                    self.server, self.target, outcome=outcome, ok=ok,
                                    **fields)
        except AuditUnavailable as exc:
            return f"the outcome could not be written to the audit log: {exc.strerror}"
        return ""


async def refuse(log_: AuditLog, action: str, server: str, target: str,
                 reason: str) -> NoReturn:
    """Record the refusal (best effort: a refusal changes nothing) and raise it."""
    try:
        await asyncio.to_thread(log_.refused, action, server, target, reason)
    except (AuditUnavailable, OSError) as exc:
        log.warning("could not audit a refusal: %s", exc)
    raise ActionRefused(reason)


@asynccontextmanager
async def audited(log_: AuditLog, action: str, server: str, target: str,
                  **details: AuditValue) -> AsyncIterator[AuditedAction]:
    """Write the intent, run the block, and make sure one outcome follows.

    The block writes the outcome itself with ``record.outcome(...)`` (it knows the result).
    If it does not because the task was cancelled, a "cancelled" outcome is written
    (shielded: the cancellation must not also cancel the record of it); if an exception
    escapes it, an "error" outcome naming the exception's type (never its text, which
    could quote a value) is written before the exception goes on.
    """
    try:
        action_id = await asyncio.to_thread(log_.intent, action, server, target, **details)
    except AuditUnavailable as exc:
        raise ActionRefused(f"{action} on {server} refused: {exc.strerror}. Nothing was "
                            "run; an action must not run unaudited.") from None
    record = AuditedAction(log_, action_id, action, server, target)
    try:
        yield record
    except asyncio.CancelledError:
        if not record.written:
            extra = dict(record.on_cancel()) if record.on_cancel is not None else {}
            await asyncio.shield(record.outcome("cancelled", False, **extra))
        raise
    except Exception as exc:
        if not record.written:
            await asyncio.shield(record.outcome("error", False,
                                                detail=f"failed: {type(exc).__name__}"))
        raise
