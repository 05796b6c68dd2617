"""gymfloor: leg press form monitoring from machine telemetry."""

import os

__version__ = "0.1.0"

# numpy starts OpenBLAS's threads as it is imported, and they spin a while (0.1 s of CPU on
# another core, which `gymfloor analyze` decodes on) waiting for work gymfloor never gives
# them: it multiplies no matrices. Set before any module of the package imports numpy.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
