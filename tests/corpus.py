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


@dataclass(frozen=True, slots=True)
class Score:
    """How a classifier did on the corpus: every positive it missed, every negative it
    labelled, and every positive it labelled with another rule than the corpus expects."""

    lines: int
    positives: int
    negatives: int
    products: tuple[str, ...]
    missed: tuple[CorpusLine, ...]
    false_positives: tuple[tuple[CorpusLine, str], ...]
    mislabelled: tuple[tuple[CorpusLine, str], ...]

    @property
    def recall(self) -> float:
        """Share of the auth events found (with any label)."""
        return (self.positives - len(self.missed)) / self.positives

    @property
    def precision(self) -> float:
        """Share of the lines labelled that are auth events."""
        found = self.positives - len(self.missed)
        return found / (found + len(self.false_positives)) if found else 0.0

    @property
    def label_accuracy(self) -> float:
        """Share of the auth events labelled with the expected rule id."""
        return (self.positives - len(self.missed) - len(self.mislabelled)) / self.positives

    def misses_by_product(self) -> dict[str, int]:
        """Product -> lines it got wrong (missed, false positive or mislabelled)."""
        counts: dict[str, int] = {}
        for line in [*self.missed, *(c for c, _ in self.false_positives),
                     *(c for c, _ in self.mislabelled)]:
            counts[line.product] = counts.get(line.product, 0) + 1
        return dict(sorted(counts.items()))


def score(corpus: list[CorpusLine], labels: list[str | None]) -> Score:
    """``labels[i]`` is the rule id given to ``corpus[i]``, or None for no auth event."""
    missed: list[CorpusLine] = []
    false_positives: list[tuple[CorpusLine, str]] = []
    mislabelled: list[tuple[CorpusLine, str]] = []
    for line, got in zip(corpus, labels, strict=True):
        if line.positive and got is None:
            missed.append(line)
        elif not line.positive and got is not None:
            false_positives.append((line, got))
        elif line.positive and got != line.expect:
            assert got is not None
            mislabelled.append((line, got))
    positives = sum(1 for line in corpus if line.positive)
    return Score(len(corpus), positives, len(corpus) - positives,
                 tuple(sorted({line.product for line in corpus})), tuple(missed),
                 tuple(false_positives), tuple(mislabelled))
