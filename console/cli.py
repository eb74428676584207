"""Command line: the TUI and the headless commands (check, report, init).

Imports are lazy on purpose. ``ops-console --version`` must answer in well under 0.3 s on a
busy deploy host, so textual, docker, asyncssh and httpx are imported only by the command
that needs them. A config error prints one clear line and exits 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from console import __version__

if TYPE_CHECKING:
    from console.config import Config
    from console.ui.app import OpsConsoleApp

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_CONFIG = 2

DESCRIPTION = (
    "A terminal operations console for auth incidents: containers, auth log events, "
    "health endpoints and secret presence across every configured server, live."
)

CONFIG_HELP = (
    "config file (default: $OPS_CONSOLE_CONFIG, then ~/.config/ops-console/config.toml, "
    "else zero-config local mode)"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ops-console", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"ops-console {__version__}")
    parser.add_argument("--config", metavar="PATH", help=CONFIG_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    check = sub.add_parser("check", help="run every probe once, no TUI (exit 0 good, 1 problem)")
    check.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help=CONFIG_HELP)
    check.add_argument("--json", action="store_true", help="print the JSON document instead")
    check.add_argument("--server", metavar="NAME", help="only this server")
    check.add_argument("--window", metavar="SECONDS", type=int, default=900,
                       help="auth-event window in seconds (default 900)")

    report = sub.add_parser("report", help="write a Markdown incident snapshot")
    report.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help=CONFIG_HELP)
    report.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")

    init = sub.add_parser("init", help="write a starter config from what this machine runs")
    init.add_argument("-o", "--output", metavar="FILE",
                      help="where to write (default ~/.config/ops-console/config.toml)")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a reader that goes away (``check | head``) is not an error."""
    try:
        return _dispatch(argv)
    except BrokenPipeError:
        # Python would print a traceback at exit flushing stdout again: point it at devnull.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _dispatch(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    command = args.command or "tui"
    if command == "init":
        from console.commands.init import run_init

        return run_init(args)

    from console.config import ConfigError, load_or_default

    try:
        config = load_or_default(getattr(args, "config", None))
    except ConfigError as exc:
        print(f"ops-console: config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG

    if command == "check":
        from console.commands.check import run_check

        return run_check(config, args)
    if command == "report":
        from console.commands.report import run_report

        return run_report(config, args)
    return run_tui(config)


def run_tui(config: Config) -> int:
    app = tui_app(config)
    app.run()
    return app.return_code or EXIT_OK


def tui_app(config: Config) -> OpsConsoleApp:
    """The console as ``ops-console`` runs it (the benchmarks start it the same way): the
    collector tuned for floods of log lines, and what the first screen built frozen out
    of its walks once that screen is up."""
    from console.engine.logs import freeze_startup_heap, tune_gc
    from console.ui.app import OpsConsoleApp

    tune_gc()
    return OpsConsoleApp(config, when_ready=freeze_startup_heap)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
