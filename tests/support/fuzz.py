"""Hostile MQTT messages for ingest, as hypothesis strategies, and the property they must keep:
shared by the fuzz test (tests/unit/test_fuzz.py) and its long run (bench/fuzz.py).

The property: whatever the topic and the payload bytes, `Pipeline.handle` returns, and counts
the message exactly once, as accepted (`counters.messages`) or as a reject (`rejects.total`).

The payloads range from random bytes to contract payloads with one field or more made hostile:
out of bounds, huge or non-finite numbers (written as JSON text the encoders would not write),
wrong types, deep nesting, arrays past the sample limit, fields missing or unknown, the text cut
short or its bytes made invalid UTF-8. Each message of a case goes to one pipeline in turn, so
the detector also meets hostile sequences (times and sequence numbers going backwards).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck
from hypothesis import strategies as st

from gymfloor.contract import MachineChannel
from gymfloor.contract.payloads import (
    EPOCH_MAX,
    EPOCH_MIN,
    HZ_MAX,
    HZ_MIN,
    KPA_MAX,
    KPA_MIN,
    LOAD_KG_MAX,
    MAX_PAYLOAD_BYTES,
    MAX_SAMPLES,
    SLED_MM_MAX,
    SLED_MM_MIN,
    VERSION,
)
from gymfloor.contract.topics import PREFIX
from gymfloor.ingest.pipeline import Pipeline

RUN_SETTINGS: dict[str, Any] = {
    "deadline": None,
    "database": None,
    # The cases are large on purpose (payloads up to the size limit, arrays past the sample one).
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
"""What the suite's run and bench/fuzz.py share, beside their number of cases and seed."""

Message = tuple[str, bytes]


@dataclass(frozen=True, slots=True)
class Token:
    """JSON text written as is: numbers no encoder writes (`1e999`, `NaN`, 400 digits)."""

    text: str


def to_json(value: Any) -> str:
    """`value` as JSON text, with `Token`s written verbatim."""
    if isinstance(value, Token):
        return value.text
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(to_json(item) for item in value) + "]"
    return json.dumps(value)  # NaN and infinities too, as `NaN` and `Infinity`


# -- topics ------------------------------------------------------------------------------------

identifiers = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)
bad_identifiers = st.one_of(
    st.just(""),
    st.text(min_size=65, max_size=80, alphabet="ab"),
    st.text(st.characters(exclude_characters="/"), min_size=1, max_size=10),
    st.sampled_from(["+", "#", "a b", "é", "\x00", "..", "a/b"]),
)
channels = st.one_of(
    st.sampled_from([channel.value for channel in MachineChannel]),
    st.from_regex(r"[a-z]{1,12}", fullmatch=True),
    st.text(max_size=12),
)
topics = st.one_of(
    st.builds(lambda g, m, c: f"{PREFIX}/{g}/{m}/{c}", identifiers, identifiers, channels),
    st.builds(lambda g, m, c: f"{PREFIX}/{g}/{m}/{c}", bad_identifiers, identifiers, channels),
    st.builds(lambda g, m, c: f"{PREFIX}/{g}/{m}/{c}", identifiers, bad_identifiers, channels),
    st.builds(
        lambda prefix, rest: f"{prefix}/{rest}",
        st.sampled_from(["gymfloor/v2", "gymfloor", "", "gymfloor/v1/g1", "GYMFLOOR/v1"]),
        st.text(max_size=40),
    ),
    st.text(max_size=200),
)

# -- payloads ----------------------------------------------------------------------------------


def _floats(low: float, high: float) -> st.SearchStrategy[float]:
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


def _samples(low: float, high: float, n: int) -> st.SearchStrategy[list[Any]]:
    sample = st.one_of(_floats(low, high), st.none())
    return st.lists(sample, min_size=n, max_size=n)


@st.composite
def _telemetry(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 30))
    payload: dict[str, Any] = {
        "v": VERSION,
        "seq": draw(st.integers(-(2**63), 2**63 - 1) | st.integers(0, 50)),
        "t0": draw(_floats(EPOCH_MIN, EPOCH_MAX) | _floats(1.7e9, 1.7e9 + 60)),
        "hz": draw(_floats(HZ_MIN, HZ_MAX) | st.sampled_from([HZ_MIN, 100.0, HZ_MAX])),
        "sled_mm": draw(_samples(SLED_MM_MIN, SLED_MM_MAX, n)),
        "lumbar_kpa": draw(_samples(KPA_MIN, KPA_MAX, n)),
    }
    if draw(st.booleans()):
        payload["sacral_kpa"] = draw(_samples(KPA_MIN, KPA_MAX, n))
    if draw(st.booleans()):
        payload["load_kg"] = draw(_floats(0.0, LOAD_KG_MAX))
    if draw(st.booleans()):
        payload["boot"] = draw(st.text(max_size=64))
    return payload


