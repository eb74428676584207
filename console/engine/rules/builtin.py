"""The built-in rules: ids, severities, the phrasings they match and the products checked.

Patterns are lower case (they run on the lowered line) and every alternative is a phrase
the product itself prints: its message text, its exception class, its event type. When
several rules match one line, the lowest ``tier`` labels it - the cause over the symptom:
a locked account or a missing secret (0) over a database's, a cloud SDK's, sshd's or a
JWT library's specific refusal (1), over a generic failed login, invalid JWT or OAuth
error (2), over an HTTP status or a proxy's upstream failure (3). Within a tier the match
that starts first wins, then the rule listed first. The table in the package docstring
lists the same ids; a test keeps them in step.
"""

from __future__ import annotations

from console.engine.rules.model import Rule
from console.models import Severity

__all__ = ["BUILTIN_IDS", "BUILTIN_RULES", "RENAMED"]

# a word's end, for a phrase that must not run on into a longer word (written without
# \b, whose Unicode meaning Hyperscan does not share)
_END = r"(?:[^a-z0-9_][^\n]*$|$)"
_START = r"(?:^|[^a-z0-9_.])"
# gaps between two phrases: a short one of printable ASCII (a bounded gap of any character
# is not allowed in the ASCII byte patterns), or the rest of the line
_GAP = r"[\t -~]{0,%d}?"
_ANY = r"[^\n]*?"
_METHOD = r"(?:get|post|put|patch|delete|head|options)"
_STATUS_PATH = _METHOD + r" /[^ \n]*(?: http/[0-9.]+)? "  # morgan, gin-less Go loggers
_HAPROXY_TIMERS = r"-?[0-9]+/-?[0-9]+/-?[0-9]+/-?[0-9]+/[0-9]+ "


def _rule(name: str, severity: Severity, tier: int, description: str,
          products: tuple[str, ...], *alternatives: str) -> Rule:
    return Rule(name, severity, "|".join(alternatives), description, lowercase=True,
                products=products, tier=tier)


def _status(code: str) -> tuple[str, ...]:
    """An HTTP status as access logs and request loggers print it."""
    return (
        r"http/[0-9.]+\" " + code + " ",  # nginx, Apache, Traefik, uvicorn, Envoy, gunicorn
        _STATUS_PATH + code + " ",  # morgan: POST /api/login 401 12.345 ms
        r"\| " + code + r" \|",  # gin: | 401 |
        r"\"status(?:_code)?\": ?" + code + _END,  # Caddy, echo, JSON loggers
        r"status=" + code + _END,  # logfmt
        _HAPROXY_TIMERS + code + " ",  # HAProxy: Tq/Tw/Tc/Tr/Tt status
        r"request finished [^\n]* - " + code + " ",  # ASP.NET Core hosting
        r"request finished in [0-9.]+ms " + code + " ",
        r"request failed with status code " + code + _END,  # axios
        r"completed " + code + " ",  # Rails: Completed 401 Unauthorized in 3ms
        r"responding with " + code + " status code",  # Spring Security
    )


_S = Severity
# an environment-variable-like secret name (JWT_SECRET, ADMIN_PRIVATE_KEY, DATABASE_URL)
_SECRET_NAME = (r"(?:[a-z0-9_]*_(?:secret|key|token|password|passwd|credentials?|id|url|uri|dsn)"
                r"|(?:secret|key|token|password)_[a-z0-9_]+)")

