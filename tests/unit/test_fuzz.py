"""Ingest against hostile messages (tests/support/fuzz.py): a thousand cases, derandomized, so
the suite stays quick and repeatable; bench/fuzz.py runs 100,000 and more."""

from __future__ import annotations

from hypothesis import given, settings

from gymfloor.contract import ContractError, decode_session, decode_status, decode_telemetry
from gymfloor.detector import Detector
from gymfloor.ingest.alerts import AlertPolicy
from gymfloor.ingest.pipeline import Pipeline
from tests.support.fuzz import RUN_SETTINGS, Message, cases, feed


@settings(max_examples=1000, derandomize=True, **RUN_SETTINGS)
@given(messages=cases)
def test_every_message_is_accepted_or_counted_as_one_reject(messages: list[Message]) -> None:
    pipeline = Pipeline(Detector(), AlertPolicy())
    for topic, payload in messages:
        feed(pipeline, topic, payload)


def test_deep_nesting_is_a_reject_not_a_recursion_error() -> None:
    """Found by the fuzzing: msgspec, and the lenient re-read that explains a refusal, follow
    nesting on Python's stack, and raised RecursionError out of ingest."""
    pipeline = Pipeline(Detector(), AlertPolicy())
    for nested in (b"[" * 30_000, b'{"a":' * 5_000 + b"1" + b"}" * 5_000):
        for payload in (nested, b'{"v":1,"sled_mm":' + nested + b"}"):
            for channel in ("telemetry", "session", "status"):
                assert not feed(pipeline, f"gymfloor/v1/g1/lp-01/{channel}", payload)
    for decode in (decode_telemetry, decode_session, decode_status):
        try:
            decode(b'{"unknown":' * 5_000 + b"}" * 5_000)
        except ContractError as error:
            assert error.reason == "payload: Invalid JSON: nested too deeply"
        else:
            raise AssertionError("a payload nested 5000 deep was decoded")


def test_invalid_utf8_in_a_kept_string_is_a_reject() -> None:
    """Found by the fuzzing: msgspec raised UnicodeDecodeError, not a DecodeError, for invalid
    UTF-8 inside a string it decodes (not inside one it skips)."""
    refused_on_every_channel(
        status=b'{"v":1,"state":"on\x80"}',
        session=b'{"v":1,"event":"start","t":1.7e9,"session_id":"s\xff"}',
        telemetry=b'{"v":1,"boot":"\xc3"}',
    )
    reason = status_refusal(b'{"v":1,"state":"on\x80"}')
    assert reason == "payload: Invalid JSON: invalid UTF-8 (invalid start byte)"


def test_a_lone_surrogate_escape_is_a_reject() -> None:
    """Found by the fuzzing: msgspec refuses `"\\ud800"`, Python's json (which explains the
    refusal) accepts it, and msgspec.convert then raised UnicodeEncodeError out of ingest."""
    refused_on_every_channel(
        status=rb'{"v":1,"state":"\ud800 \udc00"}',
        session=rb'{"v":1,"event":"start","t":1.7e9,"session_id":"\ud800 x"}',
        telemetry=rb'{"v":1,"boot":"\udc00 "}',
    )
    reason = status_refusal(rb'{"v":1,"state":"\ud800 \udc00"}')
    assert reason.startswith("payload: Invalid JSON: "), reason


def refused_on_every_channel(**payloads: bytes) -> None:
    """Each channel's payload is rejected, and counted once (`feed`)."""
    pipeline = Pipeline(Detector(), AlertPolicy())
    for channel, payload in payloads.items():
        assert not feed(pipeline, f"gymfloor/v1/g1/lp-01/{channel}", payload)


def status_refusal(payload: bytes) -> str:
    """Why the status decoder refuses `payload`; it must refuse it."""
    try:
        decode_status(payload)
    except ContractError as error:
        return error.reason
    raise AssertionError(f"{payload!r} was decoded")
