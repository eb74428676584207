"""What may leave the engine: log text with secrets redacted (``console.textsafe`` then makes
control characters visible).

Log lines are redacted at ingest, before anything stores, shows or exports them, so a JWT or
a ``password=...`` in a line never reaches the ring buffer, the screen or a file.

Redaction runs on every ingested line, so it must cost nothing on the lines that have no
secret in them. ``TRIGGERS`` are lower-case literals at least one of which every redactable
secret sits next to (``eyj`` starts every JWT, ``pass`` every password key...). The log
pipeline scans a whole block for them in the same C-speed pass that finds rule candidates,
and only the lines with a trigger go through the regular expressions below. ``redact()`` does
the same for one string.

Every pattern here is linear in the line length (no nested or unbounded-then-backtracking
quantifiers in front of a keyword), because a hostile 16 KB line must not stall ingest.
"""

from __future__ import annotations

import re

__all__ = ["PREFILTER", "REDACTED", "TRIGGERS", "redact", "redact_line"]

REDACTED = "[redacted]"

TRIGGERS: tuple[str, ...] = (
    "eyj", "pass", "pwd", "secret", "token", "bearer", "basic ", "api_key", "api-key",
    "apikey", "private_key", "private-key", "privatekey", "credential", "cookie", "://",
    "authorization", "-key", "@", "identified", "akia", "asia", "connection info string",
)

_KEY = r"(?:pass|pwd|secret|token|api[_-]?key|private[_-]?key|credential|cookie)"
_KEYS = ("pass", "pwd", "secret", "token", "key", "credential", "cookie")
# where a match of _KEY can start: "api" and "private" begin api_key and private-key
_KEY_STARTS = ("pass", "pwd", "secret", "token", "api", "private", "credential", "cookie")
_COLON_KEYS = ("password", "passwd", "pwd", "secret", "api", "private")  # where _COLON starts

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{12,}")
# a base64 credential, not the English word after "Basic" ("Basic authentication required")
_BASIC = re.compile(r"\b((?i:basic)\s+)(?=[A-Za-z0-9+/]*[0-9A-Z+/=])[A-Za-z0-9+/]{8,}={0,2}")
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]{0,20}://[^\s:/@]{1,256}:)[^\s@/]+@")
# "password": "x" / 'api_key': 'x' / "token": null (JSON, Python reprs)
_QUOTED_KEY = re.compile(
    r"(?i)([\"'])([^\"'\s]{0,64}" + _KEY + r"[^\"'\s]{0,64})\1(\s*:\s*)"
    r"(?:\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|[^\s,}\]]+)"
)
# password=x, JWT_SECRET=x, ?token=x&  (the key's own prefix is left alone)
_ASSIGNED = re.compile(
    r"(?i)(" + _KEY + r"[\w.-]{0,64}\s*=\s*)(?:\"[^\"]*\"|'[^']*'|[^\s&;,\"']+)"
)
# password: x (YAML-ish), X-Api-Key: x (a header); not "token:", which starts many auth
# error messages
_COLON_KEY = r"(?:password|passwd|pwd|secret|api[_-]?key|private[_-]?key)"
_COLON = re.compile(r"(?i)(" + _COLON_KEY + r"\s*:\s+)[^\s,;]+")

# Credentials that other software echoes in its own messages:
# - libpq's 'missing "=" after "%s" in connection info string' (fe-connect.c) quotes a piece
#   of the DSN, which is a password's tail when the password holds a space;
# - a URL whose "://" is damaged keeps user:secret@ after a slash (SQLAlchemy's "Could not
#   parse rfc1738 URL from string 'postgres//app:pw@db'"); not an image pinned by digest
#   ("library/nginx:1.27@sha256:...");
# - a logged SQL statement sets a password (PostgreSQL's "statement: ALTER ROLE app WITH
#   PASSWORD '...'", MySQL's "IDENTIFIED BY '...'");
# - AWS: an access key id (AKIA... long-term, ASIA... temporary), and the secret key after
#   `aws configure`'s "AWS Secret Access Key [None]:" prompt.
_LIBPQ_FRAGMENT = re.compile(r'(missing "=" after ")[^"\n]*(?=" in connection info string)')
_SLASH_USERINFO = re.compile(r"(/[^\s:/@'\"]{1,256}:)[^\s@/'\"]+@(?!sha\d+:)")
_SQL_PASSWORD = re.compile(r"(?i)(\b(?:password|identified\s+by)\s+)'(?:[^'\n]|'')*'")
_AWS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")
_AWS_SECRET_PROMPT = re.compile(r"(?i)(\bsecret access key\b[^:\n]{0,16}:[ \t]*)[^\s]+")

