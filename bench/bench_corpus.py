"""The built-in rules on the real-world auth corpus (tests/data/auth_corpus/): recall,
precision, labels, and which products they got wrong, so a regression shows in one line.

The corpus holds log lines of 30-odd products, each line sourced, labelled with the rule id
that should label it or ``none`` (the tricky negatives: 401 in a byte count, "token" in a
tokenizer, a successful login). The rules run as the log pipeline runs them (one block,
with the redaction rewrite, in Hyperscan). Baseline, same run: the same rules as POSIX ERE
run by ``grep -iE`` (as in benchmark (a)). Grep knows no tiers, so it says only found or
not; a line one finds and the other misses points at the Hyperscan translation (or at
``to_ere``), never at the corpus.

Figures: recall (target >= 0.98), false positives (target 0), label accuracy and
precision (reported), and the misses per product in the note.

    python -m bench.bench_corpus
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Any

from bench import figure
from bench.bench_rules import to_ere
from console.engine.rules import BUILTIN_RULES
from tests.corpus import Score, load_corpus, score
from tests.support.corpus_rules import labels

RECALL_TARGET = 0.98


def _grep_score() -> Score:
    """The corpus scored by ``grep -inE -f`` with the built-ins as POSIX ERE: a line it
    prints is labelled (with the expected id, so only found/missed counts)."""
    corpus = load_corpus()
    with tempfile.TemporaryDirectory() as tmp:
        lines = Path(tmp, "corpus.log")
        lines.write_text("\n".join(c.line for c in corpus) + "\n", encoding="utf-8")
        patterns = Path(tmp, "patterns")
        patterns.write_text("\n".join(to_ere(r) for r in BUILTIN_RULES) + "\n", encoding="utf-8")
        out = subprocess.run(["grep", "-inE", "-f", str(patterns), str(lines)],
                             capture_output=True, text=True, check=False).stdout
    hit = {int(row.split(":", 1)[0]) - 1 for row in out.splitlines() if row}
    return score(corpus, [(c.expect if c.positive else "any") if i in hit else None
                          for i, c in enumerate(corpus)])


def _misses(result: Score) -> str:
    per_product = result.misses_by_product()
    return ", ".join(f"{p} {n}" for p, n in per_product.items()) or "none"


def run() -> dict[str, Any]:
    corpus = load_corpus()
    ours = score(corpus, labels(corpus))
    grep = _grep_score()
    what = (f"{ours.lines} lines of {len(ours.products)} products: {ours.positives} auth "
            f"events, {ours.negatives} look-alikes")
    figures = [
        figure("corpus recall (auth events found)", round(ours.recall, 4), "",
               target=RECALL_TARGET, op=">=", baseline=round(grep.recall, 4),
               baseline_label="the rules by grep -iE",
               note=f"{what}; missed {len(ours.missed)}; wrong by product: {_misses(ours)}"),
        figure("corpus false positives", len(ours.false_positives), "lines", target=0,
               op="<=", baseline=len(grep.false_positives),
               baseline_label="the rules by grep -iE",
               note="; ".join(f"{c.product}: {got}: {c.line[:80]}"
                              for c, got in ours.false_positives) or "none"),
        figure("corpus precision", round(ours.precision, 4), "",
               baseline=round(grep.precision, 4), baseline_label="the rules by grep -iE"),
        figure("corpus labels as expected", round(ours.label_accuracy, 4), "",
               note="; ".join(f"{c.product}: {c.expect} -> {got}"
                              for c, got in ours.mislabelled) or "none"),
    ]
    return {"figures": figures, "products": list(ours.products),
            "misses_by_product": ours.misses_by_product()}


def main() -> None:
    for fig in run()["figures"]:
        print(f"{fig['name']}: {fig['value']} (baseline {fig['baseline']}) -> "
              f"{fig['verdict']}  [{fig['note']}]")


if __name__ == "__main__":
    main()
