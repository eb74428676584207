"""Auth-event rules: which log lines matter during an auth incident, and how badly.

Every rule is an id, a severity and a regular expression. The built-in rules cover what the
common software prints when a login, a token, a secret or a credential fails; config rules
are added to them, and can disable or replace a built-in one by its id.

Built-in rules (ids are stable; the products are those whose real lines the rule was
checked against, ``tests/data/auth_corpus/``):

==================== ======== ===========================================================
id                   severity meaning (checked against)
==================== ======== ===========================================================
secret_missing       critical start-up stops on an unset secret: any secret, JWT ones too
                              (jsonwebtoken, Django, Flask, Rails, Laravel, Spring, compose)
db_auth_failed       error    a database or cache refuses the app's credentials (PostgreSQL,
                              MySQL/MariaDB, MongoDB, Redis, SQL Server, Oracle)
cloud_auth_failed    error    a cloud SDK's credentials are refused or absent (AWS, GCP,
                              Azure)
auth_service_refused error    the auth service cannot be reached (incidents)
upstream_error       error    a proxy cannot reach its upstream (nginx, Envoy, HAProxy,
                              Caddy, Traefik)
bad_gateway          error    HTTP 502 answered by a proxy (nginx, Traefik)
service_unavailable  error    HTTP 503 / 504 (nginx)
account_locked       warning  an account locked after failed logins (Keycloak, Spring,
                              ASP.NET Identity, Devise, pam_faillock)
ssh_auth_failed      warning  sshd or PAM refused a login (OpenSSH, pam_unix)
jwt_expired          warning  a JWT past its expiry (PyJWT, python-jose, jsonwebtoken, jose,
                              golang-jwt, jjwt, Nimbus, ASP.NET Core)
jwt_bad_signature    error    a JWT signed with another secret: secret drift (same libraries)
jwt_invalid          warning  a malformed or otherwise invalid JWT (same libraries, FastAPI)
oauth_error          error    an OAuth / OpenID Connect flow failed (Keycloak, Dex, Authentik,
                              Auth0, Okta, Spring OAuth2)
failed_login         warning  a failed login: wrong password, no such user (Spring, Keycloak,
                              Django, Devise, Laravel, ASP.NET Identity, passport, Authentik)
http_401             warning  HTTP 401 in an access log (nginx, Caddy, Traefik, HAProxy, Envoy,
                              uvicorn, gunicorn, Django, Rails, morgan, gin, ASP.NET Core)
http_403             warning  HTTP 403 in an access log (the same servers)
rate_limited         warning  HTTP 429 / rate limiting (nginx)
bcrypt_error         error    password hashing failed (incidents)
connection_refused   error    a service refused a connection (incidents, httpx)
==================== ======== ===========================================================

Renamed ids: ``missing_secret`` is ``secret_missing`` (it always meant any secret, JWT
ones included); ``password_mismatch`` and ``user_not_found`` are ``failed_login`` (a login
that failed, whatever the reason the product gives).

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
