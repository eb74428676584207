"""Compose's variable interpolation, for reading compose files where Compose itself is absent.

The rules (the Compose specification's, which v1 and v2 share except where noted):

* ``$NAME`` and ``${NAME}``: the variable's value; an unset variable gives the empty string
  and a warning (recorded in ``missing``);
* ``${NAME:-default}`` (unset or empty) and ``${NAME-default}`` (unset): the default;
* ``${NAME:?message}`` / ``${NAME?message}``: an error when unset (or empty for ``:?``);
* ``${NAME:+replacement}`` / ``${NAME+replacement}``: the replacement when set (non-empty);
* defaults, messages and replacements may themselves hold ``${...}`` (v2's nesting), and are
  only expanded when used;
* ``$$`` is a literal ``$``; a ``$`` not followed by a name or ``{`` stays as it is (v2);
* anything else inside ``${...}`` (``${X/a/b}``, ``${}``, an unclosed brace) is an error.

Values are secrets, so an ``InterpolationError`` names the variable and the rule broken,
never the text around it, the default or the author's message.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

__all__ = ["InterpolationError", "Interpolator", "Lookup", "references"]

Lookup = Callable[[str], str | None]
"""A variable's value, or None when it is unset."""

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")


class InterpolationError(ValueError):
    """A ``${...}`` Compose would refuse: the variable and the reason, nothing else."""

    def __init__(self, reason: str, variable: str | None = None) -> None:
        self.reason = reason
        self.variable = variable
        super().__init__(f"{reason}: {variable}" if variable else reason)


class Interpolator:
    """Expands strings against ``lookup``; remembers every variable used and every unset one.

    ``used`` and ``missing`` accumulate over calls, so a caller that wants them per value
    calls ``reset()`` first.
    """

    def __init__(self, lookup: Lookup) -> None:
        self._lookup = lookup
        self.used: set[str] = set()
        self.missing: set[str] = set()

    def reset(self) -> None:
        self.used.clear()
        self.missing.clear()

    def expand(self, text: str) -> str:
        value, end = self._expand(text, 0, inside=False)
        if end != len(text):  # pragma: no cover - _expand consumes all at the top level
            raise InterpolationError("invalid interpolation syntax")
        return value

    def expand_tree(self, tree: Any) -> Any:
        """Every string in a YAML tree (values only, as Compose does); others kept."""
        if isinstance(tree, str):
            return self.expand(tree)
        if isinstance(tree, dict):
            return {key: self.expand_tree(value) for key, value in tree.items()}
        if isinstance(tree, list):
            return [self.expand_tree(value) for value in tree]
        return tree

    # -- the scanner -------------------------------------------------------------------

    def _expand(self, text: str, pos: int, *, inside: bool) -> tuple[str, int]:
        """Expand from ``pos`` to the end (or, ``inside`` a brace, to its closing ``}``)."""
        out: list[str] = []
        while pos < len(text):
            char = text[pos]
            if inside and char == "}":
                return "".join(out), pos
            if char != "$":
                out.append(char)
                pos += 1
                continue
            nxt = text[pos + 1] if pos + 1 < len(text) else ""
            if nxt == "$":
                out.append("$")
                pos += 2
            elif nxt == "{":
                value, pos = self._braced(text, pos + 2)
                out.append(value)
            else:
                found = _NAME.match(text, pos + 1)
                if found is None:
                    out.append("$")
                    pos += 1
                    continue
                out.append(self._value(found.group()))
                pos = found.end()
        if inside:
            raise InterpolationError("unclosed ${ in an interpolation")
        return "".join(out), pos

    def _braced(self, text: str, pos: int) -> tuple[str, int]:
        """``pos`` is just after ``${``; returns the value and the index after ``}``."""
        found = _NAME.match(text, pos)
        if found is None:
            raise InterpolationError("invalid interpolation syntax")
        name = found.group()
        pos = found.end()
        if text.startswith("}", pos):
            return self._value(name), pos + 1
        operator = next((op for op in _OPERATORS if text.startswith(op, pos)), None)
        if operator is None:
            raise InterpolationError("unsupported interpolation syntax", name)
        arg_start = pos + len(operator)
        current = self._raw(name)
        use_arg = self._uses_argument(operator, current)
        if not use_arg:
            end = self._skip(text, arg_start)
            if operator in (":+", "+"):
                return "", end
            return current or "", end
        argument, end = self._expand(text, arg_start, inside=True)
        if operator in (":?", "?"):
            raise InterpolationError("required variable is not set", name)
        return argument, end + 1

    @staticmethod
    def _uses_argument(operator: str, current: str | None) -> bool:
        if operator == ":-" or operator == ":?":
            return not current
        if operator == "-" or operator == "?":
            return current is None
        if operator == ":+":
            return bool(current)
        return current is not None  # "+"

    @staticmethod
    def _skip(text: str, pos: int) -> int:
        """Index after the ``}`` closing an argument that is not used (nesting respected).

        Nothing in a branch not taken is looked up or checked, as in Compose.
        """
        depth = 0
        while pos < len(text):
            if text.startswith("$$", pos):
                pos += 2
                continue
            if text.startswith("${", pos):
                depth += 1
                pos += 2
                continue
            if text[pos] == "}":
                if depth == 0:
                    return pos + 1
                depth -= 1
            pos += 1
        raise InterpolationError("unclosed ${ in an interpolation")

    def _raw(self, name: str) -> str | None:
        self.used.add(name)
        return self._lookup(name)

    def _value(self, name: str) -> str:
        value = self._raw(name)
        if value is None:
            self.missing.add(name)
            return ""
        return value


_REFERENCE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)|([A-Za-z_][A-Za-z0-9_]*))")


def references(text: str) -> frozenset[str]:
    """The variables a string refers to, in every branch, without looking any up."""
    return frozenset(found.group(1) or found.group(2)
                     for found in _REFERENCE.finditer(text.replace("$$", "")))
