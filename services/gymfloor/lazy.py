"""Names a package exports but imports only when first used (PEP 562).

A package's configuration must be cheap to read: `gymfloor.settings` imports the settings of the
store, the time-series sink and the MQTT connection, and `gymfloor analyze` reads the settings
without ever opening a database or a connection. So those packages keep SQLAlchemy,
influxdb-client and paho behind their exports until something uses them.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], object]:
    """A module `__getattr__` for `package`: `exports` maps each name to the submodule (relative
    to the package) that defines it, imported on the name's first use."""

    def __getattr__(name: str) -> object:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{exports[name]}"), name)
        setattr(sys.modules[package], name, value)  # later uses skip this function
        return value

    return __getattr__
