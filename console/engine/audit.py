"""The audit log: an append-only, fsync'd JSON-lines record of every action taken.

Why this shape:

* **Two lines per action.** An *intent* line is written and fsync'd before anything runs,
  an *outcome* line after it ends; both carry the same ``id``. If the console is killed
  (kill -9, a lost terminal, a power cut) between the two, the intent survives, and a reader
  shows the action as "no outcome recorded" instead of it silently never having happened.
* **One ``os.write`` per record, on an ``O_APPEND`` descriptor, then ``os.fsync``.** The
  kernel places each append at the end of the file atomically, so two consoles sharing one
  log never interleave inside a line, and a kill -9 can only land between complete records.
  If a torn record does exist (a disk filled mid-write, a crash of the machine), the next
  writer starts on a fresh line and readers skip the fragment and say how many they skipped.
* **No audit, no action.** If the intent cannot be written (disk full, read-only file
  system, no permission) ``AuditUnavailable`` is raised and the caller refuses the action:
  an operator's change that leaves no record is worse than one that waits for a fix. An
  outcome that cannot be written is reported to the caller (the action already happened
  and cannot be undone) rather than raised.
* **Never a secret.** Records hold names, targets, exit statuses and classifications. The
  writer rejects field names that look like credentials as a second line of defence, so a
  careless caller fails loudly in tests instead of leaking a password into a file that is
  kept for years.

Reading (for the audit view and ``report``) pairs intents with outcomes and tolerates a torn
or garbled line anywhere, the last one in particular.
"""

from __future__ import annotations

import contextlib
import errno
import getpass
import json
import os
import re
import socket
import stat
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console.models import utcnow

__all__ = [
    "AUDIT_VERSION",
    "AuditValue",
    "AuditEntry",
    "AuditLog",
    "AuditRead",
    "AuditUnavailable",
    "audit_user",
    "read_audit",
]

AUDIT_VERSION = 1
AuditValue = str | int | float | bool | list[str] | None
"""What an audit record's field may hold: names, numbers, verdicts; never a secret."""
TAIL_BYTES = 8 * 1024 * 1024
"""How much of the end of the log a reader looks at: years of actions, bounded memory."""

_SECRETISH_KEY = re.compile(r"pass(word)?|secret|token|credential|api_?key|private",
                            re.IGNORECASE)
_ALLOWED_SECRETISH_KEYS = frozenset({"verify_with_secret", "token_field"})


class AuditUnavailable(OSError):
    """The audit log cannot be written; the message says where and why in plain words."""


def audit_user() -> str:
    """Who is acting: the human behind sudo when there is one, else the login name.

    ``getpass.getuser`` raises in a container whose uid has no passwd entry; the numeric
    uid is still a useful answer there.
    """
    sudo_user = os.environ.get("SUDO_USER")
    if sudo_user:
        return sudo_user
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - KeyError / OSError depending on the platform
        return f"uid:{os.getuid()}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _describe_os_error(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on the device"
    if exc.errno == errno.EDQUOT:
        return "disk quota exceeded"
    if exc.errno == errno.EROFS:
        return "the file system is read-only"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return exc.strerror or type(exc).__name__


