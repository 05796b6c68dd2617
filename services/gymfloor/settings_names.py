"""The GYMFLOOR_* environment variables' names, and the check of the log level: what commands
need of the settings before reading them, without importing pydantic-settings and every
component's settings (`gymfloor.settings`), which `gymfloor analyze` can do without."""

from __future__ import annotations

import logging
import os

ENV_PREFIX = "GYMFLOOR_"
ENV_NESTING = "__"
SHOWN_DEFAULT = "shown_default"
"""The key, in a setting's `json_schema_extra`, of how its help shows a default that is not a
plain value (a default worked out from other settings)."""


def env_var(setting: str) -> str:
    """The environment variable of a setting given by its path: `api.port` → GYMFLOOR_API__PORT."""
    return ENV_PREFIX + setting.upper().replace(".", ENV_NESTING)


def any_setting_in_environment() -> bool:
    """Whether any GYMFLOOR_* variable is set (pydantic-settings reads names in any case)."""
    return any(name.upper().startswith(ENV_PREFIX) for name in os.environ)


def known_level(level: str) -> str:
    """The log level, checked with the other settings rather than by logging once running."""
    if level.upper() not in logging.getLevelNamesMapping():
        raise ValueError(f"{level!r} is not DEBUG, INFO, WARNING or ERROR")
    return level
