"""The audit log: durable single-write records, tolerant reading, refusal when it can't write."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from console.engine import audit as audit_mod
from console.engine.audit import AuditLog, AuditUnavailable, audit_user, read_audit
from tests.ci import tmpfs


def lines_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_intent_and_outcome_are_two_linked_lines_with_who_what_where_when(tmp_path: Path):
    log = AuditLog(tmp_path / "state" / "audit.jsonl", user="alice", hostname="deploy-1")
    action_id = log.intent("migrate", "prod", "crm-backend-1", command=["alembic", "up"])
    log.outcome(action_id, "migrate", "prod", "crm-backend-1", outcome="failed", ok=False,
                exit_status=2, detail="exit status 2")

    first, second = lines_of(log.path)
    assert first["phase"] == "intent" and second["phase"] == "outcome"
    assert first["id"] == second["id"] == action_id
    for record in (first, second):
        assert record["user"] == "alice"
        assert record["host"] == "deploy-1"
        assert record["server"] == "prod"
        assert record["action"] == "migrate"
        assert record["target"] == "crm-backend-1"
        assert record["time"].endswith("Z")
        moment = datetime.fromisoformat(record["time"].replace("Z", "+00:00"))
        assert abs((datetime.now(UTC) - moment).total_seconds()) < 60
    assert first["command"] == ["alembic", "up"]
    assert second["exit_status"] == 2 and second["outcome"] == "failed"


def test_new_log_is_private_to_the_user(tmp_path: Path):
    log = AuditLog(tmp_path / "new" / "audit.jsonl")
    log.intent("restart", "prod", "web")
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.path.parent.stat().st_mode) == 0o700


def test_each_record_is_one_write_of_a_whole_line_then_fsync(tmp_path: Path, monkeypatch):
    log = AuditLog(tmp_path / "audit.jsonl")
    log.intent("restart", "prod", "web")  # the file exists from here on
    calls: list[tuple[str, object]] = []
    real_write, real_fsync = os.write, os.fsync

    def spy_write(fd: int, data: bytes) -> int:
        calls.append(("write", data))
        return real_write(fd, data)

    def spy_fsync(fd: int) -> None:
        calls.append(("fsync", fd))
        real_fsync(fd)

    monkeypatch.setattr(audit_mod.os, "write", spy_write)
    monkeypatch.setattr(audit_mod.os, "fsync", spy_fsync)
    action_id = log.intent("migrate", "prod", "crm-backend-1")
    log.outcome(action_id, "migrate", "prod", "crm-backend-1", outcome="succeeded", ok=True,
                exit_status=0)

    assert [kind for kind, _ in calls] == ["write", "fsync", "write", "fsync"]
    for kind, data in calls:
        if kind == "write":
            assert isinstance(data, bytes) and data.endswith(b"\n") and data.count(b"\n") == 1
            json.loads(data)


def test_user_prefers_sudo_user(monkeypatch):
    monkeypatch.setenv("SUDO_USER", "bob")
    assert audit_user() == "bob"
    monkeypatch.delenv("SUDO_USER")
    assert audit_user()  # the login name, whatever it is here


def test_credential_like_fields_are_refused(tmp_path: Path):
    log = AuditLog(tmp_path / "audit.jsonl")
    for key in ("password", "jwt_secret", "access_token", "api_key"):
        with pytest.raises(ValueError, match="credential"):
            log.intent("test_login", "prod", "url", **{key: "hunter2"})
    assert not log.path.exists() or "hunter2" not in log.path.read_text()


def test_torn_last_line_is_skipped_and_the_next_record_starts_a_fresh_line(tmp_path: Path):
    log = AuditLog(tmp_path / "audit.jsonl")
    first = log.intent("restart", "prod", "web")
    log.outcome(first, "restart", "prod", "web", outcome="succeeded", ok=True)
    with log.path.open("ab") as handle:
        handle.write(b'{"v":1,"id":"abc","phase":"inte')  # a crash mid-record

    read = read_audit(log.path)
    assert read.skipped_lines == 1
    assert [e.id for e in read.entries] == [first]

    second = log.intent("migrate", "prod", "crm-backend-1")
    read = read_audit(log.path)
    assert read.skipped_lines == 1
    assert [e.id for e in read.entries] == [second, first]
    assert read.entries[0].outcome == "unknown"  # intent only, so far


def test_garbage_anywhere_is_counted_not_fatal(tmp_path: Path):
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b"not json\n\xff\xfe\n[1,2]\n{\"no_id\": 1}\n\n")
    read = read_audit(path)
    assert read.entries == () and read.skipped_lines == 4


def test_missing_log_reads_as_empty(tmp_path: Path):
    read = read_audit(tmp_path / "nope.jsonl")
    assert read.entries == () and read.error == ""


def test_reader_pairs_outcomes_and_lists_newest_first(tmp_path: Path):
    log = AuditLog(tmp_path / "audit.jsonl")
    old = log.intent("restart", "alpha", "web")
    log.outcome(old, "restart", "alpha", "web", outcome="succeeded", ok=True)
    time.sleep(0.01)
    log.refused("migrate", "bravo", "host", "read-only")
    time.sleep(0.01)
    new = log.intent("migrate", "alpha", "crm-backend-1")
    log.outcome(new, "migrate", "alpha", "crm-backend-1", outcome="failed", ok=False,
                exit_status=2, detail="exit status 2: boom")

    entries = log.read().entries
    assert [e.action for e in entries] == ["migrate", "migrate", "restart"]
    assert entries[0].id == new and entries[0].exit_status == 2 and entries[0].ok is False
    assert entries[0].detail == "exit status 2: boom"
    assert entries[0].elapsed_s is not None and entries[0].elapsed_s >= 0
    assert entries[1].outcome == "refused" and entries[1].detail == "read-only"
    assert entries[2].outcome == "succeeded" and entries[2].complete
    assert len(log.read(limit=1).entries) == 1


def test_reader_looks_at_the_tail_of_a_huge_log(tmp_path: Path):
    log = AuditLog(tmp_path / "audit.jsonl")
    for _ in range(50):
        log.intent("restart", "prod", "web")
    last = log.intent("migrate", "prod", "db")
    read = read_audit(log.path, tail_bytes=600)
    assert read.entries[0].id == last
    assert read.skipped_lines == 0  # the cut first line is dropped, not counted as torn
    assert len(read.entries) < 51


def test_full_disk_is_a_clear_error(tmp_path: Path, monkeypatch):
    log = AuditLog(tmp_path / "audit.jsonl")
    log.intent("restart", "prod", "web")
    before = log.path.read_bytes()

    def no_space(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(audit_mod.os, "write", no_space)
    with pytest.raises(AuditUnavailable) as caught:
        log.intent("migrate", "prod", "db")
    assert "no space left" in str(caught.value)
    assert str(log.path) in str(caught.value)
    assert log.path.read_bytes() == before


def test_unwritable_place_is_a_clear_error(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    log = AuditLog(blocker / "audit.jsonl")  # its "directory" is a regular file
    with pytest.raises(AuditUnavailable, match="cannot be opened"):
        log.intent("restart", "prod", "web")


def test_a_directory_in_place_of_the_log_is_refused(tmp_path: Path):
    (tmp_path / "audit.jsonl").mkdir()
    with pytest.raises(AuditUnavailable):
        AuditLog(tmp_path / "audit.jsonl").intent("restart", "prod", "web")


@pytest.fixture
def tiny_tmpfs(tmp_path: Path):
    """A 16 KiB tmpfs, when this process may mount one (root in a VM)."""
    with tmpfs(tmp_path / "tiny", "16k") as mount_point:
        yield mount_point


def test_a_really_full_file_system_refuses_and_keeps_the_log_readable(tiny_tmpfs: Path):
    log = AuditLog(tiny_tmpfs / "audit.jsonl")
    first = log.intent("restart", "prod", "web")
    with contextlib.suppress(OSError), (tiny_tmpfs / "filler").open("wb") as filler:
        while True:
            filler.write(os.urandom(4096))
            filler.flush()
    with pytest.raises(AuditUnavailable, match="no space left"):
        for _ in range(200):  # a page may have had a little room left
            log.intent("migrate", "prod", str(uuid.uuid4()))
    read = read_audit(log.path)
    assert read.entries[-1].id == first
    assert all(e.action in ("restart", "migrate") for e in read.entries)


def test_kill_9_between_intent_and_outcome_leaves_a_parseable_log(tmp_path: Path):
    path = tmp_path / "audit.jsonl"
    code = (
        "import sys, time\n"
        "from console.engine.audit import AuditLog\n"
        f"log = AuditLog({str(path)!r})\n"
        "log.intent('migrate', 'prod', 'db')\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        proc.kill()
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    read = read_audit(path)
    assert read.skipped_lines == 0
    (entry,) = read.entries
    assert entry.action == "migrate" and entry.outcome == "unknown" and not entry.complete
