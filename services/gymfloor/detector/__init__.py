"""Rep segmentation and fault detection: pure and incremental, shared by live and offline use."""

from gymfloor.detector.config import DetectorConfig
from gymfloor.detector.detector import Detector, DetectorCounters, DetectorOutput, FaultDetected

__all__ = ["Detector", "DetectorConfig", "DetectorCounters", "DetectorOutput", "FaultDetected"]
