"""Compose's interpolation rules, and errors that name the variable and nothing else."""

from __future__ import annotations

import pytest

from console.engine.compose.interpolate import InterpolationError, Interpolator, references

ENV = {"SET": "value", "EMPTY": "", "OTHER": "other"}


def expand(text: str) -> tuple[str, set[str], set[str]]:
    interpolator = Interpolator(ENV.get)
    return interpolator.expand(text), interpolator.used, interpolator.missing


@pytest.mark.parametrize("text, expected", [
    ("plain", "plain"),
    ("$SET", "value"),
    ("${SET}", "value"),
    ("a${SET}b$SET.c", "avaluebvalue.c"),
    ("${UNSET}", ""),
    ("$UNSET", ""),
    ("${UNSET:-dflt}", "dflt"),
    ("${EMPTY:-dflt}", "dflt"),
    ("${SET:-dflt}", "value"),
    ("${UNSET-dflt}", "dflt"),
    ("${EMPTY-dflt}", ""),
    ("${SET:+alt}", "alt"),
    ("${EMPTY:+alt}", ""),
    ("${EMPTY+alt}", "alt"),
    ("${UNSET+alt}", ""),
    ("${SET:?must}", "value"),
    ("${EMPTY?must}", ""),
    ("$$SET", "$SET"),
    ("$${SET}", "${SET}"),
    ("$$$SET", "$value"),
    ("cost: 5$", "cost: 5$"),
    ("a $ b", "a $ b"),
    ("${UNSET:-${OTHER}}", "other"),
    ("${UNSET:-${ALSO_UNSET:-deep}}", "deep"),
    ("${SET:-${UNSET:?never checked}}", "value"),
    ("${UNSET:-a}b}", "ab}"),
    ("${UNSET:-}", ""),
    ("${UNSET:-$$x}", "$x"),
])
def test_expansion(text: str, expected: str) -> None:
    assert expand(text)[0] == expected


def test_used_and_missing_are_recorded() -> None:
    _, used, missing = expand("${SET} ${UNSET} ${GONE:-x} ${EMPTY}")
    assert used == {"SET", "UNSET", "GONE", "EMPTY"}
    assert missing == {"UNSET"}  # a default makes an unset variable no warning


def test_a_branch_not_taken_is_not_looked_up() -> None:
    _, used, missing = expand("${SET:-${NEVER}}")
    assert used == {"SET"} and missing == set()


@pytest.mark.parametrize("text, reason, variable", [
    ("${UNSET:?the secret that must not leak}", "required variable is not set", "UNSET"),
    ("${EMPTY:?x}", "required variable is not set", "EMPTY"),
    ("${UNSET?x}", "required variable is not set", "UNSET"),
    ("${SET/a/b}", "unsupported interpolation syntax", "SET"),
    ("${}", "invalid interpolation syntax", None),
    ("${1ABC}", "invalid interpolation syntax", None),
    ("${SET", "unsupported interpolation syntax", "SET"),
    ("${UNSET:-never closed", "unclosed ${ in an interpolation", None),
    ("${SET:-${never closed}", "unclosed ${ in an interpolation", None),
])
def test_errors_name_the_variable_only(text: str, reason: str, variable: str | None) -> None:
    with pytest.raises(InterpolationError) as caught:
        expand(text)
    assert caught.value.reason == reason
    assert caught.value.variable == variable
    message = str(caught.value)
    assert "leak" not in message and "never" not in message and "/a/b" not in message


def test_expand_tree_interpolates_values_not_keys() -> None:
    tree = {"${SET}": ["${SET}", 5, None, {"k": "$OTHER"}]}
    assert Interpolator(ENV.get).expand_tree(tree) == {"${SET}": ["value", 5, None,
                                                                  {"k": "other"}]}


def test_references_finds_every_branch_without_lookup() -> None:
    assert references("${A:-${B}} $C $$D $${E} ${F?x}") == {"A", "B", "C", "F"}
