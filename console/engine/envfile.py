"""A ``.env`` parser that follows docker compose and python-dotenv, and never leaks a value.

Why our own parser: python-dotenv is not a dependency of the console, compose's parser is Go,
and both put the offending line's text into their error messages (compose-go's "unexpected
character in variable name" quotes the whole line). A line of a ``.env`` file is a secret, so
here an invalid line is reported by its number and a fixed reason only.

The rules, where compose and python-dotenv agree (and compose's where they do not):

* a UTF-8 byte-order mark at the start is ignored; CRLF and lone CR end lines like LF;
* blank lines and lines whose first non-blank character is ``#`` are skipped;
* ``export NAME=value`` is ``NAME=value``; ``NAME: value`` (compose's YAML style) too;
* ``'single quoted'`` is literal and may span lines;
* ``"double quoted"`` may span lines and understands ``\\n \\r \\t \\" \\\\ \\'`` (and
  ``\\a \\b \\f \\v``, like python-dotenv); other backslashes stay as they are;
* unquoted values end at the line end, lose a `` # comment`` (a ``#`` after whitespace)
  and trailing blanks; ``NAME=`` is the empty string;
* after a closing quote only blanks and a ``# comment`` may follow;
* ``NAME`` alone (no ``=``) has no value: compose takes it from the deploying shell;
* ``${NAME}``, ``${NAME:-default}``, ``${NAME-default}`` and ``$NAME`` in unquoted and
  double-quoted values are filled from names defined earlier in the same file, as compose
  does; a reference to anything else depends on the shell that ran compose, so the value is
  flagged *unresolved* instead of being guessed (a comparison with the container would
  otherwise cry "differs" for nothing). ``$$`` is a literal ``$``.

An invalid statement is skipped from its first line to that line's end, and parsing goes on
with the next line, as python-dotenv does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

__all__ = ["EnvFile", "EnvIssue", "EnvParseError", "decode_env_bytes", "parse_env"]

_BLANKS = re.compile(r"[ \t\f\v]*")
_EXPORT = re.compile(r"export[ \t]+")
_KEY = re.compile(r"[A-Za-z0-9_.\-\[\]]+")
_SEPARATOR = re.compile(r"[ \t\f\v]*[=:][ \t\f\v]*")
_TRAILER = re.compile(r"[ \t\f\v]*(?:#[^\n]*)?(?:\n|\Z)")
_UNQUOTED_COMMENT = re.compile(r"[ \t\f\v]+#.*\Z", re.DOTALL)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\", "'": "'",
            "a": "\a", "b": "\b", "f": "\f", "v": "\v"}
_DOUBLE_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_REFERENCE = re.compile(
    r"\$\$"                                              # a literal $
    r"|\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)"
    r"(?:(?P<op>:?-)(?P<default>[^}]*))?\}"              # ${NAME}, ${NAME:-x}, ${NAME-x}
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"               # $NAME
)


@dataclass(frozen=True, slots=True)
class EnvIssue:
    """An invalid statement: where it starts and why, never what it says."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


class EnvParseError(ValueError):
    """Raised by ``parse_env(strict=True)``; the message names the file and line only."""

    def __init__(self, source: str, line: int, reason: str) -> None:
        self.source = source
        self.line = line
        self.reason = reason
        super().__init__(f"{source}: line {line}: {reason}" if source
                         else f"line {line}: {reason}")


class EnvFile(Mapping[str, str | None]):
    """Names to values, in file order; the last assignment of a name wins.

    A value is ``None`` for a bare ``NAME`` line. ``repr()`` gives counts only, so an
    ``EnvFile`` that ends up in a log line or a traceback shows nothing of the file.
    """

    __slots__ = ("_values", "issues", "source", "unresolved")

    def __init__(self, source: str, values: dict[str, str | None],
                 issues: tuple[EnvIssue, ...], unresolved: frozenset[str]) -> None:
        self.source = source
        self._values = values
        self.issues = issues
        self.unresolved = unresolved  # names whose value refers to the deploying shell

    def __getitem__(self, name: str) -> str | None:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        # Counts only: even a *name* may be a value pasted alone on a line (a bare NAME).
        return f"EnvFile({self.source!r}, {len(self._values)} names, {len(self.issues)} issues)"

    __str__ = __repr__

    def discard(self) -> None:
        """Forget every value (names too): called as soon as the values are classified."""
        self._values.clear()

    @property
    def assigned(self) -> tuple[str, ...]:
        """Names given with ``=`` (bare ``NAME`` lines excluded)."""
        return tuple(n for n, v in self._values.items() if v is not None)


def decode_env_bytes(data: bytes) -> str:
    """UTF-8, never failing: stray bytes survive as surrogates so comparisons stay exact."""
    return data.decode("utf-8", errors="surrogateescape")


def parse_env(text: str | bytes, source: str = "", *, strict: bool = False,
              interpolate: bool = True) -> EnvFile:
    """Parse a whole ``.env`` text.

    Invalid statements are collected in ``EnvFile.issues`` (line number and reason), or, with
    ``strict``, the first one raises ``EnvParseError``. Nothing else is ever raised.
    """
    if isinstance(text, bytes):
        text = decode_env_bytes(text)
    return _Parser(_normalise(text), source, strict, interpolate).run()


