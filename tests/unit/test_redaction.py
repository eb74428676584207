"""Redaction: what ``redact`` removes, what it leaves, its cost, and that the log pipeline
applies it to every line it stores."""

from __future__ import annotations

import pytest

from console.engine.redact import redact
from tests.support.logs import make_log_service

REDACTED_CASES = [
    ("Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123", "abcdefghijklmnop"),
    ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNz"),
    ('{"email": "a@b", "password": "s3cr\\"et"}', "s3cr"),
    ("{'password': 'x9x9x9', 'a': 1}", "x9x9x9"),
    ("JWT_SECRET=abc123xyz DATABASE_URL=postgresql://crm:dbpass99@db/crm", "abc123xyz"),
    ("JWT_SECRET=abc123xyz DATABASE_URL=postgresql://crm:dbpass99@db/crm", "dbpass99"),
    ("GET /reset?token=tok777&x=1 HTTP/1.1", "tok777"),
    ("password: hunter2", "hunter2"),
    ('"client_secret": "cs-123456"', "cs-123456"),
    # the keys spelled api_key / private-key: the key words start with "api" and "private"
    ("x api_key = k1-secret-value", "k1-secret-value"),
    ("X_API_KEY=ak-4242 y", "ak-4242"),
    ("apikey=ak-4343", "ak-4343"),
    ("STRIPE_API-KEY=sk_live_77", "sk_live_77"),
    ("private_key=pk-0001 end", "pk-0001"),
    ("GET /v1?api_key=q-5555&page=2", "q-5555"),
    ("privatekey=pk-0002", "pk-0002"),
    ("X-Api-Key: hk-6161 sent", "hk-6161"),
    ("private-key:  pk-0003", "pk-0003"),
    # request headers as apps and proxies log them
    ("Authorization: Token drf-1234567", "drf-1234567"),
    ("proxy-authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpw"),
    ("headers: Cookie: session=sess-8080; csrf=c-1", "sess-8080"),
    ("Set-Cookie: sid=sid-9090; Path=/; HttpOnly", "sid-9090"),
    ("x-auth-token: xt-3131 next", "xt-3131"),
    ("X-Signing-Key: sg-2727", "sg-2727"),
]


@pytest.mark.parametrize(("raw", "gone"), REDACTED_CASES)
def test_redaction(raw: str, gone: str) -> None:
    out = redact(raw)
    assert gone not in out and "[redacted" in out


@pytest.mark.parametrize(("raw", "gone"), REDACTED_CASES)
def test_the_log_pipeline_redacts_what_redact_does(raw: str, gone: str) -> None:
    """Lines reach redaction only through the triggers of the rules' literal scan: a
    secret whose key has no trigger would be stored as it came."""
    service = make_log_service()
    service.feed("alpha", "c", ["before", raw, "after"])
    stored = [line.text for line in service.buffered()]
    assert stored[0] == "before" and stored[2] == "after"
    assert gone not in stored[1] and "[redacted" in stored[1]


@pytest.mark.parametrize("text", [
    "[AUTH] Invalid token: Signature verification failed",
    "[AUTH] Authorization header missing",
    "GET /api/v1/contacts 401 (no cookie)",
    "[AUTH] Login failed: Password mismatch for a@b",
    "Basic authentication required",
    "http://example.com/x",
])
def test_redaction_leaves_auth_messages_alone(text: str) -> None:
    assert redact(text) == text


def test_redaction_is_linear_on_hostile_lines() -> None:
    import time

    hostile = "password" + "=" * 16_000 + "token" * 3000
    start = time.perf_counter()
    redact(hostile)
    redact("authorization: " * 1000 + "cookie:" * 1000 + "x-key: " * 1000)
    redact("a" * 16_000 + "'" + "b" * 16_000)
    assert time.perf_counter() - start < 0.5
