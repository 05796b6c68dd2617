"""Payloads of docs/CONTRACT.md sections 2 and 3: one type per payload, for decoding and
encoding both.

Every inbound MQTT message passes through here, so the payloads are msgspec structs: JSON bytes
become a validated struct in one pass of compiled code, and a telemetry batch becomes numpy
arrays exactly once, on its way to the detector. Decoding is strict ("12" is not 12 and true is
not 1) and ignores unknown fields, as the contract says. A refused payload raises ContractError
with a reason naming the field and what is wrong with it (`gymfloor.contract.reasons`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Final, Literal, TypeVar

import msgspec
import numpy as np
from msgspec import Meta

from gymfloor.contract.reasons import PROBLEM_SEPARATOR, WHOLE, explain

if TYPE_CHECKING:
    import pydantic

VERSION: Final = 1
"""The contract version every payload carries as `v`."""

MAX_PAYLOAD_BYTES = 64 * 1024
"""Three channels of 1000 samples fit in about 30 KiB; anything far larger is not a batch."""

MAX_SAMPLES = 1000

# Plausibility bounds. A value outside them is a broken sensor or a corrupted message, and
# letting it through would poison the smoothing windows of that machine. Every number has
# bounds, so none can be NaN or infinite.
EPOCH_MIN = 946_684_800.0  # 2000-01-01
EPOCH_MAX = 4_102_444_800.0  # 2100-01-01
SLED_MM_MIN, SLED_MM_MAX = -100.0, 3000.0
KPA_MIN, KPA_MAX = -10.0, 500.0
LOAD_KG_MAX = 2000.0
HZ_MIN, HZ_MAX = 10.0, 1000.0

UnixTime = Annotated[float, Meta(ge=EPOCH_MIN, le=EPOCH_MAX)]
LoadKg = Annotated[float, Meta(ge=0.0, le=LOAD_KG_MAX)]
SledSample = Annotated[float, Meta(ge=SLED_MM_MIN, le=SLED_MM_MAX)] | None
KpaSample = Annotated[float, Meta(ge=KPA_MIN, le=KPA_MAX)] | None
Channel = Annotated[list[SledSample], Meta(min_length=1, max_length=MAX_SAMPLES)]
PressureChannel = Annotated[list[KpaSample], Meta(min_length=1, max_length=MAX_SAMPLES)]
Identifier = Annotated[str, Meta(min_length=1, max_length=128)]


class _Payload(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    # omit_defaults (which subclasses inherit): an optional field left at None is left out of
    # the JSON, as the contract's examples do, rather than sent as null.
    v: Literal[1]


class TelemetryPayload(_Payload, frozen=True, kw_only=True):
    seq: Annotated[int, Meta(ge=-(2**63), le=2**63 - 1)]
    boot: Annotated[str, Meta(max_length=64)] | None = None
    t0: UnixTime
    hz: Annotated[float, Meta(ge=HZ_MIN, le=HZ_MAX)]
    sled_mm: Channel
    lumbar_kpa: PressureChannel
    sacral_kpa: PressureChannel | None = None
    load_kg: LoadKg | None = None

    def __post_init__(self) -> None:
        # Runs after decoding too: msgspec reports the ValueError as the payload's problem.
        n = len(self.sled_mm)
        if len(self.lumbar_kpa) != n:
            raise ValueError(f"lumbar_kpa has {len(self.lumbar_kpa)} samples, sled_mm has {n}")
        if self.sacral_kpa is not None and len(self.sacral_kpa) != n:
            raise ValueError(f"sacral_kpa has {len(self.sacral_kpa)} samples, sled_mm has {n}")


class SessionPayload(_Payload, frozen=True, kw_only=True):
    event: Literal["start", "load", "end"]
    t: UnixTime
    session_id: Identifier
    member_id: Identifier | None = None
    load_kg: LoadKg | None = None
    # Extension: the member's configured depth limit as a sled position, for excessive_rom.
    depth_limit_mm: Annotated[float, Meta(gt=0.0, le=SLED_MM_MAX)] | None = None


class StatusPayload(_Payload, frozen=True, kw_only=True):
    state: Literal["online", "offline"]
    # The agent's will is fixed when it connects, so its time is optional.
    t: UnixTime | None = None


Payload = TelemetryPayload | SessionPayload | StatusPayload


class ContractError(ValueError):
    """A message breaks the contract. `reason` names the field and what is wrong with it;
    `column`, for a line of a recording that is not JSON, is where on the line (from 1)."""

    def __init__(self, reason: str, column: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.column = column


class TelemetryBatch(msgspec.Struct, frozen=True, eq=False):
    """A validated telemetry batch, as the detector takes it; `null` samples are NaN in the
    arrays. (A struct rather than a dataclass: it is made for every message, and a frozen
    dataclass takes several times as long to build.)"""

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


RawPayload = bytes | str | msgspec.Raw | dict[str, Any]
"""A payload as JSON text, or as an object already parsed from JSON."""

P = TypeVar("P", bound=_Payload)

_DECODERS: dict[type[_Payload], msgspec.json.Decoder[Any]] = {
    kind: msgspec.json.Decoder(kind) for kind in (TelemetryPayload, SessionPayload, StatusPayload)
}
_ENCODER = msgspec.json.Encoder()


def decode_payload(kind: type[P], raw: RawPayload) -> P:
    """`raw` as a validated `kind`; raises ContractError with the reason if it is not one."""
    try:
        if isinstance(raw, dict):
            result: P = msgspec.convert(raw, kind, strict=True)
            return result
        if len(raw) > MAX_PAYLOAD_BYTES:
            raise ContractError(f"payload: {len(raw)} bytes is over the {MAX_PAYLOAD_BYTES} limit")
        decoded: P = _DECODERS[kind].decode(raw)
        return decoded
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        raise ContractError(explain(kind, raw, error)) from None
    except UnicodeDecodeError as error:  # msgspec's, for invalid UTF-8 in a string it keeps
        raise ContractError(f"{WHOLE}: Invalid JSON: invalid UTF-8 ({error.reason})") from None
    except RecursionError:  # msgspec follows nesting on Python's stack, even in fields it skips
        raise ContractError(f"{WHOLE}: Invalid JSON: nested too deeply") from None


def to_batch(payload: TelemetryPayload) -> TelemetryBatch:
    """The payload's channels as float arrays, NaN for `null` (numpy converts None so)."""
    sacral = payload.sacral_kpa
    return TelemetryBatch(
        payload.seq,
        payload.boot,
        payload.t0,
        payload.hz,
        np.array(payload.sled_mm, dtype=np.float64),
        np.array(payload.lumbar_kpa, dtype=np.float64),
        None if sacral is None else np.array(sacral, dtype=np.float64),
        payload.load_kg,
    )


def decode_telemetry(raw: RawPayload) -> TelemetryBatch:
    return to_batch(decode_payload(TelemetryPayload, raw))


def decode_session(raw: RawPayload) -> SessionPayload:
    return decode_payload(SessionPayload, raw)


def decode_status(raw: RawPayload) -> StatusPayload:
    return decode_payload(StatusPayload, raw)


def encode_payload(payload: Payload) -> bytes:
    """The payload as compact JSON, the fields in the contract's order, absent ones left out.
    NaN and infinities become null: a drop-out in a sample array; anywhere else the decoders
    refuse it, as they would the NaN."""
    return _ENCODER.encode(payload)


def describe_error(exc: pydantic.ValidationError, whole: str = "payload") -> str:
    """A pydantic error (the settings') in the same form as a payload's reason: each problem
    as `field[index]: message` (`whole` names the object itself when the problem is not one
    field's), separated by `; `."""
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    problems = []
    for error in errors:
        where = "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"]
        )
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{where.lstrip('.') or whole}: {message}")
    return PROBLEM_SEPARATOR.join(problems)
