"""Compose's own view of each project: per-service environment, origins, staleness.

- ``labels``: a container's Compose labels, typed (``ComposeLabels``).
- ``tool``: the server's Compose (v2 plugin or v1), its ``config`` and config hashes.
- ``interpolate`` / ``files``: the compose files read directly (PyYAML and Compose's
  interpolation and env_file rules) when the server has no Compose.
- ``projects``: ``ComposeProjects``, the per-server cache, refreshed when files change.
- ``stale``: a running container against what its service would be now.

Values are fingerprinted with the secret service's keyed ``Fingerprinter`` the moment they
are read, and dropped; models hold names, origins and observations only.
"""

from console.engine.compose.labels import ComposeLabels, ProjectKey
from console.engine.compose.model import (
    ComposeTool,
    EnvFileRef,
    Expected,
    ProjectModel,
    ProjectProblem,
    ServiceEnv,
)
from console.engine.compose.projects import ComposeProjects
from console.engine.compose.stale import Staleness, stale_findings

__all__ = [
    "ComposeLabels",
    "ComposeProjects",
    "ComposeTool",
    "EnvFileRef",
    "Expected",
    "ProjectKey",
    "ProjectModel",
    "ProjectProblem",
    "ServiceEnv",
    "Staleness",
    "stale_findings",
]
