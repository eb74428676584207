"""The real-world auth corpus keeps its format: sourced, labelled, big enough, no duplicates,
no real secrets. (Whether the rules label it right is the rules' own test.)"""

from __future__ import annotations

import base64
import binascii
import re
from collections import Counter
from pathlib import Path

import pytest

from tests.corpus import (
    CORPUS_DIR,
    LABELS,
    NEGATIVE,
    CorpusFormatError,
    CorpusLine,
    load_corpus,
    load_redaction,
)

# The products issue 14 names (file stems); more may exist.
REQUIRED_PRODUCTS = {
    "nginx",
    "caddy",
    "traefik",
    "haproxy",
    "envoy",
    "uvicorn_fastapi",
    "gunicorn",
    "django",
    "flask_login",
    "rails_devise",
    "laravel",
    "spring_security",
    "aspnetcore",
    "express_morgan_passport",
    "go_jwt_middleware",
    "pyjwt",
    "python_jose",
    "jsonwebtoken",
    "jose_node",
    "golang_jwt",
    "jjwt",
    "nimbus_jose_jwt",
    "keycloak",
    "authentik",
    "dex",
    "auth0_okta_sdk",
    "postgresql",
    "mysql_mariadb",
    "mongodb",
    "redis",
    "sshd",
    "pam",
    "aws_sdk",
    "gcp_auth",
    "azure_identity",
    "incidents",
}

# Documented example credentials, the only ones allowed anywhere in the corpus.
AWS_EXAMPLE_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
JWT_IO_EXAMPLE = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9l"
    "IiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
RFC7617_BASIC = "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="  # Aladdin:open sesame
# a source names a repository, a docs host + path, a public issue or an incident write-up
LOCATOR = re.compile(r"github\.com/|\.(?:org|io|net|com|se) /|incident|issue 14")
MASKS = {"[FILTERED]", "REDACTED", "[REDACTED]", "<redacted>"}

_AKIA = re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")
_AWS_SECRET = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_URL_PASSWORD = re.compile(r"\b[a-z][a-z0-9+.-]*:/{0,2}[^/\s:@'\"]+:([^@\s/'\"]+)@")
_BASIC = re.compile(r"\bBasic ([A-Za-z0-9+/=]{8,})")
_BEARER = re.compile(r"\bBearer ([A-Za-z0-9._~+/-]{16,}=*)")
_KEY_VALUE = re.compile(
    r"(?i)(?<!using )\b(?:password|client_secret|api_key|apikey|secret_access_key|private_key)"
    r"\b[\"']?\s*(?:=>|[:=])\s*[\"']?([^\"'\s,;}&]+)"
)


def _placeholder(value: str) -> bool:
    return "EXAMPLE" in value or value in MASKS or set(value) <= {"*"}


def real_looking_secrets(line: str) -> list[str]:
    """Credentials in ``line`` that are not documented examples or obvious placeholders."""
    found = [k for k in _AKIA.findall(line) if k != AWS_EXAMPLE_KEY_ID]
    found += [
        s
        for s in _AWS_SECRET.findall(line)
        if "EXAMPLE" not in s
        and re.search(r"[a-z]", s)
        and re.search(r"[A-Z]", s)
        and re.search(r"[0-9]", s)
        and "/" in s
    ]
    found += [t for t in _JWT.findall(line) if t != JWT_IO_EXAMPLE]
    found += [p for p in _URL_PASSWORD.findall(line) if not _placeholder(p)]
    for value in _BASIC.findall(line):
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            decoded = ""
        if value != RFC7617_BASIC and "EXAMPLE" not in decoded:
            found.append(value)
    found += [t for t in _BEARER.findall(line) if t != JWT_IO_EXAMPLE and "EXAMPLE" not in t]
    found += [v for v in _KEY_VALUE.findall(line) if not _placeholder(v)]
    return found


@pytest.fixture(scope="module")
def corpus() -> list[CorpusLine]:
    return load_corpus()


