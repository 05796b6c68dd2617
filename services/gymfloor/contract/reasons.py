"""Why a payload was refused: the fields (and samples) at fault and what is wrong with each.

Decoding stops at the first problem, and a JSON parser that follows the standard cannot say
where a `NaN` sits. So only once a payload has been refused, it is read again leniently
(Python's `json` accepts `NaN` and `Infinity`) and each field is checked on its own against
its declared type, which names every problem precisely.
"""

from __future__ import annotations

import functools
import json
import math
import re
import typing
from typing import Any

import msgspec

WHOLE = "payload"
"""How a reason names the payload itself, when a problem is not one field's."""
PROBLEM_SEPARATOR = "; "
"""Between the problems of a reason that names several: every one is listed, so a device's
vendor can fix them all at once."""

_MESSAGE = re.compile(r"(?P<what>.*?)(?: - at `\$(?P<path>[^`]*)`)?", re.DOTALL)
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
_NOT_JSON = object()


def explain(payload_type: type[msgspec.Struct], raw: Any, error: msgspec.MsgspecError) -> str:
    """The reason `raw` (JSON text, or an object already parsed) is not a `payload_type`:
    `field[index]: what is wrong` for every field with a problem."""
    try:
        value = raw if isinstance(raw, dict) else _lenient_json(raw)
        problems = [] if value is _NOT_JSON else _problems(payload_type, value)
    # Nested deeper than Python's json and msgspec.convert can follow; or a lone surrogate
    # (`"\ud800"`), which Python's json lets through and msgspec.convert cannot encode.
    except (RecursionError, UnicodeEncodeError):
        value, problems = _NOT_JSON, []
    if not problems:  # not JSON even leniently, or JSON in a form msgspec does not read
        problems = [_describe(payload_type, error, "", value)]
    return PROBLEM_SEPARATOR.join(problems)


def _lenient_json(raw: Any) -> Any:
    try:
        return json.loads(bytes(raw) if isinstance(raw, msgspec.Raw) else raw)
    except ValueError:  # also UnicodeDecodeError
        return _NOT_JSON


def _problems(payload_type: type[msgspec.Struct], value: Any) -> list[str]:
    """One reason per field with a problem, in the contract's order; failing those, the
    payload's own rules (such as equal channel lengths)."""
    problems: list[str] = []
    if isinstance(value, dict):
        for field in msgspec.structs.fields(payload_type):
            if field.encode_name not in value:
                if field.required:
                    problems.append(f"{field.name}: Missing required field")
                continue
            field_value = value[field.encode_name]
            try:
                msgspec.convert(field_value, field.type, strict=True)
            except msgspec.ValidationError as error:
                problems.append(_describe(payload_type, error, field.name, field_value))
    if not problems:
        try:
            msgspec.convert(value, payload_type, strict=True)
        except msgspec.ValidationError as error:
            problems.append(_describe(payload_type, error, "", value))
    return problems


def _describe(
    payload_type: type[msgspec.Struct], error: msgspec.MsgspecError, field: str, value: Any
) -> str:
    """msgspec's message in the project's form: `Expected … - at `$.sled_mm[3]`` becomes
    `sled_mm[3]: Expected …`. `value` is what the path in the message starts from."""
    if not isinstance(error, msgspec.ValidationError):  # (which is also a DecodeError)
        detail = str(error).removeprefix("JSON is malformed: ")
        return f"{WHOLE}: Invalid JSON: {detail}"
    match = _MESSAGE.fullmatch(str(error))
    assert match is not None  # the pattern matches any text
    what, path = match["what"], match["path"] or ""
    where = (field + path).lstrip(".") or WHOLE
    found = _at(value, path)
    if isinstance(found, float) and not math.isfinite(found):
        what = f"Expected a finite number, got {json.dumps(found)}"
    elif what.startswith("Invalid enum value"):
        choices = _choices(payload_type).get(where)
        if choices:
            what = f"{what} (expected {choices})"
    return f"{where}: {what}"


def _at(value: Any, path: str) -> Any:
    """The part of `value` that a message's path (`.sled_mm[3]`) points to, or None."""
    for name, index in _STEP.findall(path):
        try:
            value = value[int(index)] if index else value[name]
        except (KeyError, IndexError, TypeError):
            return None
    return value


@functools.cache
def _choices(payload_type: type[msgspec.Struct]) -> dict[str, str]:
    """For each field that takes one of a few values, those values: `'a', 'b' or 'c'`."""
    choices = {}
    for field in msgspec.structs.fields(payload_type):
        if typing.get_origin(field.type) is typing.Literal:
            shown = [repr(choice) for choice in typing.get_args(field.type)]
            choices[field.name] = (
                shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"
            )
    return choices
