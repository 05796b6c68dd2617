"""A simulated floor as the tests use it: written as a recording, analysed by the command, and
what ingest stored of it."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gymfloor.contract import MACHINE_OFFLINE, Severity, StaffAlert, encode_line, encode_payload
from gymfloor.detector import Detector
from gymfloor.ingest.alerts import AlertPolicy
from gymfloor.ingest.pipeline import Pipeline
from gymfloor.outputs import Changes
from gymfloor.storage import OperationalStore
from gymfloor_edge.simulator import Published, SimulationPlan, simulate
from tests.support.processes import gymfloor

Report = dict[str, Any]


def two_gyms() -> Changes:
    """Everything the real pipeline derives from a simulated floor of two gyms, as ingest would
    write it: g1 with machines lp-01 and lp-02, g2 with lp-01; the same members train in both."""
    pipeline = Pipeline(Detector(), AlertPolicy(), trace_hz=10.0)
    for m in two_gyms_messages():
        pipeline.handle(m.topic, encode_payload(m.payload), m.t, live=False)
    return pipeline.take_changes()


def two_gyms_messages() -> list[Published]:
    """The messages of `two_gyms`' floor, in order of arrival."""
    g1 = simulate(SimulationPlan(seed=21, machines=2, visits=4, members=2))
    g2 = simulate(SimulationPlan(seed=22, machines=1, visits=3, members=2, gym_id="g2"))
    return sorted(g1.messages + g2.messages, key=lambda m: m.t)


def write_recording(path: Path, messages: Iterable[Published]) -> Path:
    """The messages as a recording (docs/CONTRACT.md section 6), arrival times to 0.1 ms."""
    path.write_text(
        "".join(encode_line(m.topic, m.payload, round(m.t, 4)) + "\n" for m in messages)
    )
    return path


def analyzed(recording: Path) -> list[Report]:
    """The rep reports `gymfloor analyze` finds in the recording, in its order."""
    done = gymfloor("analyze", str(recording))
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def recording_span(recording: Path) -> float:
    times = [json.loads(line)["received_at"] for line in recording.read_text().splitlines()]
    return max(times) - min(times)


def canonical(reports: list[Report]) -> list[Report]:
    return sorted(reports, key=lambda r: (r["gym_id"], r["machine_id"], r["t_start"]))


def busiest_members(reports: list[Report]) -> tuple[str, str]:
    """The two members with the most reps."""
    by_member = Counter(r["member_id"] for r in reports if r["member_id"])
    (first, _), (second, _) = by_member.most_common(2)
    return first, second


def store_url(data_dir: Path) -> str:
    """The store `gymfloor` keeps in `data_dir` by default."""
    return f"sqlite:///{data_dir / 'gymfloor.db'}"


@contextmanager
def stored(data_dir: Path) -> Iterator[OperationalStore]:
    store = OperationalStore(store_url(data_dir))
    try:
        yield store
    finally:
        store.close()


def stored_count(data_dir: Path) -> int:
    with stored(data_dir) as store:
        return sum(1 for _ in store.reports())


def exported(data_dir: Path) -> list[Report]:
    done = gymfloor("reps", "export", "--data-dir", str(data_dir))
    assert done.returncode == 0, done.stderr
    return canonical([json.loads(line) for line in done.stdout.splitlines()])


def offline_alert() -> StaffAlert:
    """A `machine_offline` alert as ingest raises it, not cleared yet."""
    return StaffAlert(
        id="a-offline",
        t=100.0,
        gym_id="g1",
        machine_id="lp-01",
        session_id="s-1",
        member_id="m-0001",
        severity=Severity.WARNING,
        kind=MACHINE_OFFLINE,
        message="lp-01: lost its connection with member m-0001 on it",
    )
