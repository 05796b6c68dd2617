"""docs/CONTRACT.md against the code it documents: every topic, payload field, fault, limit and
default threshold the page names is the code's, and every reference to a section of it exists.
A change to the contract's code that the page does not follow fails here."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import msgspec
import pytest
from pydantic import BaseModel

from gymfloor.coaching import CUES
from gymfloor.contract import (
    FAULT_LABELS,
    ID_PATTERN,
    Fault,
    Feedback,
    MachineChannel,
    MachineKey,
    RecordedMessage,
    Rejected,
    RepReport,
    SessionPayload,
    StaffAlert,
    StatusPayload,
    TelemetryPayload,
    alerts_topic,
)
from gymfloor.contract.payloads import MAX_PAYLOAD_BYTES, ContractError, decode_telemetry
from gymfloor.contract.reasons import PROBLEM_SEPARATOR
from gymfloor.contract.recording import MAX_LINE_BYTES
from gymfloor.detector.config import DetectorConfig
from gymfloor.ingest.rejects import ECHO_MAX_BYTES, RejectLog
from gymfloor.settings_names import env_var

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "CONTRACT.md").read_text()

Row = list[str]


def _sections(text: str) -> dict[str, list[Row]]:
    """Each heading's table (rows of cells, header and rule left out), by the heading's text."""
    tables: dict[str, list[Row]] = {}
    heading = ""
    for line in text.splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif line.startswith("|") and not re.fullmatch(r"\|[-| ]+\|", line):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            tables.setdefault(heading, []).append(cells)
    return {heading: rows[1:] for heading, rows in tables.items()}


TABLES = _sections(DOC)


def _name(cell: str) -> str:
    """The name a table row is about: its first cell's code."""
    match = re.fullmatch(r"`([^`]+)`", cell)
    assert match is not None, f"{cell!r} is not one `name`"
    return match[1]


def _rows(heading: str) -> dict[str, Row]:
    assert heading in TABLES, f"docs/CONTRACT.md has no table under {heading!r}"
    return {_name(row[0]): row for row in TABLES[heading]}


def _number(value: float) -> str:
    """A number as the page writes it: 946684800, -100, 0.85."""
    return format(value, ".15g")


# -- topics -----------------------------------------------------------------------------------


def test_the_topics_are_the_codes_channels_and_alerts_topic() -> None:
    topics = set(_rows("1. Topics"))
    machine = MachineKey("{gym}", "{machine}")
    assert topics == {machine.topic(channel) for channel in MachineChannel} | {
        alerts_topic("{gym}")
    }
    assert f"`{ID_PATTERN.pattern}`" in DOC


# -- payloads ---------------------------------------------------------------------------------

PAYLOADS: dict[str, type[msgspec.Struct] | type[BaseModel]] = {
    "2. Telemetry batch": TelemetryPayload,
    "Session event": SessionPayload,
    "Machine status": StatusPayload,
    "4. Rep report": RepReport,
    "Feedback": Feedback,
    "Staff alerts": StaffAlert,
    "6. Recordings": RecordedMessage,
    "7. Validation and rejected messages": Rejected,
}


@pytest.mark.parametrize("heading", PAYLOADS)
def test_every_payload_field_is_documented_in_the_codes_order(heading: str) -> None:
    """What an agent sends (and a recording holds) is documented with whether each field is
    required; what ingest sends, which carries every field, with whether it may be null."""
    rows, kind = _rows(heading), PAYLOADS[heading]
    if issubclass(kind, BaseModel):
        assert list(rows) == list(kind.model_fields)
        for name, model_field in kind.model_fields.items():
            nullable = type(None) in get_args(model_field.annotation)
            assert ("`null`" in rows[name][1]) == nullable, (heading, name)
    else:
        fields = msgspec.structs.fields(kind)
        assert list(rows) == [field.encode_name for field in fields]  # the reasons' order too
        for field in fields:
            assert rows[field.encode_name][1] == ("yes" if field.required else "no"), field.name


def _accepted(kind: msgspec.inspect.Type) -> Iterator[str]:
    """What the page must say of a field's accepted values, from the decoder's own type."""
    if isinstance(kind, msgspec.inspect.UnionType):
        for member in kind.types:
            yield from _accepted(member)
    elif isinstance(kind, msgspec.inspect.ListType):
        yield from _accepted(kind.item_type)
    elif isinstance(kind, msgspec.inspect.LiteralType):
        yield from (f"`{value}`" for value in kind.values)
    elif isinstance(kind, msgspec.inspect.IntType) and kind.ge == -(2**63):
        assert kind.le == 2**63 - 1
        yield "a signed 64-bit integer"
    elif isinstance(kind, msgspec.inspect.IntType | msgspec.inspect.FloatType):
        if kind.gt is not None:
            yield f"above {_number(kind.gt)}, at most {_number(kind.le or 0)}"
        else:
            yield f"{_number(kind.ge or 0)} to {_number(kind.le or 0)}"
    elif isinstance(kind, msgspec.inspect.StrType):
        if kind.min_length:
            yield f"{kind.min_length} to {kind.max_length} characters"
        else:
            yield f"at most {kind.max_length} characters"


