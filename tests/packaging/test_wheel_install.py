"""The console as a user installs it: a wheel built from this tree, in a clean venv.

An editable install reads files straight from the checkout, so it hides anything the wheel
leaves out (themes, styles, the JSON schema). This test builds the wheel, installs it with
its dependencies into a new virtual environment outside the checkout, and starts the parts
of the console that read shipped files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXPECTED_THEMES = {"ops-dark", "ops-light", "ops-high-contrast"}

PROBE = textwrap.dedent("""
    import json, console
    from pathlib import Path
    from console.ui import themes
    found, problems = themes.load_themes(themes.theme_dirs())
    pkg = Path(console.__file__).parent
    print(json.dumps({
        "package": str(pkg),
        "themes": sorted(found),
        "problems": [str(p) for p in problems],
        "tcss": (pkg / "ui" / "app.tcss").is_file(),
        "schema": (pkg / "schema" / "check-v1.json").is_file(),
    }))
""")


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "OPS_CONSOLE_THEMES"}}
    env["XDG_CONFIG_HOME"] = str(cwd / "xdg")  # no user themes of the machine's own
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=540)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    work = tmp_path_factory.mktemp("wheel")
    dist = work / "dist"
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist),
                  str(ROOT)], work)
    assert built.returncode == 0, built.stderr
    wheel = next(dist.glob("ops_console-*.whl"))
    env_dir = work / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    pip = _run([str(python), "-m", "pip", "install", "-q", str(wheel)], work)
    assert pip.returncode == 0, pip.stderr
    probe = _run([str(python), "-c", PROBE], work)
    assert probe.returncode == 0, probe.stderr
    result: dict[str, object] = json.loads(probe.stdout)
    result["python"] = str(python)
    result["work"] = str(work)
    return result


def test_the_installed_package_is_the_wheel_not_the_checkout(installed: dict[str, object]) -> None:
    assert not str(installed["package"]).startswith(str(ROOT))


def test_all_three_themes_load_from_the_wheel(installed: dict[str, object]) -> None:
    assert installed["problems"] == []
    assert set(installed["themes"]) >= EXPECTED_THEMES  # type: ignore[arg-type]


def test_the_wheel_ships_its_stylesheet_and_schema(installed: dict[str, object]) -> None:
    assert installed["tcss"] is True
    assert installed["schema"] is True


def test_the_installed_command_runs(installed: dict[str, object]) -> None:
    script = Path(str(installed["python"])).parent / "ops-console"
    done = _run([str(script), "--version"], Path(str(installed["work"])))
    assert done.returncode == 0, done.stderr
    assert "0." in done.stdout + done.stderr
