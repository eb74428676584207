"""The built-in rules: ids, severities, the phrasings they match and the products checked.

Patterns are lower case (they run on the lowered line) and every alternative carries a
phrase of a few words that the product itself prints. Order matters only for ties: when
two rules match at the same position, the one listed first labels the line, so the
specific rules (a database's, a cloud SDK's, sshd's) come before the generic
``failed_login``. The table in the package docstring lists the same ids; a test keeps them
in step.
"""

from __future__ import annotations

from console.engine.rules.model import Rule
from console.models import Severity

__all__ = ["BUILTIN_IDS", "BUILTIN_RULES", "RENAMED"]

# a word's edge, for a phrase that must not run on into a longer word (written without
# \b, whose Unicode meaning Hyperscan does not share)
_END = r"(?:[^a-z0-9_][^\n]*$|$)"
_START = r"(?:^|[^a-z0-9_])"
# gaps between two phrases: a short one of printable ASCII (Hyperscan's start-of-match mode
# cannot hold a long bounded gap of any character), or the rest of the line
_GAP = r"[\t -~]{0,%d}?"
_ANY = r"[^\n]*?"


def _rule(name: str, severity: Severity, description: str, products: tuple[str, ...],
          *alternatives: str) -> Rule:
    return Rule(name, severity, "|".join(alternatives), description, lowercase=True,
                products=products)


_S = Severity
_SECRET_WORD = r"(?:secret|key|token|password|passwd|credentials?|_id|_url|_uri|dsn)"