# Request headers as apps and proxies log them. Authorization keeps its scheme word
# ("Bearer", "Token"); Cookie and Set-Cookie lose every value; X-Api-Key, X-Auth-Token,
# X-Hub-Secret... their value.
_AUTH_HEADER = re.compile(r"(?i)\b((?:proxy-)?authorization\s*:\s*(?:[a-z]+\s+)?)(\S[^\r\n]*)")
_COOKIE_HEADER = re.compile(r"(?i)\b((?:set-)?cookie\s*:\s*)(\S[^\r\n]*)")
_X_HEADER = re.compile(r"(?i)\b(x-[a-z0-9-]*(?:token|key|secret)\s*:\s*)(\S+)")

# Cheap necessary conditions for the two keyed patterns, run on the lowered line without
# (?i) (so ``re`` can skip ahead on the first characters): every match of ``_ASSIGNED``
# contains a match of ``_ASSIGNED_HINT`` (``api_key=`` contains ``key=``), and every match
# of ``_COLON`` one of ``_COLON_HINT``. ``[AUTH] Login failed: invalid password for x``
# fails both at C speed, so the common auth line costs no Python-level key walk.
_ASSIGNED_HINT = re.compile(r"(?:pass|pwd|secret|token|key|credential|cookie)[\w.-]{0,64}\s*=")
_COLON_HINT = re.compile(_COLON_KEY + r"\s*:\s+[^\s,;]")


# Hyperscan expressions over the lowered line: for an ASCII line, every substitution in
# ``redact_line`` that can change it needs one of these to match the lowered line. Each is a
# necessary condition of the pattern beside it, read off that pattern: the key or marker it
# starts with, then the separator it needs, with bounds dropped and classes widened (only
# ever looser). On ASCII text ``(?i)`` is plain ASCII case folding, and ``\s`` is
# ``_WS``. A line none of them matches is left exactly as it was by every substitution, so
# ``redact_line`` need not run: the stress flood's ``Login failed: invalid password for``
# has a trigger ("pass") and no secret. Non-ASCII lines do not use this (see LineRewrite).
_WS = r"[\t\x0b\x0c\r\x1c-\x1f ]"
_NOT_WS = r"[^\t\n\x0b\x0c\r\x1c-\x1f ]"
PREFILTER: tuple[str, ...] = (
    r"eyj[a-z0-9_-]{4}",  # _JWT: eyJ + 4 of [A-Za-z0-9_-]
    r"bearer" + _WS,  # _BEARER: bearer, whitespace
    r"basic" + _WS,  # _BASIC: basic, whitespace
    r"://[^\n:/@]*:[^\n@/]*@",  # _URL_CREDENTIALS: scheme://user:secret@
    # _QUOTED_KEY: a quote, a key inside the quoted name, a quote, optional space, a colon
    r"[\"'][^\"'\n]*" + _KEY + r"[^\"'\n]*[\"']" + _WS + r"*:",
    _KEY + r"[a-z0-9_.-]*" + _WS + r"*=",  # _ASSIGNED: key, name characters, =
    _COLON_KEY + _WS + r"*:" + _WS + r"+" + _NOT_WS,  # _COLON: key, colon, space, value
    r"authorization" + _WS + r"*:",  # _AUTH_HEADER
    r"cookie" + _WS + r"*:",  # _COOKIE_HEADER
    r"x-[a-z0-9-]*(?:token|key|secret)" + _WS + r"*:",  # _X_HEADER
    r'missing "=" after "',  # _LIBPQ_FRAGMENT
    # _SLASH_USERINFO: slash, user, colon, secret, @; neither part holds a space, so an
    # auth line's "/500 [AUTH] Login failed: invalid password for u1@x.io" does not match
    r"/[^\t\n\x0b\x0c\r\x1c-\x1f :/@'\"]+:[^\t\n\x0b\x0c\r\x1c-\x1f @/'\"]+@",
    r"(?:password|identified" + _WS + r"+by)" + _WS + r"+'",  # _SQL_PASSWORD
    r"(?:akia|asia)[0-9a-z]{16}",  # _AWS_KEY_ID
    r"secret access key[^\n:]*:",  # _AWS_SECRET_PROMPT
)


