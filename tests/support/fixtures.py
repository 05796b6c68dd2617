"""The pytest fixtures that several test modules share (tests/conftest.py loads them)."""

from pathlib import Path
from typing import Any

import pytest

from gymfloor_edge.simulator import SimulationPlan, simulate
from tests.support.floor import Report, analyzed, canonical, write_recording
from tests.support.stack import env_example, load_compose


@pytest.fixture(scope="session")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three machines, one member each, with the network's lost, repeated and late batches."""
    simulation = simulate(SimulationPlan(seed=11, machines=3, visits=1))
    return write_recording(tmp_path_factory.mktemp("live") / "floor.jsonl", simulation.messages)


@pytest.fixture(scope="session")
def expected(recording: Path) -> list[Report]:
    """The rep reports `gymfloor analyze` finds in the recording."""
    reports = analyzed(recording)
    assert len(reports) > 20
    return canonical(reports)


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    """The compose file with .env.example's values, as `docker compose` would see it."""
    return load_compose(env_example())