def test_corpus_is_big_enough_and_covers_the_products(corpus: list[CorpusLine]) -> None:
    positives = [c for c in corpus if c.positive]
    negatives = [c for c in corpus if not c.positive]
    products = {c.product for c in corpus}
    assert len(positives) >= 300, len(positives)
    assert len(negatives) >= 150, len(negatives)
    assert len(products) >= 30, sorted(products)
    assert products >= REQUIRED_PRODUCTS, sorted(REQUIRED_PRODUCTS - products)


def test_every_line_has_a_source_and_a_known_label(corpus: list[CorpusLine]) -> None:
    for entry in corpus:
        assert entry.line.strip(), entry
        assert entry.expect == NEGATIVE or entry.expect in LABELS, entry
        assert LOCATOR.search(entry.source), entry


def test_every_label_is_used_and_documented(corpus: list[CorpusLine]) -> None:
    used = Counter(c.expect for c in corpus)
    assert set(LABELS) <= set(used), sorted(set(LABELS) - set(used))
    readme = (CORPUS_DIR / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([a-z0-9_]+)` \|", readme, flags=re.M))
    assert documented == set(LABELS) | {NEGATIVE}


def test_no_line_appears_twice(corpus: list[CorpusLine]) -> None:
    lines = [c.line for c in corpus] + [r.line for r in load_redaction()]
    twice = [line for line, n in Counter(lines).items() if n > 1]
    assert not twice, twice


def test_no_real_looking_secret_anywhere(corpus: list[CorpusLine]) -> None:
    leaks = {c.line: s for c in corpus if (s := real_looking_secrets(c.line))}
    leaks |= {r.line: s for r in load_redaction() if (s := real_looking_secrets(r.line))}
    assert not leaks, leaks


@pytest.mark.parametrize(
    "line",
    [
        "AWS_ACCESS_KEY_ID=AKIAZ7QWERTYUIOPASDF",
        "aws_secret_access_key = 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",
        "postgres://app:hunter2@db:5432/app",
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJlLW5vdC1yZWFs",
        "Authorization: Basic dXNlcjpodW50ZXIy",
        "password=hunter2 host=db",
    ],
)
def test_the_secret_check_catches_real_looking_credentials(line: str) -> None:
    assert real_looking_secrets(line)


def test_redaction_lines_carry_the_secret_kinds_redaction_must_handle() -> None:
    entries = load_redaction()
    assert len(entries) >= 20
    assert all(e.secret in e.line for e in entries)
    assert any(re.search(r"://[^/\s:@]+:[^@\s]+@", e.line) for e in entries), "a DSN"
    assert any("Bearer " + e.secret in e.line for e in entries), "a Bearer header"
    assert any("Basic " + e.secret in e.line for e in entries), "a Basic header"
    assert any(e.secret == AWS_EXAMPLE_KEY_ID for e in entries), "an AWS key id"
    assert any("EXAMPLEKEY" in e.secret for e in entries), "an AWS secret key"


def _write(tmp_path: Path, text: str, name: str = "demo.txt") -> Path:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_loader_keeps_leading_whitespace_and_skips_free_comments(tmp_path: Path) -> None:
    text = "# header: about this file\n\n# source: s\n# expect: none\n\t- indented line\n"
    [entry] = load_corpus(_write(tmp_path, text))
    assert (entry.product, entry.source, entry.expect, entry.line) == (
        "demo",
        "s",
        "none",
        "\t- indented line",
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# source: s\nline without a label\n", "without '# expect:'"),
        ("# expect: none\nline without a source\n", "without '# source:'"),
        ("# source: s\n# expect: no_such_label\nsome line\n", "unknown label"),
        ("# source: s\n# source: t\n# expect: none\nline\n", "second '# source:'"),
        ("# source: s\n# expect: none\n", "no log line after them"),
        ("# source:\n# expect: none\nline\n", "empty '# source:'"),
    ],
)
def test_loader_rejects_broken_files(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(CorpusFormatError, match=re.escape(message)):
        load_corpus(_write(tmp_path, text))


def test_redaction_loader_rejects_a_secret_not_in_its_line(tmp_path: Path) -> None:
    text = "# source: s\n# secret: not-there-EXAMPLE\nline with nothing\n"
    with pytest.raises(CorpusFormatError, match="is not in"):
        load_redaction(_write(tmp_path, text, "redaction.txt"))
