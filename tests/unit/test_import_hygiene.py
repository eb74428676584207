"""The engine runs without the UI: headless modules must not pull in textual or rich.

Each module is imported in a fresh interpreter, because in this test process something else
may already have imported textual.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import console.commands
import console.engine

HEADLESS = ["console", "console.cli", "console.config", "console.models", "console.textsafe"] + [
    f"{pkg.__name__}.{info.name}"
    for pkg in (console.engine, console.commands)
    for info in pkgutil.iter_modules(pkg.__path__)
]


@pytest.mark.parametrize("module", HEADLESS)
def test_headless_module_imports_without_textual_or_rich(module: str) -> None:
    code = (
        f"import sys, importlib; importlib.import_module({module!r}); "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'rich') "
        "or m.startswith('console.ui')]; print(','.join(sorted(bad)))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"{module} imported: {proc.stdout.strip()}"


def test_version_imports_nothing_heavy() -> None:
    code = (
        "import sys; from console.cli import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('textual', 'rich', 'docker', 'asyncssh', 'httpx', 'jwt') "
        "if m in sys.modules]\nprint(','.join(heavy), file=sys.stderr)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.stderr.strip() == ""
