"""The same store on PostgreSQL: what the pipeline produced, written to SQLite and to a real
PostgreSQL server, reads back the same through every read the API makes (a member's trend among
them), kept to the gyms a staff token sees; and the migrations of tokens on both."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, text

from gymfloor.contract import MACHINE_OFFLINE, Fault
from gymfloor.outputs import Changes
from gymfloor.storage import OperationalStore, migrate
from gymfloor.storage.alerts import (
    AlertFilter,
    FeedBatch,
    FeedPosition,
    acknowledge,
    feed_after,
    page_alerts,
)
from gymfloor.storage.machines import machine_trace, page_machines
from gymfloor.storage.members import add_member
from gymfloor.storage.models import AlertRecord, Member, Role
from gymfloor.storage.pagination import Page
from gymfloor.storage.reps import RepFilter, page_reps, stored_report_chunks
from gymfloor.storage.schema import metadata
from gymfloor.storage.sessions import page_sessions, recent_session_figures, session_history
from gymfloor.storage.tokens import authenticate, issue_token, page_tokens, revoke_token
from tests.support.floor import offline_alert, two_gyms
from tests.support.processes import PostgreSQL

Read = list[dict[str, Any]]


@pytest.fixture(scope="module")
def changes() -> Changes:
    produced = two_gyms()
    assert produced.reports and produced.alerts and produced.sessions and produced.trace
    assert {alert.gym_id for alert in produced.alerts} == {"g1", "g2"}
    return produced


@pytest.fixture(scope="module")
def server() -> Iterator[PostgreSQL]:
    with PostgreSQL() as running:
        yield running


@pytest.fixture(scope="module")
def stores(
    changes: Changes, server: PostgreSQL, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, OperationalStore]]:
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


def test_an_export_reads_every_rep_in_chunks_the_same(stores: dict[str, OperationalStore]) -> None:
    exported = {
        name: [
            rep for chunk in stored_report_chunks(store.read, RepFilter(), rows=7) for rep in chunk
        ]
        for name, store in stores.items()
    }
    assert exported["postgresql"] == exported["sqlite"]
    reps = [json.loads(rep) for rep in exported["sqlite"]]
    paged = on_both(stores, lambda db: every(lambda c: page_reps(db, RepFilter(), c, 50)))
    assert reps == paged[::-1]  # oldest first, where lists are newest first


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

    def recent_figures(db: Any) -> Read:
        return [p.model_dump(mode="json") for p in recent_session_figures(db, member, 3)]

    figures = on_both(stores, recent_figures)
    with_reps = [s for s in sessions if s["reps"]][:3]
    assert [f["session_id"] for f in figures] == [s["session_id"] for s in with_reps]
    assert [f["faults"] for f in figures] == [s["faults"] for s in with_reps]
    assert [f["mean_rom_mm"] for f in figures] == [s["mean_rom_mm"] for s in with_reps]


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
    feed = on_both(stores, lambda db: read_feed(feed_after(db, FeedPosition(0, 0, 0), 1000)))
    assert feed["acknowledgements"] == [[1, {"alert_id": first, "at": 100.0, "by": "tok"}]]
    assert len(feed["alerts"]) == len(alerts) and feed["end"] == [len(alerts), 1, 0]


def read_feed(batch: FeedBatch) -> dict[str, Any]:
    return {
        "alerts": [[seq, alert.model_dump(mode="json")] for seq, alert in batch.alerts],
        "acknowledgements": [
            [seq, ack.model_dump(mode="json")] for seq, ack in batch.acknowledgements
        ],
        "clearances": [[seq, clear.model_dump(mode="json")] for seq, clear in batch.clearances],
        "end": [batch.end.alert_seq, batch.end.ack_seq, batch.end.clear_seq],
        "full": batch.full,
    }


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


# -- gyms ----------------------------------------------------------------------------------------

GYMS = [frozenset({"g1"}), frozenset({"g2"}), frozenset({"g1", "g2"}), frozenset()]


@pytest.mark.parametrize("gyms", GYMS, ids=lambda g: "+".join(sorted(g)) or "none")
def test_every_floor_read_keeps_to_the_gyms_it_is_given(
    stores: dict[str, OperationalStore], gyms: frozenset[str]
) -> None:
    def everything(db: Any) -> dict[str, Read]:
        return {
            "reps": every(lambda c: page_reps(db, RepFilter(), c, 500)),
            "machines": every(lambda c: page_machines(db, None, c, 500)),
            "alerts": every(lambda c: page_alerts(db, AlertFilter(), c, 500)),
        }

    def kept(db: Any) -> dict[str, Read]:
        return {
            "reps": every(lambda c: page_reps(db, RepFilter(gyms=gyms), c, 7)),
            "machines": every(lambda c: page_machines(db, gyms, c, 1)),
            "alerts": every(lambda c: page_alerts(db, AlertFilter(gyms=gyms), c, 3)),
        }

    whole, scoped = on_both(stores, everything), on_both(stores, kept)
    for name, items in whole.items():
        assert scoped[name] == [item for item in items if item["gym_id"] in gyms], name
    named = on_both(
        stores, lambda db: every(lambda c: page_reps(db, RepFilter("g1", gyms=gyms), c, 50))
    )
    assert named == [r for r in whole["reps"] if r["gym_id"] == "g1" and "g1" in gyms]
    feed = on_both(stores, lambda db: read_feed(feed_after(db, FeedPosition(0, 0, 0), 1000, gyms)))
    assert [alert["id"] for _, alert in feed["alerts"]] == [
        alert["id"] for alert in reversed(whole["alerts"]) if alert["gym_id"] in gyms
    ]
    # A follower moves past the other gyms' alerts as past its own.
    assert feed["end"][0] == len(whole["alerts"])


def test_an_alert_of_another_gym_cannot_be_acknowledged_and_its_acks_stay_there(
    stores: dict[str, OperationalStore],
) -> None:
    g1, g2 = frozenset({"g1"}), frozenset({"g2"})
    open_g2 = AlertFilter(gyms=g2, acknowledged=False)
    alert = on_both(stores, lambda db: page_alerts(db, open_g2, None, 1).items[0].id)
    for store in stores.values():
        with store.transaction() as db:
            assert acknowledge(db, alert, "staff-g1", 200.0, g1) is None
        with store.read() as db:
            assert alert in [a.id for a in every_alert(db, open_g2)]  # still open
        with store.transaction() as db:
            taken = acknowledge(db, alert, "staff-g2", 201.0, g2)
            assert taken is not None and taken.acknowledged_by == "staff-g2"

    def acknowledged(gyms: frozenset[str]) -> list[str]:
        start = FeedPosition(0, 0, 0)
        feed = on_both(stores, lambda db: read_feed(feed_after(db, start, 1000, gyms)))
        return [ack["alert_id"] for _, ack in feed["acknowledgements"]]

    assert alert in acknowledged(g2) and alert not in acknowledged(g1)
    g1_alerts = {alert.id for alert in on_both(stores, lambda db: every_alert(db, AlertFilter(g1)))}
    assert set(acknowledged(g1)) <= g1_alerts


def every_alert(db: Any, where: AlertFilter) -> list[AlertRecord]:
    return page_alerts(db, where, None, 500).items


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_staff_tokens_keep_the_gyms_they_were_issued_for(
    stores: dict[str, OperationalStore], database: str
) -> None:
    with stores[database].transaction() as db:
        scoped, scoped_secret = issue_token(db, Role.STAFF, None, "g1+g2", 1.0, ["g2", "g1", "g2"])
        every_gym, every_secret = issue_token(db, Role.STAFF, None, "chain", 1.0)
        member, member_secret = issue_token(db, Role.MEMBER, "m-0001", None, 1.0)
    with stores[database].read() as db:
        assert authenticate(db, scoped_secret) == scoped
        assert (scoped.all_gyms, scoped.gym_ids, scoped.gyms) == (
            False,
            ["g1", "g2"],
            frozenset({"g1", "g2"}),
        )
        assert authenticate(db, every_secret) == every_gym and every_gym.gyms is None
        assert authenticate(db, member_secret) == member and member.gyms == frozenset()
        listed = {token["id"]: token for token in every(lambda c: page_tokens(db, c, 2))}
    assert listed[scoped.id] == scoped.model_dump(mode="json")
    assert listed[every_gym.id]["all_gyms"] and listed[every_gym.id]["gym_ids"] == []
    with stores[database].transaction() as db, pytest.raises(ValueError):
        issue_token(db, Role.STAFF, None, None, 1.0, [])
    with stores[database].transaction() as db, pytest.raises(ValueError):
        issue_token(db, Role.ADMIN, None, None, 1.0, ["g1"])


def empty_database(server: PostgreSQL, database: str, directory: Path, name: str) -> Engine:
    """A new, empty database of the kind `database` names, called `name`."""
    if database == "sqlite":
        return create_engine(f"sqlite:///{directory / name}.db")
    return create_engine(server.new_database(name))


def migrator(engine: Engine) -> Callable[[str, Any], None]:
    """Steps the database at `engine` to a revision with an alembic command (upgrade or
    downgrade), as `gymfloor store upgrade` would."""
    alembic = Config()
    alembic.set_main_option("script_location", migrate.SCRIPTS)

    def migrate_to(revision: str, step: Any) -> None:
        with engine.begin() as connection:
            alembic.attributes["connection"] = connection
            step(alembic, revision)

    return migrate_to


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_staff_tokens_from_before_gyms_see_every_gym_and_going_back_revokes_scoped_ones(
    server: PostgreSQL, database: str, tmp_path: Path
) -> None:
    engine = empty_database(server, database, tmp_path, "before_gyms")
    migrate_to = migrator(engine)
    migrate_to("0003", command.upgrade)
    with engine.begin() as db:
        for role in Role:
            db.execute(
                text(
                    "INSERT INTO api_tokens (id, secret_hash, role, member_id, created_at) "
                    "VALUES (:role, :hash, :role, :member, 1.0)"
                ),
                {
                    "role": role.value,
                    "hash": hashlib.sha256(f"secret-{role.value}".encode()).hexdigest(),
                    "member": "m-0001" if role is Role.MEMBER else None,
                },
            )
    # Opening the store upgrades it, as every process does.
    store = OperationalStore(engine.url.render_as_string(hide_password=False))
    with store.read() as db:
        before = {token.role: token for token in page_tokens(db, None, 10).items}
        assert authenticate(db, "secret-staff") == before[Role.STAFF]
    assert before[Role.STAFF].gyms is None and before[Role.ADMIN].gyms is None
    assert before[Role.MEMBER].gyms == frozenset()
    with store.transaction() as db:
        scoped, _ = issue_token(db, Role.STAFF, None, None, 2.0, ["g1"])
    store.close()
    migrate_to("0003", command.downgrade)
    with engine.connect() as db:
        rows = db.execute(text("SELECT id, revoked_at FROM api_tokens")).all()
    revoked: dict[str, float | None] = {row.id: row.revoked_at for row in rows}
    engine.dispose()
    assert revoked == {"member": None, "staff": None, "admin": None, scoped.id: revoked[scoped.id]}
    assert revoked[scoped.id] is not None


def test_a_member_registered_twice_at_once_is_registered_once(
    stores: dict[str, OperationalStore],
) -> None:
    """The second registration waits on the first's uncommitted row, then finds it: no error,
    where looking first and inserting after would meet the unique key."""
    store = stores["postgresql"]
    pool = ThreadPoolExecutor(1)
    try:
        with store.transaction() as first:
            add_member(first, "m-twice", None, 1.0)
            second = pool.submit(_register, store, "m-twice")
            # The second is blocked on the first's row until the first commits.
            assert not _done_within(second, 1.0)
        assert second.result(timeout=30).display_name == "Twice"
    finally:
        pool.shutdown(wait=False)


def _register(store: OperationalStore, member_id: str) -> Member:
    with store.transaction() as db:
        return add_member(db, member_id, "Twice", 2.0)


def _done_within(future: Future[Member], seconds: float) -> bool:
    try:
        future.result(timeout=seconds)
    except TimeoutError:
        return False
    return True


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_alerts_from_before_clearances_read_open_and_a_clearance_reaches_the_feed_once(
    server: PostgreSQL, database: str, tmp_path: Path
) -> None:
    engine = empty_database(server, database, tmp_path, "before_clearances")
    migrate_to = migrator(engine)
    alert = offline_alert()
    migrate_to("0006", command.upgrade)
    with engine.begin() as db:
        db.execute(
            text(
                "INSERT INTO alerts (id, gym_id, machine_id, session_id, member_id, t, severity, "
                "kind, alert) VALUES (:id, 'g1', 'lp-01', 's-1', 'm-0001', 100.0, 'warning', "
                ":kind, :alert)"
            ),
            {"id": alert.id, "kind": MACHINE_OFFLINE, "alert": alert.model_dump_json()},
        )
    # Opening the store upgrades it, as every process does.
    store = OperationalStore(engine.url.render_as_string(hide_password=False))
    with store.read() as db:
        (before,) = page_alerts(db, AlertFilter(), None, 10).items
    assert before.cleared_at is None
    cleared = alert.model_copy(update={"cleared_at": 130.0})
    store.write(Changes(cleared=[cleared]))
    store.write(Changes(cleared=[alert.model_copy(update={"cleared_at": 140.0})]))  # a replay's
    with store.read() as db:
        feed = read_feed(feed_after(db, FeedPosition(0, 0, 0), 100))
        (after,) = page_alerts(db, AlertFilter(), None, 10).items
    assert after.cleared_at == 130.0
    assert feed["clearances"] == [[1, {"alert_id": alert.id, "at": 130.0}]]
    assert feed["end"] == [1, 0, 1]
    store.close()
    migrate_to("0006", command.downgrade)
    with engine.connect() as db:
        kept = db.execute(text("SELECT id FROM alerts")).scalars().all()
        tables = set(inspect(db).get_table_names())
    engine.dispose()
    assert kept == [alert.id] and "alert_clearances" not in tables
