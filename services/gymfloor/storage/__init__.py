"""The operational store: rep reports, alerts, sessions, machine status and ingest checkpoints."""

from gymfloor.storage.store import Changes, Checkpoint, MachineStatus, OperationalStore

__all__ = ["Changes", "Checkpoint", "MachineStatus", "OperationalStore"]
