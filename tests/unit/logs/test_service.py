"""LogService without Docker: ingest, delivery, buffers, counts, the read model and events."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from types import SimpleNamespace

import jwt
import pytest

from console.config import Config, ConsoleSettings, LogRuleConfig, LogsConfig, ServerConfig
from console.engine.contracts import Change, Service
from console.engine.logs import MAX_LINE_BYTES, LogBatch, LogChange, LogService, LogsSnapshot
from console.models import ContainerInfo, Severity, utcnow
from tests.support.logs import make_log_service as make_service


async def _batches(service: LogService) -> list[LogBatch]:
    got: list[LogBatch] = []

    def on_change(change: Change) -> None:
        if isinstance(change, LogChange):
            got.append(change.batch)

    service.subscribe(on_change)
    await service.start()
    return got


async def _settle(service: LogService) -> None:
    await asyncio.sleep(service.flush_interval * 3 + 0.05)


async def test_feed_classifies_redacts_and_delivers_in_order() -> None:
    service = make_service()
    got = await _batches(service)
    token = jwt.encode({"sub": "1"}, "s" * 32, algorithm="HS256")
    service.feed("alpha", "crm-backend-1", [
        "[AUTH] Login failed: invalid password for a@b",
        f"issued token {token}",
        "POST /login password=hunter2",
        "nothing",
    ])
    service.feed("alpha", "crm-nginx-1", ['"GET / HTTP/1.1" 502 1'])
    await _settle(service)
    lines = [line for batch in got for line in batch.lines]
    assert [line.seq for line in lines] == sorted(line.seq for line in lines)
    texts = [line.text for line in lines]
    assert token not in " ".join(texts) and "hunter2" not in " ".join(texts)
    assert "issued token [redacted jwt]" in texts
    events = [line for batch in got for line in batch.events]
    assert [(e.source, e.rule, e.severity) for e in events] == [
        ("crm-backend-1", "failed_login", Severity.WARNING),
        ("crm-nginx-1", "upstream_error", Severity.ERROR)]
    await service.stop()


async def test_batches_are_coalesced() -> None:
    service = make_service(flush=0.2)
    got = await _batches(service)
    for i in range(50):
        service.feed("alpha", "c", [f"line {i}"])
    await asyncio.sleep(0.5)
    assert 1 <= len(got) <= 3
    assert sum(len(b.lines) for b in got) == 50
    await service.stop()


async def test_ring_buffer_overflow_is_counted_never_silent() -> None:
    service = make_service(buffer_lines=100, flush=0.2)
    got = await _batches(service)
    service.feed("alpha", "c", [f"line {i}" for i in range(1000)])
    await asyncio.sleep(0.4)
    assert sum(len(b.lines) for b in got) == 100
    assert sum(b.skipped for b in got) == 900
    assert [line.text for line in got[-1].lines][-1] == "line 999"
    assert service.skipped_total == 900
    assert service.sources()[0].skipped == 900
    assert len(service.buffered()) == 100
    await service.stop()


async def test_auth_events_survive_a_flood_of_ordinary_lines() -> None:
    service = make_service(buffer_lines=100, flush=0.2)
    got = await _batches(service)
    service.feed("alpha", "c", ["JWT expired"] + [f"noise {i}" for i in range(1000)])
    await asyncio.sleep(0.4)
    assert [e.text for b in got for e in b.events] == ["JWT expired"]
    assert sum(b.events_skipped for b in got) == 0
    assert [e.rule for e in service.buffered(auth_only=True)] == ["jwt_expired"]
    await service.stop()


def test_auth_summary_window_counts_and_recent() -> None:
    service = make_service()
    now = utcnow()
    old = now - timedelta(seconds=2000)
    service.feed("alpha", "crm-backend-1", ["JWT expired", "JWT expired", "x"],
                 times=[old, now - timedelta(seconds=10), now])
    service.feed("alpha", "crm-nginx-1", ["[AUTH] Login failed: bad \x1b[2J"], times=[now])
    summary = service.auth_summary(900, server="alpha", now=now)
    assert summary["window_s"] == 900
    assert summary["counts"] == {"jwt_expired": 1, "failed_login": 1}
    assert [e["rule"] for e in summary["recent"]] == ["jwt_expired", "failed_login"]  # type: ignore[attr-defined]
    assert summary["recent"][-1]["line"].endswith("\\x1b[2J")  # type: ignore[index]
    assert summary["recent"][-1]["severity"] == "warning"  # type: ignore[index]
    assert service.auth_summary(900, server="bravo", now=now)["counts"] == {}
    assert service.rule_counts(3600, now=now) == {"jwt_expired": 2, "failed_login": 1}
    rate = service.rate_per_minute(60, now=now)
    assert len(rate) == 60 and sum(rate[-2:]) == 2 and sum(rate) == 3


def test_config_rules_and_a_bad_one() -> None:
    service = make_service(rules=[LogRuleConfig("deploy", "DEPLOY", "info"),
                                  LogRuleConfig("broken", "(", "info")])
    assert service.problems and "broken" in service.problems[0]
    service.feed("alpha", "c", ["DEPLOY 3", "JWT expired"])
    assert [e.rule for e in service.buffered(auth_only=True)] == ["jwt_expired"]
    good = make_service(rules=[LogRuleConfig("deploy", "DEPLOY", "info")])
    good.feed("alpha", "c", ["DEPLOY 3"])
    assert [e.rule for e in good.buffered(auth_only=True)] == ["deploy"]


def test_feed_cuts_huge_lines() -> None:
    service = make_service()
    service.feed("alpha", "c", ["x" * (1024 * 1024)])
    (line,) = service.buffered()
    assert len(line.text) < MAX_LINE_BYTES + 100 and "chars cut" in line.text


# --------------------------------------------------------------------------- contract


def test_the_snapshot_is_one_frozen_read_model() -> None:
    service = make_service(buffer_lines=10, rules=[LogRuleConfig("broken", "(", "info")])
    now = utcnow()
    service.feed("alpha", "c", ["JWT expired", "JWT expired", "x"],
                 times=[now - timedelta(seconds=2000), now, now])
    service.feed("alpha", "d", [f"noise {i}" for i in range(15)])
    service._store.collect()  # what a flush does: 5 of d's lines left its buffer first
    snap = service.snapshot()
    assert isinstance(snap, LogsSnapshot)
    assert [(s.name, s.lines, s.skipped) for s in snap.sources] == [("c", 3, 0), ("d", 15, 5)]
    assert snap.skipped == 5 and snap.window_s == 900
    assert dict(snap.counts) == {"jwt_expired": 1}
    assert len(snap.problems) == 1 and "broken" in snap.problems[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.skipped = 0  # type: ignore[misc]
    with pytest.raises(TypeError):
        snap.counts["jwt_expired"] = 0  # type: ignore[index]
    assert isinstance(service, Service)


class _Rows:
    """A container service whose rows for alpha are fixed: ``state`` and no containers."""

    def __init__(self, state: str, error: str = "") -> None:
        self.rows = {"alpha": SimpleNamespace(state=state, error=error, containers=(
            ContainerInfo("alpha", "id1", "other", None, None, "exited", "none", 0, None, "x",
                          exit_code=1),))}
        self.callbacks: list = []  # type: ignore[type-arg]

    def subscribe(self, callback):  # type: ignore[no-untyped-def]
        self.callbacks.append(callback)
        return lambda: self.callbacks.remove(callback)

    def snapshot(self):  # type: ignore[no-untyped-def]
        return self.rows


async def test_a_source_state_change_is_a_plain_change_with_its_server() -> None:
    """Status changes reach the same listeners as the batches: a ``Change`` naming the
    server (not a ``LogChange``), after which ``snapshot().sources`` says what changed."""
    server = ServerConfig(name="alpha", logs=LogsConfig(containers=("web",)))
    rows = _Rows("ok")
    service = LogService(Config(ConsoleSettings(), (server,)), {"alpha": SimpleNamespace()},  # type: ignore[dict-item]
                         containers=rows, flush_interval=0.01)  # type: ignore[arg-type]
    changes: list[Change] = []
    service.subscribe(changes.append)
    await service.start()
    assert changes == [Change(service="logs", server="alpha")]
    assert [(s.name, s.state, s.detail) for s in service.snapshot().sources] == [
        ("web", "missing", "no such container")]
    rows.rows["alpha"] = SimpleNamespace(state="unavailable", error="ssh: link down",
                                         containers=())
    rows.callbacks[0](Change(service="containers", server="alpha"))
    assert changes[-1] == Change(service="logs", server="alpha") and len(changes) == 2
    assert service.sources()[0].state == "lost"
    service.feed("alpha", "web", ["JWT expired"])
    await _settle(service)
    assert isinstance(changes[-1], LogChange) and changes[-1].server is None
    assert [line.text for line in changes[-1].batch.events] == ["JWT expired"]
    await service.stop()
    assert rows.callbacks == []  # stopped listening to the container service


async def test_servers_with_the_same_rules_share_one_ruleset_and_each_bad_one_is_named() -> None:
    """Fifty servers with the built-in rules cost one RuleSet, not fifty; a server with its
    own rules gets its own, and a bad rule config is reported under every server that has it
    (each falls back to the built-ins and still classifies)."""
    custom = LogsConfig(rules=(LogRuleConfig(name="deploy_key", pattern="deploy key rejected"),))
    bad = LogsConfig(rules=(LogRuleConfig(name="no_such_builtin", pattern=None),))
    servers = (*(ServerConfig(name=f"s{i}") for i in range(3)),
               ServerConfig(name="own", logs=custom),
               ServerConfig(name="bad1", logs=bad), ServerConfig(name="bad2", logs=bad))
    hosts = {s.name: SimpleNamespace() for s in servers}
    service = LogService(Config(ConsoleSettings(), servers), hosts,  # type: ignore[arg-type]
                         containers=_Rows("ok"))  # type: ignore[arg-type]
    rules = service._store._rules
    assert rules["s0"] is rules["s1"] is rules["s2"]
    assert rules["own"] is not rules["s0"]
    assert rules["own"].match("deploy key rejected") is not None
    assert rules["s0"].match("deploy key rejected") is None
    assert [p.split(":")[0] for p in service.problems] == ["bad1", "bad2"]
    assert rules["bad1"].match("JWT expired") is not None
