"""Rep segmentation and fault detection: pure and incremental, shared by live and offline use."""

from gymfloor.detector.config import DetectorConfig
from gymfloor.detector.detector import (
    Detector,
    DetectorCounters,
    DetectorOutput,
    DetectorSnapshot,
    FaultDetected,
    SetEnded,
    warm_up,
)

__all__ = [
    "Detector",
    "DetectorConfig",
    "DetectorCounters",
    "DetectorOutput",
    "DetectorSnapshot",
    "FaultDetected",
    "SetEnded",
    "warm_up",
]
