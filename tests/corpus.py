"""The real-world auth-log corpus in tests/data/auth_corpus/, as data the tests can use.

Each product file holds log lines exactly as that product prints them, every line preceded by
a ``# source:`` comment (where the wording comes from: upstream file, docs page or public
issue) and an ``# expect:`` comment (the rule id that should label it, or ``none``). The
format, and what each label means, is in tests/data/auth_corpus/README.md. ``redaction.txt``
is separate: its lines carry a secret (``# secret:``) that redaction must remove.

The loader is strict on purpose: a line without a source or a label is a corpus bug, and it
is reported with its file and line number instead of being silently skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CORPUS_DIR = Path(__file__).parent / "data" / "auth_corpus"
REDACTION_FILE = "redaction.txt"

#: The label vocabulary (rule ids). README.md defines each one; a test keeps the two in step.
LABELS: frozenset[str] = frozenset(
    {
        "failed_login",
        "ssh_auth_failed",
        "account_locked",
        "db_auth_failed",
        "cloud_auth_failed",
        "jwt_expired",
        "jwt_bad_signature",
        "jwt_invalid",
        "secret_missing",
        "http_401",
        "http_403",
        "upstream_error",
        "auth_service_unreachable",
        "oauth_error",
        "rate_limited",
        "password_hash_error",
    }
)
NEGATIVE = "none"


class CorpusFormatError(ValueError):
    """A corpus file breaks the format (missing source/label, dangling comment, bad label)."""


@dataclass(frozen=True, slots=True)
class CorpusLine:
    """One log line of a product file, with where it comes from and its expected label."""

    product: str
    source: str
    expect: str
    line: str

    @property
    def positive(self) -> bool:
        """True when the line is an auth event (its label is a rule id, not ``none``)."""
        return self.expect != NEGATIVE


@dataclass(frozen=True, slots=True)
class RedactionLine:
    """One line of redaction.txt: a log line and the secret that must not survive redaction."""

    source: str
    secret: str
    line: str


def _parse(path: Path, keys: tuple[str, ...]) -> list[tuple[dict[str, str], str]]:
    """Pair every log line of ``path`` with the ``# key: value`` comments just above it.

    Other ``#`` lines are free comments; blank lines are ignored. Leading whitespace of a
    log line is part of the line (some products indent continuation lines)."""
    entries: list[tuple[dict[str, str], str]] = []
    pending: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        where = f"{path.name}:{number}"
        if not raw.strip():
            continue
        if raw.startswith("#"):
            key, sep, value = raw[1:].strip().partition(":")
            if sep and key in keys:
                if key in pending:
                    raise CorpusFormatError(f"{where}: second '# {key}:' before a log line")
                if not value.strip():
                    raise CorpusFormatError(f"{where}: empty '# {key}:'")
                pending[key] = value.strip()
            continue
        missing = [key for key in keys if key not in pending]
        if missing:
            raise CorpusFormatError(f"{where}: log line without '# {missing[0]}:'")
        entries.append((pending, raw))
        pending = {}
    if pending:
        raise CorpusFormatError(f"{path.name}: comments at the end with no log line after them")
    return entries


def load_corpus(directory: Path = CORPUS_DIR) -> list[CorpusLine]:
    """Every line of every product file (``<product>.txt``), in file order."""
    lines: list[CorpusLine] = []
    for path in sorted(directory.glob("*.txt")):
        if path.name == REDACTION_FILE:
            continue
        for meta, line in _parse(path, ("source", "expect")):
            expect = meta["expect"]
            if expect != NEGATIVE and expect not in LABELS:
                raise CorpusFormatError(f"{path.name}: unknown label {expect!r} for {line!r}")
            lines.append(CorpusLine(path.stem, meta["source"], expect, line))
    return lines


def load_redaction(directory: Path = CORPUS_DIR) -> list[RedactionLine]:
    """Every line of redaction.txt with the secret it carries."""
    path = directory / REDACTION_FILE
    lines: list[RedactionLine] = []
    for meta, line in _parse(path, ("source", "secret")):
        if meta["secret"] not in line:
            raise CorpusFormatError(f"{path.name}: secret {meta['secret']!r} is not in {line!r}")
        lines.append(RedactionLine(meta["source"], meta["secret"], line))
    return lines
