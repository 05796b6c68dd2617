"""gymfloor: leg press form monitoring from machine telemetry."""

__version__ = "0.1.0"
