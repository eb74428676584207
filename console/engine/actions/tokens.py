"""JWTs: an unverified decode for the operator to read, and a signature check per place.

The token is decoded without verification (alg, iss, sub, iat, exp, time left): what the
server put in. The signature is checked against a shared secret only to answer "would a
token issued now validate?", once per place the secret is configured, and the verdicts
combined: "valid" only when every place agrees. Neither the token nor the secret leaves
this module; the token only as a 12-character preview.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime

from console.models import utcnow

__all__ = [
    "SignatureCheck",
    "TokenInfo",
    "combine_checks",
    "inspect_token",
    "token_preview",
    "verify_signature",
]

TOKEN_PREVIEW = 12

@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What an unverified decode of a JWT says. Claim values are server data: render safely."""

    alg: str
    typ: str | None
    iss: str | None
    sub: str | None
    iat: datetime | None
    exp: datetime | None
    nbf: datetime | None
    claims: tuple[tuple[str, str], ...]  # every claim, name and a short text form

    def time_left(self, now: datetime | None = None) -> float | None:
        if self.exp is None:
            return None
        return (self.exp - (now or utcnow())).total_seconds()

    @property
    def expired(self) -> bool:
        left = self.time_left()
        return left is not None and left <= 0


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    """The verdict of checking a token against a server secret (never the secret itself).

    ``verdict``: ``valid``, ``invalid`` or ``unavailable`` (could not check: why in ``text``).
    """

    verdict: str
    text: str
    place: str = ""
    places: tuple[tuple[str, str], ...] = ()  # (place, verdict) for every place checked

    @property
    def ok(self) -> bool:
        return self.verdict == "valid"


def token_preview(token: str) -> str:
    """The first 12 characters and an ellipsis: enough to tell tokens apart, not to use one."""
    return token[:TOKEN_PREVIEW] + "…" if len(token) > TOKEN_PREVIEW else "…"


def _claim_time(value: object) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _claim_text(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 120 else text[:119] + "…"


def inspect_token(token: str) -> TokenInfo:
    """Decode a JWT *without* verifying it: what the server put in, for the operator to read.

    Raises ``ValueError`` with a plain reason when it is not a JWT at all.
    """
    import jwt

    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise ValueError(f"the token is not a readable JWT ({exc})") from None
    if not isinstance(claims, dict):
        raise ValueError("the token's payload is not a JSON object")

    def text(name: str) -> str | None:
        value = claims.get(name)
        return None if value is None else _claim_text(value)

    return TokenInfo(
        alg=str(header.get("alg", "?")),
        typ=None if header.get("typ") is None else str(header.get("typ")),
        iss=text("iss"),
        sub=text("sub"),
        iat=_claim_time(claims.get("iat")),
        exp=_claim_time(claims.get("exp")),
        nbf=_claim_time(claims.get("nbf")),
        claims=tuple((str(k), _claim_text(v)) for k, v in claims.items()),
    )


def verify_signature(token: str, secret: str, place: str = "") -> SignatureCheck:
    """Check only the signature (not expiry): "would a token issued now validate?"."""
    import jwt

    where = f" ({place})" if place else ""
    try:
        alg = str(jwt.get_unverified_header(token).get("alg", ""))
    except jwt.PyJWTError as exc:
        return SignatureCheck("unavailable", f"cannot verify: not a JWT ({exc})", place)
    if alg.lower() == "none":
        return SignatureCheck("invalid", "signature INVALID: the token is unsigned (alg none)",
                              place)
    if not alg.upper().startswith("HS"):
        return SignatureCheck("unavailable",
                              f"cannot verify a {alg} token with a shared secret", place)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            jwt.PyJWS().decode_complete(token, key=secret, algorithms=[alg])
    except jwt.InvalidSignatureError:
        return SignatureCheck("invalid", f"signature INVALID: the secret differs{where}", place)
    except jwt.PyJWTError as exc:
        return SignatureCheck("unavailable", f"cannot verify: {type(exc).__name__}", place)
    return SignatureCheck("valid", f"signature valid{where}", place)


def combine_checks(server: str, name: str, checks: list[SignatureCheck]) -> SignatureCheck:
    """One verdict from the per-place checks; the text names the places that disagree."""
    if not checks:
        return SignatureCheck("unavailable", f"cannot verify: {name} not found on {server}")
    invalid = [c.place for c in checks if c.verdict == "invalid"]
    valid = [c.place for c in checks if c.verdict == "valid"]
    places = tuple((c.place, c.verdict) for c in checks)
    if invalid:
        text = f"signature INVALID: the secret differs ({name} in {', '.join(invalid)})"
        if valid:
            text += f"; valid with {', '.join(valid)}"
        return SignatureCheck("invalid", text, invalid[0], places)
    if len(valid) == len(checks):
        return SignatureCheck("valid", f"signature valid ({name} in {', '.join(valid)})",
                              valid[0], places)
    other = next(c for c in checks if c.verdict == "unavailable")
    return SignatureCheck(other.verdict, other.text, other.place, places)