BUILTIN_RULES: tuple[Rule, ...] = (
    _rule(
        "secret_missing", _S.CRITICAL,
        "start-up stops on a secret or setting that is not set (any secret, JWT ones too)",
        ("crm backend (incidents)", "jsonwebtoken", "Django", "Flask", "Rails", "Laravel",
         "Spring", "docker compose", "POSIX sh"),
        _SECRET_WORD + r"[a-z0-9_]* (?:is |was )?(?:not configured|not set|not defined|"
        r"undefined)" + _END,
        _SECRET_WORD + r"[a-z0-9_]* (?:is )?(?:missing|required)" + _END,
        r"runtimeerror:(?:not configured|required|missing)" + _END,
        r"runtimeerror:" + _ANY + r"[^a-z0-9_](?:not configured|required|missing)" + _END,
        r"keyerror: '[a-z0-9_]*(?:secret|key|token|password|_url)",
        r"startup (?:blocked|failed|aborted)",
        r"missing (?:required )?(?:secrets?|environment variables?|env vars?|"
        r"oauth credentials?)" + _END,
        r"secretorprivatekey must have a value",
        r"secret_key setting must not be empty",
        r"no secret key was set",
        r"missing `?secret_key_base",
        r"no application encryption key has been specified",
        r"could not resolve placeholder '[\t -&(-~]{0,80}(?:secret|key|password|token)",
        r"required variable [a-z0-9_]+ is missing a value",
        r"[a-z0-9_]*(?:secret|key|token|password)[a-z0-9_]*: parameter (?:null or )?not set",
    ),
    _rule(
        "db_auth_failed", _S.ERROR,
        "a database or cache refuses the app's credentials (a rotated secret)",
        ("PostgreSQL", "psycopg2", "asyncpg", "MySQL", "MariaDB", "MongoDB", "Redis",
         "redis-py", "ioredis", "SQL Server", "Oracle"),
        r"(?:password|ident|peer|md5|scram|ldap|cert|pam|radius) authentication failed "
        r"for user",
        r"no pg_hba\.conf entry for",
        r"fatal: +role \"[^\"\n]+\" does not exist",
        r"access denied for user '",
        r"authentication plugin '[^'\n]+' reported error",
        r"\"msg\":\"authentication failed\"",
        r"authenticationfailed",
        r"scram authentication failed",
        r"sasl " + _GAP % 40 + r"authentication failed",
        r"noauth authentication required",
        r"wrongpass",
        r"invalid username-password pair",
        r"err invalid password",
        r"called without any password configured",
        r"redis\.exceptions\.authenticationerror",
        r"login failed for user '",
        r"ora-01017",
    ),
    _rule(
        "cloud_auth_failed", _S.ERROR, "a cloud SDK's credentials are refused or absent",
        ("AWS (botocore, SDK for Go, JS)", "Google Cloud (google-auth)", "Azure (azure-identity)"),
        r"invalidclienttokenid", r"signaturedoesnotmatch", r"unrecognizedclientexception",
        r"invalidaccesskeyid", r"the security token included in the request is "
        r"(?:invalid|expired)",
        r"aws was not able to validate the provided access credentials",
        r"\(authfailure\)", r"expiredtoken(?:exception)?" + _END,
        r"the aws access key id you provided does not exist",
        r"unable to locate credentials",
        r"google\.auth\.exceptions\.[a-z]*error",
        r"could not (?:automatically determine|load the default) credentials",
        r"request had invalid authentication credentials",
        r"google\.api_core\.exceptions\.unauthenticated",
        r"clientauthenticationerror", r"aadsts[0-9]{5,}",
        r"defaultazurecredential failed", r"credential authentication unavailable",
        r"server failed to authenticate the request",
    ),
    _rule(
        "auth_service_refused", _S.ERROR, "the auth service cannot be reached",
        ("crm backend (incidents)",),
        r"(?:auth[ _-]service|authservice|authentication service)" + _GAP % 80 +
        r"(?:refused|unreachable|unavailable|failed|timed? ?out|error)",
    ),
    _rule(
        "upstream_error", _S.ERROR, "a proxy cannot reach its upstream",
        ("nginx", "Envoy", "HAProxy", "Caddy", "Traefik"),
        r"connect\(\) failed \([0-9]+: [^)\n]+\)",
        r"no live upstreams",
        r"upstream (?:timed out|prematurely closed|sent invalid|sent too big)",
        r"could not be resolved",
        r"host not found in upstream",
        r"while connecting to upstream",
        r"upstream connect error or disconnect",
        r"no healthy upstream",
        r"has no server available",
        r" is down, reason: layer[4-7]",
        r"dial tcp [\t -~]{1,80}: connect: connection refused",
    ),
    _rule(
        "bad_gateway", _S.ERROR, "HTTP 502 answered by a proxy",
        ("nginx", "Traefik"),
        r"\" 502 ", r"502 bad gateway",
    ),
    _rule(
        "service_unavailable", _S.ERROR, "HTTP 503 / 504",
        ("nginx",),
        r"\" 50[34] ", r"503 service unavailable", r"504 gateway time-?out",
    ),
    _rule(
        "account_locked", _S.WARNING, "an account locked or disabled after failed logins",
        ("Keycloak", "Spring Security", "ASP.NET Core Identity", "Devise", "pam_faillock"),
        r"type=\"?login_error" + _ANY + r"error=\"?user_temporarily_disabled",
        r"user_temporarily_disabled",
        r"account (?:is |has been |was )?(?:temporarily )?locked" + _END,
        r"user account is locked", r"lockedexception", r"locked out" + _END,
        r"your account is locked",
    ),
    _rule(
        "ssh_auth_failed", _S.WARNING, "sshd or PAM refused a login",
        ("OpenSSH sshd", "Linux-PAM (pam_unix)"),
        r"failed (?:password|publickey|keyboard-interactive[^ \n]*|none) for ",
        r"invalid user [^ \n]+ from",
        r"(?:connection closed|disconnected) (?:by|from) (?:authenticating|invalid) user",
        r"maximum authentication attempts exceeded",
        r"too many authentication failures",
        r"pam_[a-z0-9_]+\([a-z0-9_-]+:auth\): authentication failure",
        r"error: pam: authentication failure",
        r"permission denied \((?:publickey|password|keyboard-interactive)",
        r"user [^ \n]+ not allowed because",
    ),
    _rule(
        "jwt_expired", _S.WARNING, "a JWT past its expiry",
        ("PyJWT", "python-jose", "jsonwebtoken", "jose (node)", "golang-jwt", "jjwt",
         "Nimbus JOSE+JWT", "ASP.NET Core", "crm backend (incidents)"),
        r"jwt expired", r"token expired", r"token (?:has|is) expired", r"expired (?:jwt|token)",
        r"signature has expired", r"expiredsignatureerror", r"tokenexpirederror",
        r"expiredjwtexception", r"jwtexpired", r"\"exp\" claim timestamp check failed",
        r"securitytokenexpiredexception", r"lifetime validation failed",
    ),
    _rule(
        "jwt_bad_signature", _S.ERROR, "a JWT signed with another secret (secret drift)",
        ("PyJWT", "python-jose", "jsonwebtoken", "jose (node)", "golang-jwt", "jjwt",
         "Nimbus JOSE+JWT", "ASP.NET Core", "crm backend (incidents)"),
        r"signature verification failed", r"invalid signature", r"invalidsignatureerror",
        r"bad signature", r"signature mismatch", r"invalid (?:jwt|token) signature",
        r"signature is invalid", r"jwt signature does not match",
        r"signature validation failed", r"securitytokeninvalidsignatureexception",
        r"jwssignatureverificationfailed",
    ),
    _rule(
        "jwt_invalid", _S.WARNING, "a malformed or otherwise invalid JWT",
        ("PyJWT", "python-jose", "jsonwebtoken", "jose (node)", "golang-jwt", "jjwt",
         "Nimbus JOSE+JWT", "FastAPI", "crm backend (incidents)"),
        r"invalid (?:jwt|token)", r"jwt invalid", r"jwt is invalid", r"jwt malformed",
        r"malformed (?:jwt|token)", r"invalidtokenerror", r"jsonwebtokenerror",
        r"could not validate credentials", r"not enough segments", r"jwt must be provided",
        r"jwt (?:audience|issuer|id|subject) invalid", r"token is malformed",
        r"token contains an invalid number of segments", r"token is unverifiable",
        r"malformedjwtexception", r"unsupportedjwtexception", r"invalid jwt serialization",
        r"jwtclaimvalidationfailed", r"jwtinvalid", r"jwsinvalid",
        r"jwt\.exceptions\.decodeerror", r"invalid(?:audience|issuer)error",
        r"missing or malformed jwt",
    ),
    _rule(
        "oauth_error", _S.ERROR, "an OAuth or OpenID Connect flow failed",
        ("Keycloak", "Dex", "Authentik", "Auth0 SDK", "Okta SDK", "Spring Security OAuth2"),
        _START + r"oauth" + _GAP % 80 + r"(?:error|failed|invalid|denied|mismatch|missing)",
        r"invalid_grant", r"invalid_client", r"unauthorized_client", r"access_denied",
        r"redirect_uri_mismatch", r"unsupported_grant_type", r"invalid_scope",
    ),
    _rule(
        "failed_login", _S.WARNING, "a login attempt that failed (wrong password, no such user)",
        ("crm backend (incidents)", "Spring Security", "Keycloak", "Django", "Devise",
         "Laravel", "ASP.NET Core Identity", "passport", "Authentik", "Dex", "Gitea",
         "Grafana"),
        r"login (?:failed|failure|attempt failed|attempts failed)",
        r"failed (?:login|to log in|to login|to authenticate)",
        r"authentication (?:failed|failure)", r"invalid credentials", r"bad credentials",
        r"(?:invalid|incorrect|wrong) (?:username|email|user|login)(?: or |/)password",
        r"type=\"?login_error", r"login_failed", r"invalid login attempt",
        r"credentials do not match our records", r"failed authentication attempt",
        r"password mismatch", r"password (?:does not|doesn't|did not) match",
        r"(?:invalid|incorrect|wrong|bad) password",
        r"user not found", r"unknown user", r"no such user", r"failed to find user",
        r"user (?:does not|doesn't) exist",
    ),
    _rule(
        "http_401", _S.WARNING, "HTTP 401 Unauthorized",
        ("nginx", "Caddy", "Traefik", "HAProxy", "Envoy", "uvicorn", "gunicorn", "Django",
         "Rails", "morgan", "gin", "chi", "ASP.NET Core"),
        r"\" 401 ", r"401 unauthorized",
        r"(?:get|post|put|patch|delete|head|options) /[^ \n]* 401 ",
        r"\| 401 \|", r"\"status(?:_code)?\": ?401" + _END, r"status=401" + _END,
        r"[0-9]+/[0-9]+/[0-9]+/[0-9]+/[0-9]+ 401 ", r"unauthorized: /",
        r"request finished " + _ANY + r" 401 ",
    ),
    _rule(
        "http_403", _S.WARNING, "HTTP 403 Forbidden",
        ("nginx", "Caddy", "Traefik", "HAProxy", "Envoy", "uvicorn", "gunicorn", "Django",
         "crm backend (incidents)"),
        r"\" 403 ", r"403 forbidden", r"access forbidden", r"\[auth\] forbidden",
        r"(?:get|post|put|patch|delete|head|options) /[^ \n]* 403 ",
        r"\| 403 \|", r"\"status(?:_code)?\": ?403" + _END, r"status=403" + _END,
        r"[0-9]+/[0-9]+/[0-9]+/[0-9]+/[0-9]+ 403 ", r"forbidden: /",
    ),
    _rule(
        "rate_limited", _S.WARNING, "HTTP 429 / rate limiting",
        ("nginx", "crm backend (incidents)"),
        r"\" 429 ", r"too many requests",
        r"rate limit(?:ed| exceeded| reached)",
        r"limiting requests, excess", r"too many (?:login attempts|failed attempts|attempts)",
    ),
    _rule(
        "bcrypt_error", _S.ERROR, "password hashing failed (bcrypt)",
        ("crm backend (incidents)",),
        r"bcrypt" + _GAP % 60 + r"(?:error|failed|invalid|exception)", r"invalid salt",
    ),
    _rule(
        "connection_refused", _S.ERROR, "a service refused a connection",
        ("crm backend (incidents)", "httpx"),
        r"connection refused", r"econnrefused", r"errno 111" + _END,
    ),
)

BUILTIN_IDS: frozenset[str] = frozenset(rule.name for rule in BUILTIN_RULES)

# ids that earlier versions used: a config naming one means the rule it became
RENAMED: dict[str, str] = {
    "missing_secret": "secret_missing",
    "password_mismatch": "failed_login",
    "user_not_found": "failed_login",
}
