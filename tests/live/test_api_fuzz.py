"""schemathesis against the real `gymfloor api` over a floor of two gyms, with the tokens of a
member, of staff of each gym and of an admin: every operation with the parameters and bodies it
draws from the OpenAPI schema, then sequences of calls along the links it infers between the
operations (a token created, then read in the list and revoked; a member added, then read).
Never a 5xx (`not_a_server_error`); bench/api_fuzz.py runs the same at length."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import FlakyStrategyDefinition
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.core.transport import Response
from schemathesis.schemas import BaseSchema

from tests.support.floor import stored, two_gyms
from tests.support.processes import api, issue_token

ROLES = {
    "member": ("--role", "member", "--member", "m-0001"),
    "staff_g1": ("--role", "staff", "--gym", "g1"),
    "staff_g2": ("--role", "staff", "--gym", "g2"),
    "admin": ("--role", "admin"),
}
NOT_THEIRS = {
    "member": r"^/v1/(reps|alerts|machines|members|tokens)",
    "staff_g1": r"^/v1/(me|members|tokens)",
    "staff_g2": r"^/v1/(me|members|tokens)",
}
"""The operations outside a role, left out of its sequences: a refused root step leads on to
nothing. (Every role still calls every operation in the test of single calls.)"""
STREAM = "/v1/alerts/stream"
"""Never ends, so no fuzzing; tests/live/test_api_gyms.py covers it for every role."""
READYZ = "/readyz"
"""Answers its documented 503 here, as no ingest has reported a broker."""


@dataclass
class Floor:
    schema: BaseSchema
    tokens: dict[str, str]

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@contextmanager
def serving(directory: Path) -> Iterator[Floor]:
    """`gymfloor api` over a floor of two gyms stored in `directory`, with a token per role."""
    with stored(directory) as store:
        store.write(two_gyms(), keep_trace_s=600)
    tokens = {role: issue_token(directory, *args) for role, args in ROLES.items()}
    with api(directory) as (base, _):
        schema = schemathesis.openapi.from_url(f"{base}/openapi.json").exclude(path=STREAM)
        yield Floor(schema, tokens)


@pytest.fixture(scope="module")
def floor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Floor]:
    with serving(tmp_path_factory.mktemp("api-fuzz")) as served:
        yield served


def operations(schema: BaseSchema) -> list[Any]:
    found = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"the schema has an invalid operation: {result}"
        found.append(result.ok())
    return found


def fuzz(floor: Floor, role: str, examples: int) -> Counter[str]:
    """Every operation, up to `examples` cases each (fewer where the schema allows fewer),
    with the role's token; the cases sent, by operation."""
    sent: Counter[str] = Counter()
    for operation in operations(floor.schema):

        @given(case=operation.as_strategy())
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def no_server_error(case: Case) -> None:
            response = case.call(headers=floor.auth(role))
            sent[f"{case.method} {case.path}"] += 1
            if case.path == READYZ:
                assert response.status_code in {200, 503}, response.text
            else:
                case.validate_response(response, checks=[not_a_server_error])

        no_server_error()
    return sent


def stateful(floor: Floor, role: str, scenarios: int, steps: int) -> list[str]:
    """Sequences along the links, with the role's token; the operations called, in order."""
    called: list[str] = []
    schema = floor.schema
    if role in NOT_THEIRS:
        schema = schema.exclude(path_regex=NOT_THEIRS[role])

    class Sequences(schema.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: Case) -> None:
            # Over any Authorization the schema's security scheme drew.
            case.headers.update(floor.auth(role))

        def validate_response(
            self, response: Response, case: Case, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            called.append(f"{case.method} {case.path} {response.status_code}")
            if case.path != READYZ:
                case.validate_response(response, checks=[not_a_server_error])

    # A step's draws depend on what the server answered before, so hypothesis may find that two
    # scenarios with the same start drew differently, and stop: the scenarios so far stand, as
    # in schemathesis's own runner. (A 5xx is a FailureGroup, or FlakyFailure, never this.)
    with contextlib.suppress(FlakyStrategyDefinition):
        Sequences.run(
            settings=settings(
                max_examples=scenarios,
                stateful_step_count=steps,
                # Generation alone, as schemathesis runs sequences; not derandomized, as no
                # replay would draw the same.
                phases=[Phase.generate],
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
        )
    return called


@pytest.mark.parametrize("role", ROLES)
def test_no_operation_answers_a_server_error(floor: Floor, role: str) -> None:
    every = {f"{op.method.upper()} {op.path}" for op in operations(floor.schema)}
    assert {"POST /v1/tokens", "DELETE /v1/tokens/{token_id}", "GET /v1/reps"} <= every
    sent = fuzz(floor, role, examples=10)
    assert set(sent) == every
    assert sent["GET /v1/reps"] == sent["POST /v1/tokens"] == 10


@pytest.mark.parametrize("role", ROLES)
def test_no_sequence_of_calls_along_the_links_answers_a_server_error(
    floor: Floor, role: str
) -> None:
    called = stateful(floor, role, scenarios=20, steps=6)
    # Links were followed: calls on something an earlier call returned, answered.
    assert any("{" in path and status.startswith("2") for _, path, status in map(str.split, called))
