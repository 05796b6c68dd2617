"""The same store on PostgreSQL: what the pipeline produced, written to SQLite and to a real
PostgreSQL server, reads back the same through every read the API makes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from gymfloor.contract import Fault, encode_payload
from gymfloor.detector import Detector
from gymfloor.ingest.alerts import AlertPolicy
from gymfloor.ingest.pipeline import Pipeline
from gymfloor.outputs import Changes
from gymfloor.storage import OperationalStore
from gymfloor.storage.alerts import AlertFilter, FeedPosition, acknowledge, feed_after, page_alerts
from gymfloor.storage.machines import machine_trace, page_machines
from gymfloor.storage.models import Role
from gymfloor.storage.pagination import Page
from gymfloor.storage.reps import RepFilter, page_reps
from gymfloor.storage.schema import metadata
from gymfloor.storage.sessions import page_sessions, session_history
from gymfloor.storage.tokens import authenticate, issue_token, revoke_token
from gymfloor_edge.simulator import SimulationPlan, simulate
from tests.support.processes import PostgreSQL

Read = list[dict[str, Any]]


@pytest.fixture(scope="module")
def changes() -> Changes:
    """Everything the real pipeline derives from a simulated floor, as ingest would write it."""
    pipeline = Pipeline(Detector(), AlertPolicy(), trace_hz=10.0)
    for m in simulate(SimulationPlan(seed=21, machines=2, visits=4, members=2)).messages:
        pipeline.handle(m.topic, encode_payload(m.payload), m.t, live=False)
    produced = pipeline.take_changes()
    assert produced.reports and produced.alerts and produced.sessions and produced.trace
    return produced


@pytest.fixture(scope="module")
def stores(
    changes: Changes, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, OperationalStore]]:
    with PostgreSQL() as server:
        sqlite = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'store.db'}"
        opened = {"sqlite": OperationalStore(sqlite), "postgresql": OperationalStore(server.url)}
        for store in opened.values():
            store.write(changes, keep_trace_s=600)
            store.write(changes, keep_trace_s=600)  # as a journal replay: stored once all the same
        yield opened
        for store in opened.values():
            store.close()


def every(fetch: Any) -> Read:
    items: Read = []
    cursor = None
    while True:
        page: Page[Any] = fetch(cursor)
        items += [
            json.loads(i) if isinstance(i, str) else i.model_dump(mode="json") for i in page.items
        ]
        if page.next_cursor is None:
            return items
        cursor = page.next_cursor


def rounded(value: Any) -> Any:
    """Averages may differ in their last bits between two databases' summation orders."""
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


def on_both(stores: dict[str, OperationalStore], read: Any) -> Any:
    results = {}
    for name, store in stores.items():
        with store.read() as db:
            results[name] = rounded(read(db))
    assert results["postgresql"] == results["sqlite"]
    return results["sqlite"]


def test_the_migrations_build_the_tables_in_code_on_postgresql(
    stores: dict[str, OperationalStore],
) -> None:
    with stores["postgresql"].read() as db:
        assert compare_metadata(MigrationContext.configure(db), metadata) == []


def test_reps_read_back_the_same_and_once(
    stores: dict[str, OperationalStore], changes: Changes
) -> None:
    reps = on_both(stores, lambda db: every(lambda c: page_reps(db, RepFilter(), c, 7)))
    assert len(reps) == len(changes.reports)
    liftoffs = on_both(
        stores,
        lambda db: every(lambda c: page_reps(db, RepFilter(fault=Fault.LUMBAR_LIFTOFF), c, 5)),
    )
    assert [r for r in reps if "lumbar_liftoff" in r["faults"]] == liftoffs


@pytest.mark.parametrize("member", ["m-0001", "m-0002"])
def test_sessions_and_their_totals_read_back_the_same(
    stores: dict[str, OperationalStore], member: str
) -> None:
    sessions = on_both(stores, lambda db: every(lambda c: page_sessions(db, member, c, 2)))
    assert len(sessions) >= 2

    def newest_with_earlier(db: Any) -> Read:
        history = session_history(db, member, sessions[0]["session_id"], 5)
        return [s.model_dump(mode="json") for s in history]

    assert on_both(stores, newest_with_earlier) == sessions[:6]


def test_machines_alerts_and_acknowledgements_read_back_the_same(
    stores: dict[str, OperationalStore],
) -> None:
    machines = on_both(stores, lambda db: every(lambda c: page_machines(db, None, c, 1)))
    assert all(m["last_fault"] is not None for m in machines)
    for machine in machines:
        trace = on_both(
            stores,
            lambda db, m=machine: machine_trace(
                db, m["gym_id"], m["machine_id"], seconds=3600
            ).model_dump(mode="json"),  # type: ignore[union-attr]
        )
        # The machine's last session, within the 600 s kept behind the newest sample.
        assert trace["t"][-1] - trace["t"][0] <= 600 and len(trace["t"]) > 100 and trace["reps"]
    alerts = on_both(stores, lambda db: every(lambda c: page_alerts(db, AlertFilter(), c, 3)))
    first = alerts[-1]["id"]
    for store in stores.values():
        with store.transaction() as db:
            assert acknowledge(db, first, "tok", 100.0) is not None
    feed = on_both(
        stores,
        lambda db: [
            [(seq, item.model_dump(mode="json")) for seq, item in part]
            for part in feed_after(db, FeedPosition(0, 0), 1000)
        ],
    )
    _, acknowledgements = feed
    assert [ack["alert_id"] for _, ack in acknowledgements] == [first]


def test_tokens_work_on_postgresql(stores: dict[str, OperationalStore]) -> None:
    store = stores["postgresql"]
    with store.transaction() as db:
        info, secret = issue_token(db, Role.STAFF, None, "tablet", 1.0)
    with store.read() as db:
        assert authenticate(db, secret) == info
    with store.transaction() as db:
        revoke_token(db, info.id, 2.0)
    with store.read() as db:
        assert authenticate(db, secret) is None