@pytest.mark.parametrize("payload", [TelemetryPayload, SessionPayload, StatusPayload])
def test_the_accepted_values_are_the_decoders_bounds(payload: type[msgspec.Struct]) -> None:
    heading = next(heading for heading, kind in PAYLOADS.items() if kind is payload)
    rows = _rows(heading)
    for field in msgspec.inspect.type_info(payload).fields:  # type: ignore[attr-defined]
        accepted = rows[field.encode_name][3]
        for phrase in _accepted(field.type):
            assert phrase in accepted, (heading, field.name, phrase)


def test_the_limits_on_sizes_are_the_codes() -> None:
    sled = msgspec.inspect.type_info(TelemetryPayload).fields[5].type  # type: ignore[attr-defined]
    assert isinstance(sled, msgspec.inspect.ListType)
    assert f"from {sled.min_length} to {sled.max_length} samples" in DOC
    assert f"JSON object of at most {MAX_PAYLOAD_BYTES} bytes" in DOC
    assert f"A line may be at most {MAX_LINE_BYTES} bytes" in DOC
    assert DOC.count(f"first {ECHO_MAX_BYTES} bytes") == 1
    assert f"longer than {ECHO_MAX_BYTES} bytes" in DOC


def test_the_handling_of_rejects_is_the_codes() -> None:
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(RejectLog.__init__).parameters.items()
    }
    assert f"within {_number(defaults['log_interval_s'])} s in one line" in DOC
    assert (
        f"at most {_number(defaults['echo_per_s'])} a second per machine, in bursts of up to "
        f"{defaults['echo_burst']}"
    ) in DOC


def test_the_example_reason_is_the_one_the_decoder_gives() -> None:
    batch: dict[str, Any] = {
        "v": 1,
        "seq": 1,
        "t0": 1764064800.0,
        "hz": 2000.0,
        "sled_mm": [1.0, 2.0, float("nan")],
        "lumbar_kpa": [5.0, 5.0, 5.0],
    }
    with pytest.raises(ContractError) as refused:
        decode_telemetry(batch)
    assert PROBLEM_SEPARATOR in refused.value.reason  # several problems, all listed
    assert f"\n{refused.value.reason}\n" in DOC


# -- faults and thresholds --------------------------------------------------------------------


def test_every_fault_is_documented_with_its_label_and_cue() -> None:
    rows = _rows("The faults")
    assert list(rows) == [fault.value for fault in Fault]
    for fault in Fault:
        assert rows[fault.value][1:3] == [f'"{FAULT_LABELS[fault]}"', f'"{CUES[fault]}"']


def test_every_threshold_is_documented_with_its_default_variable_and_flag() -> None:
    rows = _rows("What counts") | _rows("Further detector settings")
    assert sorted(rows) == sorted(DetectorConfig.model_fields)
    for name, field in DetectorConfig.model_fields.items():
        default, variable, flag = rows[name][1:4]
        shown = re.match(r"[-0-9.]+", default)
        assert shown is not None and float(shown[0]) == field.default, name
        assert variable == f"`{env_var(f'detector.{name}')}`"
        assert flag == f"`--{name.replace('_', '-')}`"


def test_the_rules_name_the_thresholds_of_the_contract() -> None:
    rules = DOC.split("### What counts", 1)[1].split("| threshold |", 1)[0]
    for name in _rows("What counts"):
        assert f"`{name}`" in rules, name


# -- references to the page -------------------------------------------------------------------

REFERENCE = re.compile(r'CONTRACT\.md,? sections? (\d+)(?: and (\d+))?(?:,? "([^"]+)")?')
SEARCHED = ("README.md", "docs", "services", "edge", "deploy", "dashboards", "bench", "tests")
SUFFIXES = {".md", ".py", ".js", ".html", ".yml", ".yaml", ""}


def _slug(heading: str) -> str:
    """A heading's anchor, as GitHub makes it."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def _numbered() -> dict[str, str]:
    """Each numbered section's text, by its number."""
    parts = re.split(r"^## (\d+)\. ", DOC, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def _texts() -> Iterator[tuple[Path, str]]:
    for top in SEARCHED:
        for path in [ROOT / top] if (ROOT / top).is_file() else (ROOT / top).rglob("*"):
            if path.is_file() and path.suffix in SUFFIXES and "node_modules" not in path.parts:
                try:
                    yield path, path.read_text()
                except UnicodeDecodeError:
                    continue


def test_every_reference_to_a_section_names_one_that_exists() -> None:
    sections = _numbered()
    found = 0
    for path, text in _texts():
        if path.name == "test_contract_doc.py":
            continue
        assert not re.search(r"contract sections? \d", text, re.IGNORECASE), path
        for match in REFERENCE.finditer(text):
            found += 1
            for number in filter(None, match.group(1, 2)):
                assert number in sections, (path, match[0])
            if match[3]:
                section = sections[match[1]]
                assert section.startswith(match[3]) or f"### {match[3]}\n" in section, (
                    path,
                    match[0],
                )
    assert found > 10


def test_the_pages_own_links_lead_to_its_headings() -> None:
    anchors = {_slug(line.lstrip("#").strip()) for line in DOC.splitlines() if line.startswith("#")}
    links = re.findall(r"\]\(#([^)]+)\)", DOC)
    assert links and set(links) <= anchors
