"""All I/O lives here: hosts and transports, probes, log pipeline, actions, audit.

Nothing under ``console.engine`` imports Textual or Rich (a test enforces it), so the same
code serves the TUI and the headless ``check`` / ``report`` commands.
"""

import sys as _sys

# httpx imports rich at ``import httpx`` whenever its optional CLI extra is installed
# (``from ._main import main`` in httpx/__init__.py). The engine never uses that CLI, so
# its module is marked unimportable before any engine module imports httpx: httpx then
# falls back to its stub ``main`` and rich stays out of headless processes. Nothing is
# imported here, so ``console.engine`` stays cheap.
if "httpx" not in _sys.modules:
    _sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
