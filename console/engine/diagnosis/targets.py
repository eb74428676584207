"""Which container the findings point at, and what a container key would do against them.

On the main screen ``r`` and ``R`` act on the row selected in the containers pane, while the
strip names a finding's target with its key. Two pure helpers keep the two in step:

- ``container_target`` picks the container the selection should follow while the operator
  has not chosen a row himself: the first finding (strip order) whose fix is a container
  key, else the first whose own target is a listed container (a crash loop fixed by hand,
  then with ``R`` on that container);
- ``fix_note`` is the one line a restart's or a recreate's confirmation shows, so that a
  key pressed on another row than the finding's is seen before ``y``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

from console.engine.diagnosis.common import clip
from console.engine.diagnosis.model import FIX_KEYS, Finding

__all__ = ["CONTAINER_FIXES", "ContainerFix", "FixNote", "container_target", "fix_note"]

ContainerFix = Literal["restart", "recreate"]
CONTAINER_FIXES: tuple[ContainerFix, ...] = ("restart", "recreate")


def container_target(findings: Sequence[Finding], listed: Callable[[str, str], bool]
                     ) -> tuple[str, str] | None:
    """``(server, container)`` the selection should follow, or None.

    ``listed(server, name)`` says whether the containers pane shows that container: a
    target that is not listed (gone, or not a container at all) is skipped.
    """
    for finding in findings:
        if finding.fix.action in CONTAINER_FIXES and listed(finding.server, finding.fix.target):
            return finding.server, finding.fix.target
    for finding in findings:
        if listed(finding.server, finding.target):
            return finding.server, finding.target
    return None


class FixNote:
    """The line a confirmation shows: ``text``, and ``matches`` when the key does what an
    active finding asks (otherwise the line is a warning)."""

    __slots__ = ("matches", "text")

    def __init__(self, text: str, matches: bool) -> None:
        self.text = text
        self.matches = matches

    def __repr__(self) -> str:
        return f"FixNote({self.text!r}, matches={self.matches})"


def _key_words(action: str) -> str:
    return f"{FIX_KEYS[action]} ({action.replace('_', ' ')})" if FIX_KEYS[action] else \
        "by hand (see d)"


def fix_note(findings: Sequence[Finding], action: ContainerFix, server: str,
             container: str) -> FixNote | None:
    """What the active findings say of running ``action`` on ``container`` of ``server``.

    None when no finding has a fix of this kind and none concerns this container: the
    confirmation then says nothing of the diagnosis.
    """
    for finding in findings:
        fix = finding.fix
        if fix.action == action and finding.server == server and fix.target == container:
            return FixNote(f"This is the diagnosis's fix for: {clip(finding.summary, 160)}",
                           True)
    parts: list[str] = []
    elsewhere = [f for f in findings if f.fix.action == action]
    if elsewhere:
        first = elsewhere[0]
        others = len(elsewhere) - 1
        more = f" and {others} other{'s' if others > 1 else ''}" if others else ""
        parts.append(f"The diagnosis's fix is {FIX_KEYS[action]} on {first.fix.target} "
                     f"({first.server}){more}, not this container")
    own = next((f for f in findings if f.server == server and container in
                (f.target, f.fix.target)), None)
    if own is not None:
        parts.append(f"for {container} the diagnosis's fix is {_key_words(own.fix.action)}"
                     if parts else
                     f"The diagnosis's fix for {container} is {_key_words(own.fix.action)}, "
                     f"not {_key_words(action)}")
    if not parts:
        return None
    return FixNote("; ".join(parts) + ".", False)