_sessions = st.fixed_dictionaries(
    {
        "v": st.just(VERSION),
        "event": st.sampled_from(["start", "load", "end"]),
        "t": _floats(EPOCH_MIN, EPOCH_MAX) | _floats(1.7e9, 1.7e9 + 60),
        "session_id": st.text(min_size=1, max_size=128),
    },
    optional={
        "member_id": st.text(min_size=1, max_size=128),
        "load_kg": _floats(0.0, LOAD_KG_MAX),
        "depth_limit_mm": _floats(1e-9, SLED_MM_MAX),
    },
)
_statuses = st.fixed_dictionaries(
    {"v": st.just(VERSION), "state": st.sampled_from(["online", "offline"])},
    optional={"t": _floats(EPOCH_MIN, EPOCH_MAX)},
)

hostile_numbers = st.one_of(
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "-0", "1E+308"]).map(Token),
    st.integers(60, 5000).map(lambda digits: Token("9" * digits)),
    st.integers(min_value=2**63) | st.integers(max_value=-(2**63) - 1),
    st.floats(),  # NaN, infinities, extremes
)
wrong_types = st.one_of(
    st.none(), st.booleans(), st.text(max_size=20), st.just([]), st.just({}), st.integers()
)


@st.composite
def _nested(draw: st.DrawFn) -> Token:
    depth = draw(st.integers(1, 40_000))
    open_, close = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
    return Token(open_ * depth + draw(st.sampled_from(["1", "null", ""])) + close * depth)


@st.composite
def _huge_array(draw: st.DrawFn) -> Token:
    """Past the sample limit, or merely long; one repeated item keeps it quick to draw."""
    n = draw(st.sampled_from([MAX_SAMPLES, MAX_SAMPLES + 1]) | st.integers(0, 12_000))
    item = to_json(draw(st.none() | st.floats() | st.integers()))
    return Token("[" + ",".join([item] * n) + "]")


hostile_values = st.one_of(hostile_numbers, wrong_types, _nested(), _huge_array())


_BASES: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "telemetry": _telemetry(),
    "session": _sessions,
    "status": _statuses,
}
"""A valid payload for each ingest channel."""


@st.composite
def _mutated(draw: st.DrawFn, channel: str) -> dict[str, Any]:
    """A contract payload of `channel` with some of its fields (or their samples) made hostile,
    removed, or joined by unknown ones; left whole now and then, to reach the detector."""
    payload = dict(draw(_BASES[channel]))
    for _ in range(draw(st.sampled_from([0, 0, 1, 2, 3]))):
        if not payload:
            break
        field = draw(st.sampled_from(sorted(payload)))
        action = draw(st.sampled_from(["replace", "sample", "drop", "add"]))
        if action == "replace":
            payload[field] = draw(hostile_values)
        elif action == "sample" and isinstance(payload[field], list) and payload[field]:
            samples = list(payload[field])
            samples[draw(st.integers(0, len(samples) - 1))] = draw(hostile_values)
            payload[field] = samples
        elif action == "drop":
            del payload[field]
        else:
            payload[draw(st.text(max_size=10))] = draw(hostile_values)
    return payload


@st.composite
def _near_valid(draw: st.DrawFn, channel: str) -> bytes:
    """A mutated payload as JSON, now and then cut short or spliced with random bytes."""
    data = to_json(draw(_mutated(channel))).encode()
    damage = draw(st.sampled_from(["none", "none", "cut", "bytes"]))
    if damage == "cut":
        data = data[: draw(st.integers(0, len(data)))]
    elif damage == "bytes":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=4)) + data[at:]
    return data


payloads = st.one_of(
    *(_near_valid(channel) for channel in _BASES),
    st.binary(max_size=256),
    st.builds(  # about the size limit: a short pattern repeated, quicker to draw than random
        lambda pattern, size: (pattern * (size // len(pattern) + 1))[:size],
        st.binary(min_size=1, max_size=16),
        st.integers(MAX_PAYLOAD_BYTES - 2, MAX_PAYLOAD_BYTES + 2),
    ),
    st.builds(to_json, hostile_values).map(str.encode),
)

# -- messages ----------------------------------------------------------------------------------


@st.composite
def _message(draw: st.DrawFn, machine: str) -> Message:
    """Mostly to the case's machine on the ingest channels, so payloads reach the decoders and
    the detector; otherwise to any topic at all."""
    if draw(st.integers(0, 3)) == 0:
        return draw(topics), draw(payloads)
    channel = draw(st.sampled_from(["telemetry", "telemetry", "session", "status"]))
    payload = draw(st.one_of(_near_valid(channel), _near_valid(channel), payloads))
    return f"{PREFIX}/{machine}/{channel}", payload


cases = st.lists(_message("g1/lp-01"), min_size=1, max_size=4)
"""One case: a few messages, in turn, to a fresh pipeline."""


def feed(pipeline: Pipeline, topic: str, payload: bytes) -> bool:
    """Hand the message to the pipeline; True if accepted, False if rejected. Fails unless it
    was counted exactly once, as one or the other; any exception the pipeline raises escapes."""
    accepted, rejected = pipeline.counters.messages, pipeline.rejects.total
    pipeline.handle(topic, payload, received_at=1.7e9, live=True)
    accepted = pipeline.counters.messages - accepted
    rejected = pipeline.rejects.total - rejected
    assert (accepted, rejected) in {(1, 0), (0, 1)}, (topic, payload[:200], accepted, rejected)
    return accepted == 1
