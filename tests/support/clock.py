"""The frozen clock every deterministic test reads its "now" from."""

from __future__ import annotations

from datetime import UTC, datetime

FROZEN_NOW = datetime(2026, 11, 24, 8, 0, 0, tzinfo=UTC)
