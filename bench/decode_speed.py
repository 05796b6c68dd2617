"""What decoding and validating a payload costs, side by side with the previous implementation.

Decodes one telemetry batch of 10 samples on each of 3 channels (one `null`), as every message
to ingest is, and one recording line holding that batch, as `gymfloor analyze` reads them:

- `msgspec`: `decode_telemetry` (bytes to a validated struct in one pass, then numpy arrays),
  and for the line `decode_line` then `decode_telemetry` of its raw payload; and the validated
  struct alone, without the arrays;
- `pydantic`: THE PREVIOUS IMPLEMENTATION, kept here only for comparison: the pydantic model
  gymfloor used before msgspec (`PreviousTelemetry` below, the same rules) and its
  conversion, three numpy arrays; the validated model alone; for the line, `json.loads` and
  the model from the object, as `gymfloor analyze` did;
- `json.loads` alone, and msgspec's own parse into plain Python objects, as floors.

The ways alternate within each repeat; the figures are medians of the repeats.

    python bench/decode_speed.py [--repeats 7] [--number 20000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Annotated, Any, Literal

import msgspec
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from gymfloor.contract import TelemetryPayload, decode_line, decode_telemetry, encode_line
from gymfloor.contract.payloads import (
    EPOCH_MAX,
    EPOCH_MIN,
    KPA_MAX,
    KPA_MIN,
    LOAD_KG_MAX,
    MAX_SAMPLES,
    SLED_MM_MAX,
    SLED_MM_MIN,
    decode_payload,
)

PAYLOAD: dict[str, Any] = {
    "v": 1,
    "seq": 1523,
    "boot": "7f3a9c",
    "t0": 1764064800.25,
    "hz": 100.0,
    "sled_mm": [12.1 + i for i in range(10)],
    "lumbar_kpa": [5.21] * 9 + [None],
    "sacral_kpa": [7.8] * 10,
    "load_kg": 140,
}

# -- The previous implementation (pydantic), for comparison only ---------------------------------

_Sled = Annotated[float, Field(allow_inf_nan=False, ge=SLED_MM_MIN, le=SLED_MM_MAX)] | None
_Kpa = Annotated[float, Field(allow_inf_nan=False, ge=KPA_MIN, le=KPA_MAX)] | None
_Time = Annotated[float, Field(allow_inf_nan=False, ge=EPOCH_MIN, le=EPOCH_MAX)]


class PreviousTelemetry(BaseModel):
    """gymfloor's telemetry model before msgspec, as it was."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    v: Literal[1]
    seq: Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
    boot: Annotated[str, Field(max_length=64)] | None = None
    t0: _Time
    hz: Annotated[float, Field(allow_inf_nan=False, ge=10.0, le=1000.0)]
    sled_mm: Annotated[list[_Sled], Field(min_length=1, max_length=MAX_SAMPLES)]
    lumbar_kpa: Annotated[list[_Kpa], Field(min_length=1, max_length=MAX_SAMPLES)]
    sacral_kpa: Annotated[list[_Kpa], Field(min_length=1, max_length=MAX_SAMPLES)] | None = None
    load_kg: Annotated[float, Field(allow_inf_nan=False, ge=0.0, le=LOAD_KG_MAX)] | None = None

    @model_validator(mode="after")
    def _channels_have_equal_length(self) -> PreviousTelemetry:
        n = len(self.sled_mm)
        if len(self.lumbar_kpa) != n or (self.sacral_kpa is not None and len(self.sacral_kpa) != n):
            raise ValueError("channels differ in length")
        return self


def previous_batch(p: PreviousTelemetry) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The previous conversion: an array per channel."""
    sacral = None if p.sacral_kpa is None else np.array(p.sacral_kpa, dtype=np.float64)
    return np.array(p.sled_mm, dtype=np.float64), np.array(p.lumbar_kpa, dtype=np.float64), sacral


def previous_decode(raw: bytes) -> object:
    return previous_batch(PreviousTelemetry.model_validate_json(raw))


def previous_decode_line(line: bytes) -> object:
    return previous_batch(PreviousTelemetry.model_validate(json.loads(line)["payload"]))


# ------------------------------------------------------------------------------------------------


def new_decode_line(line: bytes) -> object:
    message = decode_line(line)
    assert message is not None
    return decode_telemetry(message.payload)


def per_call_us(
    ways: dict[str, Callable[[], object]], repeats: int, number: int
) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(repeats):
        for name, call in ways.items():
            start = time.perf_counter()
            for _ in range(number):
                call()
            times[name].append((time.perf_counter() - start) / number * 1e6)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--number", type=int, default=20_000, help="calls per repeat and way")
    args = parser.parse_args()

    raw = json.dumps(PAYLOAD).encode()
    line = encode_line("gymfloor/v1/g1/lp-01/telemetry", PAYLOAD, 1764064800.35).encode()
    assert np.array_equal(previous_decode(raw)[0], decode_telemetry(raw).sled_mm)  # type: ignore[index]
    ways: dict[str, Callable[[], object]] = {
        "payload, msgspec": lambda: decode_telemetry(raw),
        "payload, pydantic (previous)": lambda: previous_decode(raw),
        "  validated struct only": lambda: decode_payload(TelemetryPayload, raw),
        "  validated model only (previous)": lambda: PreviousTelemetry.model_validate_json(raw),
        "payload, json.loads alone": lambda: json.loads(raw),
        "payload, msgspec parse alone": lambda: msgspec.json.decode(raw),
        "line, msgspec": lambda: new_decode_line(line),
        "line, pydantic (previous)": lambda: previous_decode_line(line),
    }
    us = per_call_us(ways, args.repeats, args.number)
    print(
        f"telemetry batch of 10 samples x 3 channels: payload {len(raw)} B, line {len(line)} B; "
        f"median of {args.repeats} repeats of {args.number} calls"
    )
    for name, value in us.items():
        print(f"  {name:34s} {value:6.2f} us/message")
    payload = us["payload, pydantic (previous)"] / us["payload, msgspec"]
    line_ratio = us["line, pydantic (previous)"] / us["line, msgspec"]
    print(f"  previous / msgspec: payload {payload:.2f}x, line {line_ratio:.2f}x")


if __name__ == "__main__":
    main()