def redact_line(line: str, lowered: str | None = None) -> str:
    """Apply every redaction to one line (call it for lines that contain a trigger).

    Each pattern runs only when the cheap characters it needs are in the line: an
    ``[AUTH] Login failed: invalid password`` line (a trigger, no secret) costs two C-speed
    hint searches. ``lowered`` is ``line.lower()`` when the caller already has it.
    """
    if lowered is None:
        lowered = line.lower()
    hints = len(lowered) == len(line)  # the hints need positions to mean the same
    if "eyj" in lowered:
        line = _JWT.sub("[redacted jwt]", line)
    if "bearer" in lowered:
        line = _BEARER.sub(lambda m: f"{m.group(1)}{REDACTED}", line)
    if "basic" in lowered:
        line = _BASIC.sub(lambda m: f"{m.group(1)}{REDACTED}", line)
    if "://" in line and "@" in line:
        line = _URL_CREDENTIALS.sub(lambda m: f"{m.group(1)}{REDACTED}@", line)
    keyed = any(key in lowered for key in _KEYS)
    if keyed and ('"' in line or "'" in line):
        line = _QUOTED_KEY.sub(
            lambda m: f"{m.group(1)}{m.group(2)}{m.group(1)}{m.group(3)}\"{REDACTED}\"", line)
    if keyed and "=" in line and (not hints or _ASSIGNED_HINT.search(lowered)):
        line = _sub_at_keys(_ASSIGNED, line, _KEY_STARTS)
    if ":" in line and (_COLON_HINT.search(lowered) if hints else
                        any(key in lowered for key in _COLON_KEYS)):
        line = _sub_at_keys(_COLON, line, _COLON_KEYS)
    line = _echoed(line, lowered)
    if ":" in line:
        if "authorization" in lowered:
            line = _AUTH_HEADER.sub(_header_value, line)
        if "cookie" in lowered:
            line = _COOKIE_HEADER.sub(_header_value, line)
        if "x-" in lowered:
            line = _X_HEADER.sub(_header_value, line)
    return line


def _echoed(line: str, lowered: str) -> str:
    """The credentials other software echoes (see ``_LIBPQ_FRAGMENT`` and below it), each
    pattern run only when the literal it needs is in the line."""
    if "connection info string" in lowered:
        line = _LIBPQ_FRAGMENT.sub(lambda m: f"{m.group(1)}{REDACTED}", line)
    if "@" in line and "/" in line:
        line = _SLASH_USERINFO.sub(lambda m: f"{m.group(1)}{REDACTED}@", line)
    if "'" in line and ("pass" in lowered or "identified" in lowered):
        line = _SQL_PASSWORD.sub(lambda m: f"{m.group(1)}'{REDACTED}'", line)
    if "akia" in lowered or "asia" in lowered:
        line = _AWS_KEY_ID.sub(REDACTED, line)
    if "secret access key" in lowered:
        line = _AWS_SECRET_PROMPT.sub(lambda m: f"{m.group(1)}{REDACTED}", line)
    return line


def _header_value(match: re.Match[str]) -> str:
    """A header's value redacted, unless a pattern above already did (a JWT or a bearer
    token keeps its own, more telling, marker)."""
    if REDACTED[:-1] in match.group(2):
        return match.group(0)
    return f"{match.group(1)}{REDACTED}"


def _sub_at_keys(pattern: re.Pattern[str], line: str, keys: tuple[str, ...]) -> str:
    """``pattern`` (group 1 kept, the rest redacted) tried only where a key starts.

    A case-insensitive regex that starts with an alternation is tried at every character
    by ``re``; anchoring it at the few places ``str.find`` points to is ~10x cheaper.
    """
    lowered = line.lower()
    if len(lowered) != len(line):
        return pattern.sub(lambda m: f"{m.group(1)}{REDACTED}", line)
    starts: set[int] = set()
    for key in keys:
        pos = lowered.find(key)
        while pos >= 0:
            starts.add(pos)
            pos = lowered.find(key, pos + 1)
    out: list[str] = []
    last = 0
    for pos in sorted(starts):
        if pos < last:
            continue
        m = pattern.match(line, pos)
        if m is not None:
            out += [line[last:pos], m.group(1), REDACTED]
            last = m.end()
    if not out:
        return line
    out.append(line[last:])
    return "".join(out)


def redact(text: str) -> str:
    """Redact secrets in any text (one line or many); cheap when there is nothing to do."""
    lowered = text.lower()
    if not any(trigger in lowered for trigger in TRIGGERS):
        return text
    return "\n".join(redact_line(line) for line in text.split("\n"))
