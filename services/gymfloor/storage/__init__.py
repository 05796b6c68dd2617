"""The operational store: rep reports, alerts, sessions and machine status."""

from gymfloor.storage.store import Changes, MachineStatus, OperationalStore

__all__ = ["Changes", "MachineStatus", "OperationalStore"]
