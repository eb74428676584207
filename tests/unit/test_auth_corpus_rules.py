"""The built-in rules on real-world lines they were not written from: recall, false positives
and labels over tests/data/auth_corpus/, and redaction of every secret in redaction.txt.

The rules run as the log pipeline runs them (one block, with the redaction rewrite), so a
line the corpus holds is labelled here exactly as the logs pane would label it.
"""

from __future__ import annotations

import pytest

from console.engine.redact import REDACTED, redact, redact_line
from tests.corpus import RedactionLine, Score, load_corpus, load_redaction, score
from tests.support.corpus_rules import corpus_score, labels, pipeline_rules

RECALL_FLOOR = 0.98
LABEL_FLOOR = 0.98


@pytest.fixture(scope="module")
def result() -> Score:
    return corpus_score()


def _listed(items: list[str]) -> str:
    return "\n".join(f"  {item}" for item in items)


def test_recall_is_at_least_98_percent(result: Score) -> None:
    assert result.positives >= 300
    missed = [f"{c.product}: {c.expect}: {c.line[:140]}" for c in result.missed]
    assert result.recall >= RECALL_FLOOR, f"recall {result.recall:.1%}; missed:\n{_listed(missed)}"


def test_no_false_positive(result: Score) -> None:
    assert result.negatives >= 150
    wrong = [f"{c.product}: labelled {got}: {c.line[:140]}" for c, got in result.false_positives]
    assert not wrong, "lines that are not auth events were labelled:\n" + _listed(wrong)


def test_labels_agree_with_the_corpus(result: Score) -> None:
    wrong = [f"{c.product}: expected {c.expect}, got {got}: {c.line[:120]}"
             for c, got in result.mislabelled]
    assert result.label_accuracy >= LABEL_FLOOR, (
        f"labels right on {result.label_accuracy:.1%}:\n" + _listed(wrong))


def test_every_product_has_its_auth_events_found(result: Score) -> None:
    """A product whose every positive is missed would hide behind a good total."""
    found = {c.product for c in load_corpus() if c.positive} - {c.product for c in result.missed}
    with_positives = {c.product for c in load_corpus() if c.positive}
    assert len(result.products) >= 30
    assert found == with_positives


@pytest.mark.parametrize(("product", "fragment", "label"), [
    ("keycloak", "error=user_not_found", "failed_login"),
    ("django", "Unauthorized: /api/token/", "http_401"),
    ("jsonwebtoken", "secretOrPrivateKey must have a value", "secret_missing"),
    ("express_morgan_passport", "POST /api/login 401 12.345 ms", "http_401"),
    ("spring_security", "password does not match stored value", "failed_login"),
])
def test_the_lines_a_new_user_saw_missed_or_mislabelled(product: str, fragment: str,
                                                        label: str) -> None:
    corpus = [c for c in load_corpus() if c.product == product and fragment in c.line]
    assert corpus, f"the corpus has no {product} line with {fragment!r}"
    assert set(labels(corpus)) == {label}


def test_the_corpus_scores_a_classifier_that_finds_nothing_as_missing_everything() -> None:
    """The scoring itself can fail: with no labels, recall is 0 and nothing is labelled."""
    corpus = load_corpus()
    empty = score(corpus, [None] * len(corpus))
    assert empty.recall == 0 and not empty.false_positives
    everything = score(corpus, ["failed_login"] * len(corpus))
    assert len(everything.false_positives) == empty.negatives


# --------------------------------------------------------------------------- redaction


REDACTION = load_redaction()


@pytest.mark.parametrize("case", REDACTION, ids=[f"{i}" for i in range(len(REDACTION))])
def test_redaction_removes_the_secret_everywhere(case: RedactionLine) -> None:
    assert case.secret not in redact_line(case.line)
    assert case.secret not in redact(case.line)
    through = [case.line]
    pipeline_rules().classify_lines(through)
    assert case.secret not in through[0] and REDACTED[:-1] in through[0]


def test_redaction_keeps_an_image_pinned_by_digest_and_an_auth_line_as_they_are() -> None:
    for line in ["pulling docker.io/library/nginx:1.27@sha256:0f3c5bd4b4e1",
                 "2024-12-05 WARNING [AUTH] Login failed: invalid password for bob@x.io",
                 "GET /assets/app.js HTTP/1.1 200 from 172.18.0.1 (Asia/Tokyo)"]:
        assert redact_line(line) == line
