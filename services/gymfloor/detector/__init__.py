"""Rep segmentation and fault detection: pure and incremental, shared by live and offline use.

The thresholds (`DetectorConfig`) are cheap to import; the detector itself loads numba, so it
is imported on first use (`gymfloor.lazy`): reading the settings does not compile anything.
"""

from typing import TYPE_CHECKING

from gymfloor.detector.config import DetectorConfig
from gymfloor.lazy import lazy_exports

if TYPE_CHECKING:
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
__getattr__ = lazy_exports(
    __name__,
    {name: "detector" for name in __all__ if name != "DetectorConfig"},
)
