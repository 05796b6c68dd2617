"""The pytest fixtures that several test modules share (tests/conftest.py loads them)."""

import json
from pathlib import Path

import pytest

from gymfloor.contract import encode_line
from gymfloor_edge.simulator import SimulationPlan, simulate
from tests.support.processes import Report, canonical, gymfloor


@pytest.fixture(scope="session")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three machines, one member each, with the network's lost, repeated and late batches."""
    path = tmp_path_factory.mktemp("live") / "floor.jsonl"
    simulation = simulate(SimulationPlan(seed=11, machines=3, visits=1))
    with path.open("w") as out:
        for m in simulation.messages:
            out.write(encode_line(m.topic, m.payload, round(m.t, 4)) + "\n")
    return path


@pytest.fixture(scope="session")
def expected(recording: Path) -> list[Report]:
    """The rep reports `gymfloor analyze` finds in the recording."""
    done = gymfloor("analyze", str(recording))
    assert done.returncode == 0, done.stderr
    reports = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(reports) > 20
    return canonical(reports)
