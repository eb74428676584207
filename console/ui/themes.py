"""Themes from ``themes/*.toml`` files, registered as ``textual.theme.Theme`` (as Posting does).

A theme file holds the ``Theme`` fields at the top level and CSS variables under
``[variables]``. Besides Textual's own, every theme defines the severity and state colours
the panes share, so a pane never hard-codes a colour and every theme (and ``NO_COLOR``,
which Textual applies as a monochrome filter over everything) stays coherent:

- ``severity-info``, ``severity-warning``, ``severity-error``, ``severity-critical``
- ``state-running``, ``state-transition``, ``state-stopped``, ``state-muted``

Use them as ``$severity-error`` in TCSS, or from Python with ``severity_style(app, sev)``
and ``state_style(app, state)``. For Textual's built-in themes (also selectable) the values
are derived from the theme's own warning/error/success colours.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable
from dataclasses import fields
from pathlib import Path
from typing import Any

from rich.style import Style
from textual.app import App
from textual.theme import Theme

from console.models import Severity

__all__ = [
    "DEFAULT_THEME",
    "SEVERITY_VARIABLES",
    "STATE_VARIABLES",
    "ThemeError",
    "load_theme_file",
    "load_themes",
    "resolve_theme",
    "severity_style",
    "state_style",
    "theme_dirs",
    "theme_variable_defaults",
]

DEFAULT_THEME = "ops-dark"
SEVERITY_VARIABLES = tuple(f"severity-{s.label}" for s in Severity)
STATE_VARIABLES = ("state-running", "state-transition", "state-stopped", "state-muted")
_THEME_FIELDS = {f.name for f in fields(Theme)} - {"name", "variables"}
_STRING_FIELDS = _THEME_FIELDS - {"dark", "ansi", "luminosity_spread", "text_alpha"}


class ThemeError(Exception):
    """A theme file that cannot be used; names the file and what is wrong."""


def theme_dirs() -> list[Path]:
    """Where theme files are looked up: the shipped ones, then the user's own.

    The project's top-level ``themes/`` is reached through ``console/ui/themes``, a link in a
    checkout and a real folder inside the wheel (package data), so an installed console finds
    its themes as an editable one does.
    """
    dirs = [Path(__file__).resolve().parent / "themes"]
    extra = os.environ.get("OPS_CONSOLE_THEMES")
    if extra:
        dirs.append(Path(extra).expanduser())
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    dirs.append(Path(config_home) / "ops-console" / "themes")
    return dirs


def load_theme_file(path: Path) -> Theme:
    """One ``.toml`` file into a Theme; ThemeError says which file and which key."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ThemeError(f"{path}: cannot be read as TOML ({exc})") from None
    name = data.pop("name", path.stem)
    variables = data.pop("variables", {})
    if not isinstance(name, str) or not name.strip():
        raise ThemeError(f"{path}: name: expected a non-empty string")
    if not isinstance(variables, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in variables.items()):
        raise ThemeError(f"{path}: [variables]: expected string keys and string values")
    for key, value in data.items():
        _check_field(path, key, value)
    if "primary" not in data:
        raise ThemeError(f"{path}: primary: required (a colour such as \"#4C9BE8\")")
    return Theme(name=name, variables=dict(variables), **data)


def _check_field(path: Path, key: str, value: Any) -> None:
    if key not in _THEME_FIELDS:
        raise ThemeError(f"{path}: {key}: unknown key; expected one of "
                         f"{', '.join(sorted(_THEME_FIELDS | {'name', 'variables'}))}")
    if key in _STRING_FIELDS and not isinstance(value, str):
        raise ThemeError(f"{path}: {key}: expected a colour string")
    if key in ("dark", "ansi") and not isinstance(value, bool):
        raise ThemeError(f"{path}: {key}: expected true or false")
    if key in ("luminosity_spread", "text_alpha") and (
            isinstance(value, bool) or not isinstance(value, int | float)):
        raise ThemeError(f"{path}: {key}: expected a number")


def load_themes(dirs: Iterable[Path] | None = None) -> tuple[dict[str, Theme], list[str]]:
    """Every theme found (later directories override earlier ones) and the problems met.

    A broken theme file is reported, not fatal: the console must start during an incident.
    """
    themes: dict[str, Theme] = {}
    problems: list[str] = []
    for directory in dirs if dirs is not None else theme_dirs():
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.toml")):
            try:
                theme = load_theme_file(path)
            except ThemeError as exc:
                problems.append(str(exc))
                continue
            themes[theme.name] = theme
    return themes, problems


def resolve_theme(requested: str, available: Iterable[str]) -> tuple[str, str | None]:
    """The theme to use and, when the requested one does not exist, a message saying so."""
    names = set(available)
    if requested in names:
        return requested, None
    fallback = DEFAULT_THEME if DEFAULT_THEME in names else "textual-dark"
    choices = ", ".join(sorted(n for n in names if n.startswith("ops-"))) or "none found"
    return fallback, (f"Theme {requested!r} (console.theme) not found; using {fallback}. "
                      f"ops-console themes: {choices}; Textual's built-ins work too.")


def install_themes(app: App[Any], requested: str) -> list[str]:
    """Register every theme found on ``app`` and switch to ``requested`` (or the fallback).
    Returns what the operator should be told: broken theme files, a theme not found."""
    themes, problems = load_themes()
    for theme in themes.values():
        app.register_theme(theme)
    name, message = resolve_theme(requested, app.available_themes)
    app.theme = name
    return problems + ([message] if message else [])


def theme_variable_defaults(theme: Theme) -> dict[str, str]:
    """Severity and state colours for a theme that does not define them (Textual built-ins)."""
    warning = theme.warning or "#ffa62b"
    error = theme.error or "#ba3c5b"
    success = theme.success or "#4EBF71"
    info = theme.accent or theme.primary
    return {
        "severity-info": info if theme.accent != theme.warning else theme.primary,
        "severity-warning": warning,
        "severity-error": error,
        "severity-critical": error,
        "state-running": success,
        "state-transition": warning,
        "state-stopped": error,
        "state-muted": theme.secondary or theme.primary,
    }


def _variable(app: App[Any], name: str) -> str | None:
    value = app.theme_variables.get(name) if app.theme_variables else None
    if value is None:
        value = theme_variable_defaults(app.current_theme).get(name)
    return value


def severity_style(app: App[Any], severity: Severity | str) -> Style:
    """The theme's colour for a severity; critical is also bold (meaning without colour)."""
    sev = Severity.parse(severity) if isinstance(severity, str) else severity
    color = _variable(app, f"severity-{sev.label}")
    return Style(color=color, bold=sev >= Severity.ERROR)


_STATE_GROUPS = {
    "running": "state-running", "healthy": "state-running", "up": "state-running",
    "restarting": "state-transition", "starting": "state-transition",
    "created": "state-transition", "paused": "state-transition", "removing": "state-transition",
    "connecting": "state-transition",
    "exited": "state-stopped", "dead": "state-stopped", "unhealthy": "state-stopped",
    "lost": "state-stopped", "retrying": "state-stopped", "unavailable": "state-stopped",
}


def state_style(app: App[Any], state: str) -> Style:
    """Colour for a container/health/connection state word; unknown words are muted."""
    group = _STATE_GROUPS.get(state, "state-muted")
    return Style(color=_variable(app, group), bold=group == "state-stopped")
