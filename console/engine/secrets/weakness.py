"""Whether a secret's value is weak, and whether a name is a secret's at all: names only out.

``weakness`` says why a value is weak (a known placeholder, a development prefix, a keyboard
sequence, too short for key material) in words that reveal nothing of it. ``looks_secret``
is the zero-config heuristic that picks the names worth checking; ``needs_length`` the
names that hold key material (32 characters at least).
"""

from __future__ import annotations

import re
import urllib.parse

__all__ = ["MIN_SECRET_LENGTH", "looks_secret", "needs_length", "weakness"]

MIN_SECRET_LENGTH = 32

_LENGTH_WORDS = ("SECRET", "KEY", "TOKEN")
# Names that mention a secret word but hold an identifier, a path or a setting, never
# key material: `ACCESS_TOKEN_EXPIRE_MINUTES=30` is not a weak token.
_SETTING_SUFFIXES = (
    "_ID", "_IDS", "_PATH", "_FILE", "_DIR", "_URL", "_URI", "_NAME", "_HOST", "_PORT",
    "_VERSION", "_ALGORITHM", "_ALGORITHMS", "_ALG", "_TTL", "_EXPIRE", "_EXPIRES",
    "_EXPIRY", "_EXPIRATION", "_LIFETIME", "_MINUTES", "_SECONDS", "_HOURS", "_DAYS",
    "_LENGTH", "_SIZE", "_TYPE", "_HEADER", "_PREFIX", "_ENABLED", "_SHA256", "_FORMAT",
    "_LOCATION", "_ISSUER", "_AUDIENCE", "_FIELD", "_COOKIE", "_REGION",
)
_NOT_SECRET_WORDS = ("PUBLIC", "GPG", "KEYRING", "KEYBOARD", "KEYSPACE", "KEYCLOAK_URL")
_INFER_WORDS = ("SECRET", "TOKEN", "PASSWORD", "PASSWD", "PASSPHRASE", "PRIVATE",
                "CREDENTIAL", "SIGNING", "SALT", "OAUTH", "KEY")
_INFER_NAMES = frozenset({
    "DATABASE_URL", "DB_URL", "POSTGRES_URL", "MYSQL_URL", "REDIS_URL", "MONGO_URL",
    "MONGO_URI", "MONGODB_URI", "AMQP_URL", "RABBITMQ_URL", "BROKER_URL",
    "CELERY_BROKER_URL", "SENTRY_DSN", "DSN", "SERVICE_ID", "CLIENT_ID",
})
_INFER_SUFFIXES = ("_PASS", "_PWD", "_DSN", "_CLIENT_ID")

_PLACEHOLDERS = frozenset({
    "changeme", "change_me", "change-me", "secret", "secrets", "password", "passwd", "pass",
    "pwd", "admin", "administrator", "root", "test", "testing", "tests", "example",
    "default", "dummy", "sample", "placeholder", "todo", "tbd", "fixme", "xxx", "null",
    "none", "nil", "undefined", "empty", "unset", "foo", "bar", "foobar", "baz", "qwerty",
    "letmein", "welcome", "abc", "abc123", "token", "key", "apikey", "api_key", "api-key",
    "secretkey", "secret_key", "secret-key", "mysecret", "my_secret", "my-secret",
    "mysecretkey", "my_secret_key", "supersecret", "super_secret", "super-secret",
    "supersecretkey", "super_secret_key", "topsecret", "top_secret", "s3cr3t", "s3cret",
    "secr3t", "p@ssw0rd", "passw0rd", "jwtsecret", "jwt_secret", "jwt-secret",
    "jwt_secret_key", "jwtsecretkey", "shhhhh", "shhh", "keyboard cat", "notasecret",
    "insecure", "postgres", "mysql", "redis", "guest", "user", "development", "dev",
    "local", "staging", "production", "prod", "demo", "your-secret", "your_secret",
    "yoursecret", "your-256-bit-secret", "your-secret-key", "your_secret_key",
})
_PLACEHOLDER_PARTS = (
    "changeme", "change-me", "change_me", "change-in-prod", "change_in_prod",
    "changeinprod", "change-this", "change_this", "changethis", "replace-me", "replace_me",
    "replaceme", "replace-with", "replace_with", "insecure", "not-secure", "not_secure",
    "notsecure", "placeholder", "example", "dummy", "do-not-use", "do_not_use",
    "donotuse", "not-a-secret", "not_a_secret",
)
_DEV_PREFIXES = ("dev-", "dev_", "test-", "test_", "local-", "local_", "demo-", "demo_",
                 "sample-", "sample_", "default-", "default_", "django-insecure")
