"""Auth-event rules: which log lines matter during an auth incident, and how badly.

Every rule is an id, a severity and a regular expression. The built-in rules cover what the
common software prints when a login, a token, a secret or a credential fails; config rules
are added to them, and can disable or replace a built-in one by its id.

Built-in rules (ids are stable; the products are those whose real lines the rule was
checked against, ``tests/data/auth_corpus/``):

========================= ======== ====
id                        severity tier
========================= ======== ====
secret_missing            critical 0
account_locked            warning  0
password_hash_error       error    0
auth_service_unreachable  error    0
db_auth_failed            error    1
cloud_auth_failed         error    1
ssh_auth_failed           warning  1
jwt_expired               warning  1
jwt_bad_signature         error    1
jwt_invalid               warning  2
oauth_error               error    2
failed_login              warning  2
rate_limited              warning  1
http_401                  warning  3
http_403                  warning  3
upstream_error            error    3
========================= ======== ====

Products per rule: ``Rule.products`` in ``builtin.py``.

Renamed ids (``builtin.RENAMED``): ``missing_secret`` is ``secret_missing`` (any secret,
JWT ones included); ``password_mismatch``/``user_not_found`` are ``failed_login``;
``auth_service_refused`` is ``auth_service_unreachable``; ``bcrypt_error`` is
``password_hash_error``; ``bad_gateway``/``service_unavailable``/``connection_refused``
are ``upstream_error``.

How a block of lines is classified, and why this way
----------------------------------------------------
Running every rule on every line is what makes log tools fall behind during an attack,
when every line is an auth event. So the rules are compiled once into one Hyperscan
database (start-of-match mode: the label is the rule whose match starts earliest in the
line, ties to the rule listed first, exactly what one left-to-right alternation of all
rules gives). ``RuleSet.classify`` scans the lowered block once for every rule, the
redaction prefilter and the literals of any config rule left to ``re``; Python only picks
each line's earliest rule. Config rules are translated from ``re``'s own parse tree
(``translate``), so their meaning is ``re``'s; those Hyperscan cannot take exactly are
matched by ``re`` on the lines holding one of their required literals, and ``notes`` names
them at start-up.
"""

from __future__ import annotations

from console.engine.rules.builtin import BUILTIN_IDS, BUILTIN_RULES, RENAMED
from console.engine.rules.literals import literal_masks, required_literals
from console.engine.rules.model import LineRewrite, Rule, RuleError
from console.engine.rules.ruleset import RuleSet
from console.engine.rules.translate import Unsupported, to_hyperscan

__all__ = [
    "BUILTIN_IDS",
    "BUILTIN_RULES",
    "RENAMED",
    "LineRewrite",
    "Rule",
    "RuleError",
    "RuleSet",
    "Unsupported",
    "literal_masks",
    "required_literals",
    "to_hyperscan",
]