class AuditLog:
    """Appends intent/outcome records to one JSON-lines file; each write is durable."""

    def __init__(self, path: str | os.PathLike[str], *, user: str | None = None,
                 hostname: str | None = None) -> None:
        self.path = Path(path).expanduser()
        self.user = user or audit_user()
        self.hostname = hostname or socket.gethostname()

    # -- writing ---------------------------------------------------------------------------

    def intent(self, action: str, server: str, target: str, **details: AuditValue) -> str:
        """Record that ``action`` is about to run; returns the id that links its outcome.

        Raises ``AuditUnavailable`` if the record could not be made durable: the caller must
        then not run the action.
        """
        action_id = uuid.uuid4().hex
        self._append(self._record("intent", action_id, action, server, target, details))
        return action_id

    def outcome(self, action_id: str, action: str, server: str, target: str, *,
                outcome: str, ok: bool, **details: AuditValue) -> None:
        """Record how an action ended (``outcome``: succeeded, failed, cancelled, error).

        Every outcome carries ``exit_status`` (None when the action has none).
        """
        exit_status = details.pop("exit_status", None)
        fields = {"outcome": outcome, "ok": ok, "exit_status": exit_status, **details}
        self._append(self._record("outcome", action_id, action, server, target, fields))

    def refused(self, action: str, server: str, target: str, reason: str) -> None:
        """Record an action the console refused to run (read-only, already running)."""
        self._append(self._record("refused", uuid.uuid4().hex, action, server, target,
                                  {"outcome": "refused", "ok": False, "reason": reason}))

    def _record(self, phase: str, action_id: str, action: str, server: str, target: str,
                details: Mapping[str, Any]) -> dict[str, Any]:
        for key in details:
            if _SECRETISH_KEY.search(key) and key not in _ALLOWED_SECRETISH_KEYS:
                raise ValueError(f"audit field {key!r} looks like a credential; "
                                 "secrets are never written to the audit log")
        return {
            "v": AUDIT_VERSION,
            "id": action_id,
            "phase": phase,
            "time": _iso(utcnow()),
            "user": self.user,
            "host": self.hostname,
            "server": server,
            "action": action,
            "target": target,
            **details,
        }

    def _append(self, record: Mapping[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=True, separators=(",", ":"), default=str)
        data = (line + "\n").encode("ascii")
        try:
            fd = self._open()
        except OSError as exc:
            raise AuditUnavailable(
                exc.errno or errno.EIO,
                f"audit log {self.path} cannot be opened: {_describe_os_error(exc)}") from None
        try:
            if not _ends_with_newline(fd):
                data = b"\n" + data  # a torn record before us: start on a fresh line
            written = os.write(fd, data)
            if written != len(data):
                raise OSError(errno.ENOSPC, "short write")
            os.fsync(fd)
        except OSError as exc:
            raise AuditUnavailable(
                exc.errno or errno.EIO,
                f"audit log {self.path} cannot be written: {_describe_os_error(exc)}") from None
        finally:
            os.close(fd)

    def _open(self) -> int:
        """Open for appending, creating the file (0600) and its directory (0700) if needed.

        A new file's directory entry is fsync'd too, so the first record of a fresh log is
        not lost with the file's name after a crash.
        """
        created = False
        if not self.path.parent.is_dir():
            self.path.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
        # Read access only to look at the last byte (torn-record check); a write-only file
        # is still appended to.
        flags = os.O_RDWR | os.O_APPEND | os.O_CLOEXEC
        try:
            fd = os.open(self.path, flags)
        except FileNotFoundError:
            fd = os.open(self.path, flags | os.O_CREAT, 0o600)
            created = True
        except PermissionError:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise OSError(errno.EINVAL, "not a regular file")
        if created:
            _fsync_dir(self.path.parent)
        return fd

    # -- reading ---------------------------------------------------------------------------

    def read(self, limit: int | None = None) -> AuditRead:
        """The actions in the log, newest first (see ``read_audit``)."""
        return read_audit(self.path, limit=limit)


def _ends_with_newline(fd: int) -> bool:
    size = os.fstat(fd).st_size
    if size == 0:
        return True
    try:
        return os.pread(fd, 1, size - 1) == b"\n"
    except OSError:  # opened write-only: assume the common case
        return True


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        dir_fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One action as the log tells it: its intent joined with its outcome, if any.

    ``outcome`` is ``succeeded``/``failed``/``cancelled``/``error``/``refused``, or
    ``unknown`` when only the intent was recorded (the console died mid-action, or the
    action is still running).
    """

    id: str
    action: str
    server: str
    target: str
    user: str
    host: str
    started_at: datetime | None
    finished_at: datetime | None = None
    outcome: str = "unknown"
    ok: bool | None = None
    exit_status: int | None = None
    detail: str = ""
    intent: Mapping[str, Any] = field(default_factory=dict)
    result: Mapping[str, Any] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return bool(self.result)

    @property
    def elapsed_s(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True, slots=True)
class AuditRead:
    """What a read found: the entries (newest first) and how many lines were unreadable."""

    entries: tuple[AuditEntry, ...]
    skipped_lines: int = 0
    error: str = ""  # set when the file could not be read at all (it is then empty)


def read_audit(path: str | os.PathLike[str], *, limit: int | None = None,
               tail_bytes: int = TAIL_BYTES) -> AuditRead:
    """Parse the log's last ``tail_bytes``; unreadable lines are counted, never fatal.

    A missing file is an empty log (nothing has been done yet), not an error.
    """
    path = Path(path).expanduser()
    try:
        raw = _read_tail(path, tail_bytes)
    except FileNotFoundError:
        return AuditRead(entries=())
    except OSError as exc:
        return AuditRead(entries=(),
                         error=f"audit log {path} cannot be read: {_describe_os_error(exc)}")
    records, skipped = _parse_lines(raw)
    paired = _pair(records)  # in file order: the tie-breaker within one millisecond
    oldest = datetime.min.replace(tzinfo=UTC)
    order = sorted(range(len(paired)), key=lambda i: (paired[i].started_at or oldest, i),
                   reverse=True)
    entries = [paired[i] for i in order]
    if limit is not None:
        entries = entries[:limit]
    return AuditRead(entries=tuple(entries), skipped_lines=skipped)


def _read_tail(path: Path, tail_bytes: int) -> bytes:
    with path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size <= tail_bytes:
            return handle.read()
        handle.seek(size - tail_bytes)
        data = handle.read()
    cut = data.find(b"\n")  # the first line is probably a fragment: drop it
    return data[cut + 1:] if cut >= 0 else b""


def _parse_lines(raw: bytes) -> tuple[list[dict[str, Any]], int]:
    records: list[dict[str, Any]] = []
    skipped = 0
    for line in raw.split(b"\n"):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            skipped += 1
            continue
        if not isinstance(record, dict) or not isinstance(record.get("id"), str):
            skipped += 1
            continue
        records.append(record)
    return records, skipped


def _pair(records: list[dict[str, Any]]) -> list[AuditEntry]:
    """Join each outcome to its intent by id; lone outcomes and refusals stand alone."""
    intents: dict[str, dict[str, Any]] = {}
    results: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    for record in records:
        action_id = record["id"]
        phase = record.get("phase")
        if phase == "intent":
            intents[action_id] = record
        elif phase in ("outcome", "refused"):
            results[action_id] = record
        else:
            continue
        if action_id not in order:
            order.append(action_id)
    return [_entry(action_id, intents.get(action_id, {}), results.get(action_id, {}))
            for action_id in order]


def _entry(action_id: str, intent: dict[str, Any], result: dict[str, Any]) -> AuditEntry:
    base = intent or result

    def text(key: str) -> str:
        value = base.get(key)
        return "" if value is None else str(value)

    exit_status = result.get("exit_status")
    ok = result.get("ok")
    return AuditEntry(
        id=action_id,
        action=text("action"),
        server=text("server"),
        target=text("target"),
        user=text("user"),
        host=text("host"),
        started_at=_parse_time(base.get("time")),
        finished_at=_parse_time(result.get("time")) if result else None,
        outcome=str(result.get("outcome") or "unknown") if result else "unknown",
        ok=ok if isinstance(ok, bool) else None,
        exit_status=exit_status if isinstance(exit_status, int) else None,
        detail=str(result.get("detail") or result.get("reason") or ""),
        intent=intent,
        result=result,
    )