_PLACEHOLDER_PATTERNS = (
    re.compile(r"^your[-_ .].*[-_ .]here$"),
    re.compile(r"^<[^<>]*>$"),
    re.compile(r"^\$\{[^}]*\}$"),
    re.compile(r"^\{\{[^}]*\}\}$"),
    re.compile(r"^\*+$"),
)
_SEQUENCES = ("0123456789abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnopqrstuvwxyz0123456789",
              "9876543210", "qwertyuiopasdfghjklzxcvbnm", "1234567890")
_REPEATED = re.compile(r"(.{1,4}?)\1{3,}", re.DOTALL)
_TRAILING_DIGITS = re.compile(r"[\W_]*\d{1,4}$")
_URL_NAME_WORDS = ("URL", "URI", "DSN")


def needs_length(name: str) -> bool:
    """``*SECRET*``, ``*KEY*``, ``*TOKEN*`` names hold key material: 32 characters at least."""
    upper = name.upper()
    if not any(word in upper for word in _LENGTH_WORDS):
        return False
    if any(word in upper for word in _NOT_SECRET_WORDS):
        return False
    return not upper.endswith(_SETTING_SUFFIXES) and not upper.endswith("_KEY_ID")


def looks_secret(name: str) -> bool:
    """The zero-config heuristic: would an operator call this name a secret or credential?"""
    upper = name.upper()
    if upper in _INFER_NAMES or upper.endswith(_INFER_SUFFIXES):
        return True
    if any(word in upper for word in _NOT_SECRET_WORDS):
        return False
    if "OAUTH" in upper:
        return True
    if not any(word in upper for word in _INFER_WORDS):
        return False
    return not upper.endswith(_SETTING_SUFFIXES)


def _is_placeholder(lowered: str) -> bool:
    if lowered in _PLACEHOLDERS:
        return True
    base = _TRAILING_DIGITS.sub("", lowered)
    if base and base in _PLACEHOLDERS:
        return True
    if any(part in lowered for part in _PLACEHOLDER_PARTS):
        return True
    return any(pattern.match(lowered) for pattern in _PLACEHOLDER_PATTERNS)


def weakness(name: str, value: str) -> str | None:
    """Why a non-empty value is weak, in words that reveal nothing of it; None if not weak."""
    stripped = value.strip()
    lowered = stripped.lower()
    if len(set(stripped)) == 1:
        return "one repeated character"
    if "://" in stripped:
        # A URL's host may well be db.example.com: only its password is judged.
        return _url_password_weakness(name, stripped)
    if _is_placeholder(lowered):
        return "a known placeholder or default value"
    if lowered.startswith(_DEV_PREFIXES):
        return "a development or example value"
    if len(lowered) >= 4 and any(lowered in seq for seq in _SEQUENCES):
        return "a keyboard or counting sequence"
    if _REPEATED.fullmatch(stripped):
        return "a short repeated pattern"
    if needs_length(name) and len(stripped) < MIN_SECRET_LENGTH:
        return f"shorter than {MIN_SECRET_LENGTH} characters"
    return None


def _url_password_weakness(name: str, value: str) -> str | None:
    """DATABASE_URL=postgres://app:postgres@db/app hides a default password inside a URL."""
    if not any(word in name.upper() for word in _URL_NAME_WORDS):
        return None
    try:
        password = urllib.parse.urlsplit(value).password
    except ValueError:
        return None
    if password is None:
        return None
    lowered = urllib.parse.unquote(password).lower()
    if not lowered:
        return "the password inside the URL is empty"
    if _is_placeholder(lowered) or lowered.startswith(_DEV_PREFIXES) \
            or len(set(lowered)) == 1:
        return "the password inside the URL is a known default"
    return None

