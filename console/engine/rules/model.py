"""The values rule sets are made of: a rule, its error, and a line rewrite (redaction)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from console.models import Severity

__all__ = ["LineRewrite", "Rule", "RuleError"]


class RuleError(ValueError):
    """A rule that cannot be used (bad regex, or one that matches every line)."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One auth-event rule.

    ``lowercase`` rules (the built-ins) are written in lower case and matched against the
    lowered line, which makes them case-insensitive without ``re.IGNORECASE``'s cost. Config
    patterns are taken as written, like ``grep -E``, unless they say ``(?i)`` themselves.
    ``products`` names the software whose real log lines the rule was checked against.
    ``tier`` decides between rules matching the same line: the lower tier labels it (a
    cause - ``jwt_expired`` - outranks a generic failure - ``failed_login`` - which
    outranks a status code - ``http_401``); within a tier, the rule whose match starts
    first, then the rule listed first. Config rules are tier 0.
    """

    name: str
    severity: Severity
    pattern: str
    description: str = ""
    lowercase: bool = False
    products: tuple[str, ...] = ()
    tier: int = 0


@dataclass(frozen=True, slots=True)
class LineRewrite:
    """A change applied, before matching, to the lines that may need it. The log pipeline
    uses it for redaction, so that finding secrets costs no scan of its own.

    ``triggers`` are lower-case literals: a line with none of them is never rewritten.
    ``patterns``, when given, are Hyperscan expressions over the lowered line of which every
    line that ``apply`` would change matches one (a sound prefilter; ``redact.PREFILTER``
    documents why each is). They run in the rules' own scan; a line is rewritten when it has
    a trigger and, if it is all ASCII, also a pattern match. Non-ASCII lines are rewritten
    on a trigger alone, as without patterns: case-insensitive matching equates ASCII letters
    with a few other characters (``ſ``, ``K``), which the patterns do not spell out.
    """

    triggers: tuple[str, ...]
    apply: Callable[[str], str]
    patterns: tuple[str, ...] = ()
