"""Command lines for a server: argv only, quoted, and stopped when our channel goes away."""

from __future__ import annotations

import shlex
from collections.abc import Sequence

__all__ = ["check_argv", "command_line", "plain_command_line", "short_argv"]


def check_argv(argv: Sequence[str]) -> list[str]:
    """A string here is almost always a shell command line by mistake: refuse it."""
    if isinstance(argv, str) or not argv:
        raise ValueError("argv must be a non-empty sequence of arguments, not a shell string")
    return [str(a) for a in argv]


# Runs argv on the server and kills it when our channel goes away. sshd only honours SSH
# "signal" requests with privilege separation, which it skips for root logins, and closing
# a channel does not stop a process that never writes (``sleep``, an idle ``tail -F``). So
# the command's stdin is a pipe we never write to: when the channel closes (aclose(), a
# timeout, a dead link), ``cat`` sees EOF and the watchdog TERMs the command's whole
# session, made with ``setsid`` where available so pipelines die too.
# A background job's stdin is /dev/null unless redirected explicitly, hence fd 3.
_WATCHDOG = (
    'command -v "$1" >/dev/null 2>&1 || { echo "$1: command not found" >&2; exit 127; }\n'
    'exec 3<&0\n'
    'if command -v setsid >/dev/null 2>&1; then setsid "$@" </dev/null 3<&- &\n'
    'else "$@" </dev/null 3<&- &\n'
    'fi\n'
    'c=$!\n'
    '( cat <&3 >/dev/null 2>&1; kill -TERM -"$c" 2>/dev/null || kill -TERM "$c" 2>/dev/null'
    ' ) &\n'
    'w=$!\n'
    'wait "$c"; s=$?\n'
    'kill "$w" 2>/dev/null\n'
    'exit "$s"\n'
)


def command_line(argv: Sequence[str]) -> str:
    """The remote login shell gets one string: argv is passed to the watchdog verbatim.

    Every argument is quoted with ``shlex.join`` and reaches the command as-is (``"$@"``),
    so nothing in argv is ever interpreted by a shell.
    """
    return f"sh -c {shlex.quote(_WATCHDOG)} sh {shlex.join(check_argv(argv))}"


def short_argv(argv: Sequence[str]) -> str:
    """A command for a message: enough to recognise it, never a wall of text."""
    text = shlex.join(argv)
    return text if len(text) <= 80 else text[:77] + "..."


def plain_command_line(argv: Sequence[str]) -> str:
    """For commands that read our stdin (run with input): no watchdog is possible."""
    return shlex.join(check_argv(argv))

