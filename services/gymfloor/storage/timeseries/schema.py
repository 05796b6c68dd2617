"""The time-series schema: every InfluxDB measurement, tag and field name, written once for the
writer (`points.py`) and the readers (the Grafana dashboards in dashboards/). docs/TIMESERIES.md
describes what each holds.

The names are StrEnums, so they drop into line protocol and InfluxQL as their plain values. A
name that is a tag in one measurement and a field in another is taken from `Tag`, so it stays one
name. The 0/1 fault fields of `rep` and `member_rep` are named by `Fault` itself.
"""

from __future__ import annotations

from enum import StrEnum


class Measurement(StrEnum):
    REP = "rep"
    """A rep report, per machine. Tags: gym_id, machine_id. Fields: `RepField`, `Fault`s."""
    MEMBER_REP = "member_rep"
    """The same rep, per member. Tags: gym_id, member_id. Fields: as `rep`."""
    ALERT = "alert"
    """A staff alert. Tags: gym_id, machine_id, severity, kind. Fields: `AlertField`."""
    MACHINE_STATUS = "machine_status"
    """A machine's connection. Tags: gym_id, machine_id. Fields: `StatusField`."""
    TRACE = "trace"
    """A machine's downsampled telemetry. Tags: gym_id, machine_id. Fields: `TraceField`."""
    INGEST = "ingest"
    """Ingest's counters and levels. Tag: instance. Fields: `IngestCounter`, `IngestLevel`."""


class Tag(StrEnum):
    GYM_ID = "gym_id"
    MACHINE_ID = "machine_id"
    MEMBER_ID = "member_id"
    SEVERITY = "severity"
    KIND = "kind"
    INSTANCE = "instance"


class RepField(StrEnum):
    """Fields of `rep` and `member_rep`; the measurements' figures are named as RepReport's."""

    MEMBER_ID = Tag.MEMBER_ID  # in `rep`: a tag there would multiply machines by members
    MACHINE_ID = Tag.MACHINE_ID  # in `member_rep`, for the same reason
    SESSION_ID = "session_id"
    REP = "rep"
    ROM_MM = "rom_mm"
    ECCENTRIC_S = "eccentric_s"
    CONCENTRIC_S = "concentric_s"
    MIN_LUMBAR_RATIO = "min_lumbar_ratio"
    LOAD_KG = "load_kg"
    BASELINE_KPA = "baseline_kpa"
    TILT_ONSET_MM = "tilt_onset_mm"
    PEAK_DESCENT_MM_S = "peak_descent_mm_s"
    FAULTS = "faults"
    """How many faults the rep had; each fault's own 0/1 field is named by its `Fault`."""


REP_FIGURES = (
    RepField.ROM_MM,
    RepField.ECCENTRIC_S,
    RepField.CONCENTRIC_S,
    RepField.MIN_LUMBAR_RATIO,
    RepField.LOAD_KG,
    RepField.BASELINE_KPA,
    RepField.TILT_ONSET_MM,
    RepField.PEAK_DESCENT_MM_S,
)
"""The float fields, each the RepReport attribute of the same name."""


class AlertField(StrEnum):
    ID = "id"
    MESSAGE = "message"
    SESSION_ID = RepField.SESSION_ID
    MEMBER_ID = Tag.MEMBER_ID
    REP = RepField.REP
    LOAD_KG = RepField.LOAD_KG
    COUNT = "count"
    CLEARED_AT = "cleared_at"
    """Unix s; written onto the alert's own point (same series and time) when it clears."""


class StatusField(StrEnum):
    STATE = "state"
    ONLINE = "online"
    """1 online, 0 otherwise, for a panel to map."""
    STATE_SINCE = "state_since"


class TraceField(StrEnum):
    LUMBAR_KPA = "lumbar_kpa"
    LUMBAR_RATIO = "lumbar_ratio"
    SLED_MM = "sled_mm"


class IngestLevel(StrEnum):
    """Ingest's levels, beside its counters (`gymfloor.status.IngestCounter`, the measurement's
    other fields): what waits, and the detection latency over the last interval."""

    QUEUED = "queued"
    SPOOL_BACKLOG = "spool_backlog"
    DETECTION_LATENCY_P50_S = "detection_latency_p50_s"
    DETECTION_LATENCY_P99_S = "detection_latency_p99_s"
