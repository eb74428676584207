"""The ``ctrl+p`` command palette: every action on every server, one fuzzy search away.

``OpsCommands`` asks each *command source* for its commands each time the palette opens,
so the list always matches the live fleet (a container that appeared a second ago is
there). A source is a callable ``source(app) -> Iterable[(label, callback, help)]``:

- ``label``: what the operator searches and reads ("Restart crm-backend-1 on alpha");
- ``callback``: a no-argument callable run when chosen (may start a worker, push a screen);
- ``help``: one plain sentence under the label.

Other modules add theirs with ``register_command_source(source)`` (usable as a
decorator). Labels and help are shown literally, never as markup, because they carry
container names that servers control.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content

from console.ui.safe_text import make_visible

if TYPE_CHECKING:
    from console.ui.app import OpsConsoleApp

__all__ = [
    "CommandEntry",
    "CommandSource",
    "OpsCommands",
    "builtin_commands",
    "command_sources",
    "register_command_source",
]

log = logging.getLogger(__name__)

CommandEntry = tuple[str, Callable[[], object], str]
CommandSource = Callable[["OpsConsoleApp"], Iterable[CommandEntry]]

_SOURCES: list[CommandSource] = []


def register_command_source(source: CommandSource) -> CommandSource:
    """Add a command source to the palette (idempotent); returns it, so it can decorate."""
    if source not in _SOURCES:
        _SOURCES.append(source)
    return source


def command_sources() -> list[CommandSource]:
    return [builtin_commands, *_SOURCES]


def builtin_commands(app: OpsConsoleApp) -> Iterator[CommandEntry]:
    """Restart every container, migrate / test-login every server, focus panes, themes."""
    containers = app.fleet.containers
    snapshot = containers.snapshot() if containers is not None else {}
    for name, part in snapshot.items():
        for info in part.containers:
            yield (f"Restart {info.name} on {name}",
                   partial(app.request_restart, name, info.id),
                   "Restart this container (asks for confirmation first)")
    for server in app.config.servers:
        yield (f"Migrate {server.name}", partial(app.action_migrate, server.name),
               "Run this server's configured migration command")
        yield (f"Test login on {server.name}", partial(app.action_test_login, server.name),
               "POST the configured credentials and inspect the token")
    for spec in app.panes:
        yield (f"Focus {spec.title} pane", partial(app.action_focus_pane, spec.key),
               f"Same as key {spec.key}")
    for name in sorted(app.available_themes):
        yield (f"Theme: {name}", partial(app.set_theme, name), "Switch the colour theme")
    yield ("Help: keys", app.action_help, "List every key binding")


class OpsCommands(Provider):
    """Palette provider over ``command_sources()``; a broken source is skipped, not fatal."""

    def _entries(self) -> Iterator[CommandEntry]:
        from console.ui.app import OpsConsoleApp

        app = self.app
        if not isinstance(app, OpsConsoleApp):  # the commands are the console's own
            return
        for source in command_sources():
            try:
                yield from source(app)
            except Exception:  # a pane's bug must not take the palette down
                log.exception("command source %r failed", source)

    async def discover(self) -> Hits:
        for label, callback, help_text in self._entries():
            plain = make_visible(label, 200)
            yield DiscoveryHit(Content(plain), callback, text=plain,
                               help=_literal(help_text))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for label, callback, help_text in self._entries():
            plain = make_visible(label, 200)
            score, offsets = matcher.fuzzy_search.match(matcher.query, plain)
            if score > 0:
                # Not matcher.highlight(): it parses the candidate as markup.
                display = Content(plain)
                for offset in offsets:
                    display = display.stylize(matcher.match_style, offset, offset + 1)
                yield Hit(score, display, callback, text=plain, help=_literal(help_text))


def _literal(help_text: str) -> str:
    """Help text shown as written. The palette renders a hit's help with
    ``Content.from_markup``, which returns a ``Content`` unchanged and parses a ``str`` as
    markup (a container name such as ``[red]x`` would be styled); ``Hit.help`` is typed
    ``str`` only."""
    return Content(make_visible(help_text, 300))  # type: ignore[return-value]