BUILTIN_RULES: tuple[Rule, ...] = (
    _rule(
        "secret_missing", _S.CRITICAL, 0,
        "start-up stops on a secret that is unset, empty or unusable (any secret, JWT ones)",
        ("crm backend (incidents)", "Django", "Flask", "Rails", "Laravel", "jsonwebtoken",
         "jjwt", "Nimbus JOSE+JWT", "go-jwt-middleware", "docker compose", "POSIX sh"),
        _SECRET_NAME + r" (?:is |was )?(?:not configured|not set|not defined|undefined|"
        r"missing|required|empty)" + _END,
        r"runtimeerror:(?:not configured|required|missing)" + _END,
        r"runtimeerror:" + _ANY + r"[^a-z0-9_](?:not configured|required|missing)" + _END,
        r"keyerror: '[a-z0-9_]*(?:secret|key|token|password|_url)",
        r"startup (?:blocked|failed|aborted)",
        r"missing (?:required )?(?:secrets?|environment variables?|env vars?|"
        r"oauth credentials?)" + _END,
        r"secretorprivatekey must have a value", r"secret or public key must be provided",
        r"secret_key setting must not be empty", r"no secret key was set",
        r"secret key is required", r"requires (?:a )?signing key",
        r"missing `?secret_key_base", r"no application encryption key has been specified",
        r"missingappkeyexception", r"weakkeyexception", r"no jws key selector is configured",
        r"could not resolve placeholder '[\t -&(-~]{0,80}(?:secret|key|password|token)",
        r"required variable [a-z0-9_]+ is missing a value",
        r"[a-z0-9_]*(?:secret|key|token|password)[a-z0-9_]*: parameter (?:null or )?not set",
    ),
    _rule(
        "account_locked", _S.WARNING, 0,
        "an account locked, disabled or expired, usually after repeated failures",
        ("Keycloak", "Spring Security", "Auth0", "OpenSSH sshd", "pam_faillock", "pam_unix"),
        r"error=\"?user_(?:temporarily_)?disabled",
        r"account (?:is |has been |was )?(?:temporarily )?(?:locked|disabled|suspended|"
        r"blocked)" + _END,
        r"user account is (?:locked|disabled|expired)", r"lockedexception",
        r"disabledexception", r"accountexpiredexception", r"locked out" + _END,
        r"user is blocked", r"\"error\": ?\"too_many_attempts\"",
        r"\(account expired\)", r"account [^ \n]+ has expired",
    ),
    _rule(
        "password_hash_error", _S.ERROR, 0,
        "password verification itself failed (bcrypt: a corrupt hash, an invalid salt)",
        ("crm backend (incidents)",),
        r"bcrypt" + _GAP % 60 + r"(?:error|failed|invalid|exception)", r"invalid salt",
    ),
    _rule(
        "auth_service_unreachable", _S.ERROR, 0,
        "the app, or a proxy's forward auth, cannot reach the auth service it delegates to",
        ("crm backend (incidents)", "Traefik forward auth", "Dex LDAP connector"),
        r"(?:auth[ _-]service|authservice|authentication service)" + _GAP % 80 +
        r"(?:refused|unreachable|unavailable|failed|timed? ?out|error)",
        r"error calling https?://[^ \n]*(?:auth|verify)",
        r"failed to connect: ldap",
    ),
    _rule(
        "db_auth_failed", _S.ERROR, 1,
        "a database or cache refuses the app's credentials (a rotated secret)",
        ("PostgreSQL", "Prisma", "MySQL", "MariaDB", "MongoDB", "pymongo", "Redis",
         "redis-py", "ioredis", "SQL Server", "Oracle"),
        r"(?:password|ident|peer|md5|scram|ldap|cert|pam|radius) authentication failed "
        r"for user",
        r"no pg_hba\.conf entry for", r"pg_hba\.conf rejects connection",
        r"(?:fatal|detail): +role \"[^\"\n]+\" does not exist",
        r"detail: +password does not match for user",
        r"detail: +user \"[^\"\n]+\" has an expired password",
        r"authentication failed against database server",
        r"access denied for user '", r"is not allowed to connect to this (?:mysql|mariadb)",
        r"authentication plugin '[^'\n]+' reported error",
        r"\"msg\":\"authentication failed\"", r"codename['\"]?: ?['\"]authenticationfailed",
        r"\"error\":\"authenticationfailed", r"mongo[a-z]*error: authentication failed",
        r"(?:db|database) connection failed: authentication failed",
        r"scram authentication failed", r"sasl " + _GAP % 40 + r"authentication failed",
        r"noauth authentication required", r"wrongpass", r"invalid username-password pair",
        r"err invalid password", r"called without any password configured",
        r"redis\.exceptions\.authenticationerror", r"login failed for user '", r"ora-01017",
    ),
    _rule(
        "cloud_auth_failed", _S.ERROR, 1,
        "a cloud SDK's credentials are rejected, expired, partial or not found",
        ("AWS (botocore, CLI, SDK for Go, JS)", "Google Cloud (google-auth, gcloud)",
         "Azure (azure-identity)"),
        r"invalidclienttokenid", r"signaturedoesnotmatch", r"unrecognizedclientexception",
        r"invalidaccesskeyid", r"invalidsignatureexception",
        r"the security token included in the request is (?:invalid|expired)",
        r"aws was not able to validate the provided access credentials",
        r"\(authfailure\)", r"expiredtoken(?:exception)?" + _END,
        r"the aws access key id you provided does not exist",
        r"the request signature we calculated does not match",
        r"unable to locate credentials", r"botocore\.exceptions\.[a-z]*credential[a-z]*error",
        r"partialcredentialserror", r"nocredentialserror",
        r"google\.auth\.exceptions\.[a-z]*error", r"refresherror: \(",
        r"defaultcredentialserror",
        r"could not (?:automatically determine|load the default) credentials",
        r"problem refreshing your current auth tokens",
        r"request had invalid authentication credentials",
        r"google\.api_core\.exceptions\.unauthenticated",
        r"clientauthenticationerror", r"aadsts[0-9]{5,}", r"azure\.identity\.[a-z]*exception",
        r"defaultazurecredential failed", r"credential authentication (?:unavailable|failed)",
        r"credential\.get_?token was unable to retrieve",
        r"server failed to authenticate the request",
    ),
    _rule(
        "ssh_auth_failed", _S.WARNING, 1,
        "sshd (or PAM's sshd service) refused an authentication",
        ("OpenSSH sshd", "Linux-PAM (pam_unix)"),
        r"failed (?:password|publickey|keyboard-interactive[^ \n]*|none) for ",
        r"invalid user [^ \n]+ from",
        r"(?:connection closed|disconnected) (?:by|from) (?:authenticating|invalid) user",
        r"maximum authentication attempts exceeded", r"too many authentication failures",
        r"pam_[a-z0-9_]+\(sshd:auth\): (?:authentication failure|check pass; user unknown)",
        r"error: pam: authentication failure",
        r"permission denied \((?:publickey|password|keyboard-interactive)",
        r"user [^ \n]+ (?:from [^ \n]+ )?not allowed because",
        r"root login refused from", r"authentication refused: bad ownership",
    ),
    _rule(
        "jwt_expired", _S.WARNING, 1, "a JWT past its expiry",
        ("PyJWT", "python-jose", "jsonwebtoken", "jose (node)", "golang-jwt", "jjwt",
         "Nimbus JOSE+JWT", "Spring Security", "ASP.NET Core", "Envoy jwt_authn",
         "echo-jwt", "crm backend (incidents)"),
        r"jwt expired", r"token expired", r"token (?:has|is) expired",
        r"(?:^|[^ \n]|[^r\n] )expired (?:jwt|token)",  # not echo's "invalid or expired jwt"
        r"jwt is expired", r"signature has expired", r"expiredsignatureerror",
        r"tokenexpirederror", r"expiredjwtexception", r"jwtexpired",
        r"\"exp\" claim timestamp check failed", r"securitytokenexpiredexception",
        r"lifetime validation failed",
    ),
    _rule(
        "jwt_bad_signature", _S.ERROR, 1, "a JWT signed with another secret (secret drift)",
        ("PyJWT", "python-jose", "jsonwebtoken", "jose (node)", "golang-jwt", "jjwt",
         "Nimbus JOSE+JWT", "ASP.NET Core", "echo-jwt", "crm backend (incidents)"),
        r"signature verification failed", r"invalid signature", r"invalidsignatureerror",
        r"bad signature", r"signature mismatch", r"invalid (?:jwt|token) signature",
        r"signature is invalid(?:[^:\n][^\n]*$|$)", r"jwt signature does not match",
        r"signature validation failed", r"securitytokeninvalidsignatureexception",
        r"jwssignatureverificationfailed",
    ),
    _rule(
        "jwt_invalid", _S.WARNING, 2,
        "any other JWT rejection: malformed, missing, wrong aud/iss/nbf, disallowed algorithm",
        ("PyJWT", "python-jose", "jsonwebtoken", "express-jwt", "jose (node)", "golang-jwt",
         "go-jwt-middleware", "echo-jwt", "jjwt", "Nimbus JOSE+JWT", "Spring Security",
         "ASP.NET Core", "Envoy jwt_authn", "Okta JWT verifier", "crm backend (incidents)"),
        r"invalid jwt", r"invalid token[ :]", r"jwt invalid", r"jwt is invalid",
        r"jwt was invalid", r"jwt malformed",
        r"malformed (?:jwt|token)", r"invalidtokenerror", r"jsonwebtokenerror",
        r"could not validate credentials", r"not enough segments", r"jwt must be provided",
        r"jwt (?:audience|issuer|id|subject) invalid", r"jwt not active", r"notbeforeerror",
        r"token is malformed", r"token contains an invalid number of segments",
        r"token is unverifiable", r"token is not valid yet", r"token is not yet valid",
        r"token has invalid (?:claims|audience|issuer)", r"signing method [a-z0-9]+ is invalid",
        r"malformedjwtexception", r"unsupportedjwtexception", r"prematurejwtexception",
        r"incorrectclaimexception", r"missingclaimexception", r"invalid jwt serialization",
        r"jwtclaimvalidationfailed", r"jwtinvalid", r"jwsinvalid", r"jwksnomatchingkey",
        r"jwt\.exceptions\.(?:decode|invalid[a-z]*|immaturesignature|missingrequiredclaim)error",
        r"jose\.exceptions\.(?:jws|jwt|jwk|jwe)(?:claims)?error",
        r"badjwtexception", r"badjoseexception", r"jwtvalidationexception",
        r"securitytoken[a-z]*exception", r"idx1[0-9]{4}: ",
        r"was not authenticated\. failure message", r"failed to validate the token",
        r"jwt is not well formed", r"failed to authenticate since (?:the )?jwt",
        r"missing or malformed jwt", r"jwt validation failed", r"failed to decode jwt",
        r"jwt missing", r"jwt is missing", r"failed to extract token",
        r"(?:verification|authentication) completed with: jwt ",
        r"unauthorizederror: ", r"no authorization token was found",
        r"alg value is not allowed", r"error decoding token",
    ),
    _rule(
        "oauth_error", _S.ERROR, 2, "an OAuth or OpenID Connect flow, or an IdP API call, failed",
        ("Keycloak", "Dex", "Authentik", "Auth0 SDK", "Okta SDK"),
        _START + r"oauth2?(?: |: |_)" + _GAP % 60 +
        r"(?:error|failed|invalid|denied|mismatch|missing)",
        r"invalid_grant", r"invalid_client", r"unauthorized_client", r"access_denied",
        r"redirect_uri_mismatch", r"unsupported_grant_type", r"invalid_scope",
        r"type=\"?(?:code_to_token|refresh_token|client_login|token_exchange|"
        r"introspect_token|userinfo_request)_error",
        r"type=\"?login_error" + _ANY + r"error=\"?(?:invalid_redirect_uri|client_not_found|"
        r"invalid_client|invalid_request)",
        r"invalid client_id", r"failed to authenticate\" err=\"(?:oidc|oauth2?|saml)",
        r"oktaapierror", r"errorcode: e0000011",
    ),
    _rule(
        "failed_login", _S.WARNING, 2,
        "a login attempt that failed (wrong password, unknown user, bad credentials)",
        ("crm backend (incidents)", "Spring Security", "Keycloak", "Auth0", "Authentik",
         "Dex", "nginx auth_basic", "PAM (sudo, su, login)", "Gitea", "Grafana"),
        r"login (?:failed|failure|attempt failed|attempts failed)",
        r"failed (?:login|to log in|to login|to authenticate)",
        r"authentication (?:failed|failure)", r"invalid credentials", r"bad credentials",
        r"(?:invalid|incorrect|wrong) (?:username|email|user|login)(?: or |/)password",
        r"\"error\": ?\"invalid_grant\", ?\"error_description\": ?\"wrong",
        r"type=\"?login_error", r"login_failed", r"invalid login attempt",
        r"credentials do not match our records", r"failed authentication attempt",
        r"password mismatch", r"password (?:does not|doesn't|did not) match",
        r"(?:invalid|incorrect|wrong|bad) password",
        r"user not found", r"unknown user", r"no such user", r"failed to find user",
        r"user (?:does not|doesn't) exist", r"user \"[^\"\n]+\" was not found in \"",
        r"auth could not identify password for",
    ),
    _rule(
        "rate_limited", _S.WARNING, 1, "login or API requests throttled (HTTP 429)",
        ("nginx limit_req", "crm backend (incidents)"),
        *_status("429"), r"too many requests", r"rate limit(?:ed| exceeded| reached)",
        r"limiting requests, excess", r"too many (?:login attempts|failed attempts|attempts)",
    ),
    _rule(
        "http_401", _S.WARNING, 3, "HTTP 401 / an authentication challenge",
        ("nginx", "Caddy", "Traefik", "HAProxy", "Envoy", "uvicorn", "gunicorn", "Django",
         "Werkzeug", "Rails", "morgan", "gin", "echo", "ASP.NET Core", "axios"),
        *_status("401"), r"401 unauthorized", r"unauthorized: /",
        r"authenticationscheme: [^ \n]+ was challenged",
        r"authorization failed\. these requirements were not met: "
        r"denyanonymousauthorizationrequirement",
    ),
    _rule(
        "http_403", _S.WARNING, 3, "HTTP 403 / an authorization refusal",
        ("nginx", "Caddy", "Traefik", "HAProxy", "Envoy", "uvicorn", "gunicorn", "Django",
         "Spring Security", "ASP.NET Core", "crm backend (incidents)"),
        *_status("403"), r"403 forbidden", r"access forbidden", r"\[auth\] forbidden",
        r"forbidden(?: \([^\n]*\))?: /", r"authenticationscheme: [^ \n]+ was forbidden",
        r"authorization failed\. these requirements were not met",
        r"directory index of \"[^\"\n]*\" is forbidden", r"http403forbiddenentrypoint",
    ),
    _rule(
        "upstream_error", _S.ERROR, 3,
        "a proxy or client cannot reach the backend (502/503/504, connection refused)",
        ("nginx", "Envoy", "HAProxy", "Caddy", "Traefik", "uvicorn", "Go httputil", "gin",
         "morgan", "axios", "httpx"),
        r"connect\(\) failed \([0-9]+: [^)\n]+\)", r"no live upstreams",
        r"upstream (?:timed out|prematurely closed|sent invalid|sent too big)",
        r"upstream server temporarily disabled", r"could not be resolved",
        r"host not found in upstream", r"while connecting to upstream",
        r"upstream connect error or disconnect", r"no healthy upstream",
        r"no upstreams available", r"has no server available", r" is down, reason: layer[4-7]",
        r"dial tcp [\t -~]{1,80}: connect: connection refused", r"dial tcp: lookup ",
        r"http: proxy error: ",
        *_status("50[234]"), r"502 bad gateway", r"503 service unavailable",
        r"504 gateway time-?out", r"connection refused", r"econnrefused",
        r"errno 111" + _END,
    ),
)

BUILTIN_IDS: frozenset[str] = frozenset(rule.name for rule in BUILTIN_RULES)

# ids that earlier versions used, and the rule each became: a config that names one to
# disable it or change its severity is told the new id
RENAMED: dict[str, str] = {
    "missing_secret": "secret_missing",
    "password_mismatch": "failed_login",
    "user_not_found": "failed_login",
    "auth_service_refused": "auth_service_unreachable",
    "bcrypt_error": "password_hash_error",
    "bad_gateway": "upstream_error",
    "service_unavailable": "upstream_error",
    "connection_refused": "upstream_error",
}
