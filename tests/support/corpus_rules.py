"""The built-in rules run over the auth corpus exactly as the log pipeline runs them: one
``RuleSet`` with the redaction rewrite, ``classify_lines`` over the whole corpus as a block."""

from __future__ import annotations

from console.engine.redact import PREFILTER, TRIGGERS, redact_line
from console.engine.rules import LineRewrite, RuleSet
from tests.corpus import CorpusLine, Score, load_corpus, score


def pipeline_rules() -> RuleSet:
    """The rule set a LogService builds from a config without rules of its own."""
    return RuleSet.default(LineRewrite(TRIGGERS, redact_line, PREFILTER))


def labels(corpus: list[CorpusLine], rules: RuleSet | None = None) -> list[str | None]:
    """The rule id each corpus line gets (None: not an auth event)."""
    found = dict((rules or pipeline_rules()).classify_lines([c.line for c in corpus]))
    return [found[i].name if i in found else None for i in range(len(corpus))]


def corpus_score() -> Score:
    corpus = load_corpus()
    return score(corpus, labels(corpus))
