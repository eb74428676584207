"""Secrets: which required secrets exist where, which disagree, and the Docker volumes.

- ``weakness``: why a value is weak; which names are secrets (names only out).
- ``observe``: the keyed fingerprint and the ``Observation`` left once a value is gone.
- ``gather``: reading one server's env files and containers' environments.
- ``status``: a status per name and place, drift between servers, the read model.
- ``volumes``: the named volumes each compose project uses or declares.
- ``service``: ``SecretService``, the live loop and the per-server checks.
"""

from __future__ import annotations

from console.engine.secrets.gather import CONFIG_FILES_LABEL, PROJECT_LABEL, WORKING_DIR_LABEL
from console.engine.secrets.observe import Fingerprinter, Observation, classify_value
from console.engine.secrets.service import ContainerWatch, SecretService
from console.engine.secrets.status import (
    DRIFT_NOTE,
    STATUSES,
    PlaceProblem,
    SecretsSnapshot,
    ServerSecrets,
    VolumeStatus,
    container_place,
    secret_status_json,
    split_drift,
)
from console.engine.secrets.volumes import compose_volume_names
from console.engine.secrets.weakness import looks_secret, needs_length, weakness

__all__ = [
    "CONFIG_FILES_LABEL",
    "DRIFT_NOTE",
    "PROJECT_LABEL",
    "STATUSES",
    "WORKING_DIR_LABEL",
    "ContainerWatch",
    "Fingerprinter",
    "Observation",
    "PlaceProblem",
    "SecretService",
    "SecretsSnapshot",
    "ServerSecrets",
    "VolumeStatus",
    "classify_value",
    "compose_volume_names",
    "container_place",
    "looks_secret",
    "needs_length",
    "secret_status_json",
    "split_drift",
    "weakness",
]
