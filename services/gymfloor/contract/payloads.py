"""Payloads of contract sections 2 and 3, validated strictly with precise rejection reasons.

Every inbound MQTT message passes through here, so the models are pydantic (validation runs in
compiled code) and a batch becomes numpy arrays exactly once, on its way to the detector.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

import numpy as np
import pydantic
from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_PAYLOAD_BYTES = 64 * 1024
"""Three channels of 1000 samples fit in about 30 KiB; anything far larger is not a batch."""

MAX_SAMPLES = 1000

# Plausibility bounds. A value outside them is a broken sensor or a corrupted message, and
# letting it through would poison the smoothing windows of that machine.
EPOCH_MIN = 946_684_800.0  # 2000-01-01
EPOCH_MAX = 4_102_444_800.0  # 2100-01-01
SLED_MM_MIN, SLED_MM_MAX = -100.0, 3000.0
KPA_MIN, KPA_MAX = -10.0, 500.0
LOAD_KG_MAX = 2000.0

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
UnixTime = Annotated[float, Field(allow_inf_nan=False, ge=EPOCH_MIN, le=EPOCH_MAX)]
LoadKg = Annotated[float, Field(allow_inf_nan=False, ge=0.0, le=LOAD_KG_MAX)]
SledSample = Annotated[float, Field(allow_inf_nan=False, ge=SLED_MM_MIN, le=SLED_MM_MAX)] | None
KpaSample = Annotated[float, Field(allow_inf_nan=False, ge=KPA_MIN, le=KPA_MAX)] | None
Channel = Annotated[list[SledSample], Field(min_length=1, max_length=MAX_SAMPLES)]
PressureChannel = Annotated[list[KpaSample], Field(min_length=1, max_length=MAX_SAMPLES)]
Identifier = Annotated[str, Field(min_length=1, max_length=128)]


class _Payload(BaseModel):
    # strict: "12" is not 12 and true is not 1; unknown fields are ignored, as the contract says.
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class TelemetryPayload(_Payload):
    v: Literal[1]
    seq: Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
    boot: Annotated[str, Field(max_length=64)] | None = None
    t0: UnixTime
    hz: Annotated[float, Field(allow_inf_nan=False, ge=10.0, le=1000.0)]
    sled_mm: Channel
    lumbar_kpa: PressureChannel
    sacral_kpa: PressureChannel | None = None
    load_kg: LoadKg | None = None

    @model_validator(mode="after")
    def _channels_have_equal_length(self) -> TelemetryPayload:
        n = len(self.sled_mm)
        if len(self.lumbar_kpa) != n:
            raise ValueError(f"lumbar_kpa has {len(self.lumbar_kpa)} samples, sled_mm has {n}")
        if self.sacral_kpa is not None and len(self.sacral_kpa) != n:
            raise ValueError(f"sacral_kpa has {len(self.sacral_kpa)} samples, sled_mm has {n}")
        return self


class SessionPayload(_Payload):
    v: Literal[1]
    event: Literal["start", "load", "end"]
    t: UnixTime
    session_id: Identifier
    member_id: Identifier | None = None
    load_kg: LoadKg | None = None
    # Extension: the member's configured depth limit as a sled position, for excessive_rom.
    depth_limit_mm: Annotated[float, Field(allow_inf_nan=False, gt=0.0, le=SLED_MM_MAX)] | None = (
        None
    )


class StatusPayload(_Payload):
    v: Literal[1]
    state: Literal["online", "offline"]
    # The agent's will is fixed when it connects, so its time is optional.
    t: UnixTime | None = None


class ContractError(ValueError):
    """A message breaks the contract. `reason` names the field and what is wrong with it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True, eq=False)
class TelemetryBatch:
    """A validated telemetry batch; `null` samples are NaN in the arrays."""

    seq: int
    boot: str | None
    t0: float
    hz: float
    sled_mm: np.ndarray
    lumbar_kpa: np.ndarray
    sacral_kpa: np.ndarray | None
    load_kg: float | None

    @property
    def duration_s(self) -> float:
        return len(self.sled_mm) / self.hz


RawPayload = bytes | str | dict[str, Any]
M = TypeVar("M", bound=_Payload)


def _validate(model: type[M], raw: RawPayload) -> M:
    try:
        if isinstance(raw, dict):
            return model.model_validate(raw)
        if len(raw) > MAX_PAYLOAD_BYTES:
            raise ContractError(f"payload: {len(raw)} bytes is over the {MAX_PAYLOAD_BYTES} limit")
        return model.model_validate_json(raw)
    except pydantic.ValidationError as exc:
        raise ContractError(describe_error(exc)) from None


def describe_error(exc: pydantic.ValidationError, whole: str = "payload") -> str:
    """The first problem as `field[index]: message` (`whole` names the object itself when the
    problem is not one field's), plus how many more there are."""
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    first = errors[0]
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"])
    where = where.lstrip(".") or whole
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    message = first["msg"].removeprefix("Value error, ")
    return f"{where}: {message}{more}"


def _samples(values: list[float | None]) -> np.ndarray:
    # numpy turns None into NaN for a float array, which is how the detector marks a drop-out.
    return np.array(values, dtype=np.float64)


def decode_telemetry(raw: RawPayload) -> TelemetryBatch:
    p = _validate(TelemetryPayload, raw)
    return TelemetryBatch(
        seq=p.seq,
        boot=p.boot,
        t0=p.t0,
        hz=p.hz,
        sled_mm=_samples(p.sled_mm),
        lumbar_kpa=_samples(p.lumbar_kpa),
        sacral_kpa=None if p.sacral_kpa is None else _samples(p.sacral_kpa),
        load_kg=p.load_kg,
    )


def decode_session(raw: RawPayload) -> SessionPayload:
    return _validate(SessionPayload, raw)


def decode_status(raw: RawPayload) -> StatusPayload:
    return _validate(StatusPayload, raw)
