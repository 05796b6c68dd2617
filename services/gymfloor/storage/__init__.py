"""The operational store: machines, members, sessions, rep reports, alerts and API tokens.

`store` holds the engine and ingest's writes; each resource has a module of reads for the API.
"""

from gymfloor.storage.store import IngestStatus, OperationalStore

__all__ = ["IngestStatus", "OperationalStore"]