def _normalise(text: str) -> str:
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n").replace("\r", "\n")


class _Parser:
    """A cursor over the text; each statement is read from ``pos`` and counted by line."""

    def __init__(self, text: str, source: str, strict: bool, interpolate: bool) -> None:
        self.text = text
        self.source = source
        self.strict = strict
        self.interpolate = interpolate
        self.pos = 0
        self.line = 1
        self.values: dict[str, str | None] = {}
        self.unresolved: set[str] = set()
        self.issues: list[EnvIssue] = []

    def run(self) -> EnvFile:
        while self.pos < len(self.text):
            self.statement()
        return EnvFile(self.source, self.values, tuple(self.issues), frozenset(self.unresolved))

    # -- cursor helpers ----------------------------------------------------------------

    def advance_to(self, end: int) -> None:
        self.line += self.text.count("\n", self.pos, end)
        self.pos = end

    def skip_line(self) -> None:
        """Move past the current line, whatever it holds."""
        end = self.text.find("\n", self.pos)
        self.advance_to(len(self.text) if end < 0 else end + 1)

    def match(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        found = pattern.match(self.text, self.pos)
        if found:
            self.advance_to(found.end())
        return found

    def fail(self, start_line: int, reason: str) -> None:
        if self.strict:
            raise EnvParseError(self.source, start_line, reason)
        self.issues.append(EnvIssue(start_line, reason))

    # -- grammar -----------------------------------------------------------------------

    def statement(self) -> None:
        self.match(_BLANKS)
        if self.pos >= len(self.text):
            return
        char = self.text[self.pos]
        if char in "#\n":
            self.skip_line()
            return
        start_line, line_start = self.line, self.pos
        self.match(_EXPORT)
        key = self.match(_KEY)
        if key is None:
            self.pos = line_start
            self.skip_line()
            self.fail(start_line, "expected NAME=value")
            return
        name = key.group()
        if self.match(_SEPARATOR) is None:
            self.bare(name, start_line, line_start)
            return
        if not self.value(name, start_line):
            # resume on the line after the statement's first line, like python-dotenv
            self.line, self.pos = start_line, line_start
            self.skip_line()

    def bare(self, name: str, start_line: int, line_start: int) -> None:
        """``NAME`` alone: valid only if nothing but a comment follows."""
        if self.match(_TRAILER) is None:
            self.pos, self.line = line_start, start_line
            self.skip_line()
            self.fail(start_line, "expected NAME=value")
            return
        self.values[name] = None
        self.unresolved.discard(name)

    def value(self, name: str, start_line: int) -> bool:
        """Read the value after the separator; False when the statement is invalid."""
        char = self.text[self.pos] if self.pos < len(self.text) else "\n"
        if char in "'\"":
            close = self.closing_quote(char)
            if close < 0:
                self.fail(start_line, f"unterminated {_QUOTE_NAMES[char]} quote")
                return False
            raw = self.text[self.pos + 1:close]
            self.advance_to(close + 1)
            if self.match(_TRAILER) is None:
                self.fail(start_line, "unexpected text after the closing quote")
                return False
            if char == "'":
                self.store(name, raw, expand=False)
            else:
                self.store(name, _DOUBLE_ESCAPE.sub(_unescape, raw), expand=True)
            return True
        end = self.text.find("\n", self.pos)
        end = len(self.text) if end < 0 else end
        raw = _UNQUOTED_COMMENT.sub("", self.text[self.pos:end]).rstrip()
        self.advance_to(min(end + 1, len(self.text)))
        self.store(name, raw, expand=True)
        return True

    def closing_quote(self, quote: str) -> int:
        """Index of the matching quote; a double quote may be escaped with a backslash."""
        index = self.pos + 1
        while True:
            index = self.text.find(quote, index)
            if index < 0 or quote == "'":
                return index
            backslashes = 0
            while self.text[index - 1 - backslashes] == "\\":
                backslashes += 1
            if backslashes % 2 == 0:
                return index
            index += 1

    def store(self, name: str, value: str, *, expand: bool) -> None:
        unresolved = False
        if expand and self.interpolate and "$" in value:
            value, unresolved = self.expand(value)
        self.values[name] = value
        if unresolved:
            self.unresolved.add(name)
        else:
            self.unresolved.discard(name)

    def expand(self, value: str) -> tuple[str, bool]:
        """Fill references from earlier names; report whether any was left to the shell."""
        missing = False

        def sub(found: re.Match[str]) -> str:
            nonlocal missing
            if found.group() == "$$":
                return "$"
            ref = found.group("braced") or found.group("bare")
            known = self.values.get(ref)
            if ref in self.unresolved:
                missing = True
            op = found.group("op")
            if op is not None and (known is None or (op == ":-" and known == "")):
                if ref not in self.values:
                    missing = True  # the shell might define it and override the default
                return found.group("default")
            if known is None:
                missing = True
                return ""
            return known

        return _REFERENCE.sub(sub, value), missing


_QUOTE_NAMES = {"'": "single", '"': "double"}


def _unescape(found: re.Match[str]) -> str:
    return _ESCAPES.get(found.group(1), found.group())
