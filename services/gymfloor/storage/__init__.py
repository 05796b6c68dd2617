"""The operational store: machines, members, sessions, rep reports, alerts and API tokens.

`store` holds the engine and ingest's writes; each resource has a module of reads for the API.
The store is imported on first use (see gymfloor.lazy): the settings of `timeseries` live in
this package, and reading them must not load SQLAlchemy.
"""

from typing import TYPE_CHECKING

from gymfloor.lazy import lazy_exports

if TYPE_CHECKING:
    from gymfloor.storage.store import IngestStatus, OperationalStore

__all__ = ["IngestStatus", "OperationalStore"]
__getattr__ = lazy_exports(__name__, {"IngestStatus": "store", "OperationalStore": "store"})
