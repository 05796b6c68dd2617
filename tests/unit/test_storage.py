"""The operational store on its own: migrations, tokens, cursors, and the session report."""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select

from gymfloor.api.session_report import session_report
from gymfloor.coaching import SEE_A_PROFESSIONAL
from gymfloor.contract import Fault, MachineKey, SessionPayload
from gymfloor.outputs import Changes, MachineStatus, Trace
from gymfloor.status import LatencyHistogram
from gymfloor.storage import OperationalStore, migrate, schema
from gymfloor.storage.machines import SET_LEAD_S, machine_trace, page_machines
from gymfloor.storage.members import get_member
from gymfloor.storage.models import Role, SessionSummary
from gymfloor.storage.pagination import CursorError, decode, encode
from gymfloor.storage.schema import metadata
from gymfloor.storage.sessions import page_sessions
from gymfloor.storage.tokens import authenticate, issue_token, revoke_token, token_id_of
from tests.support.synth import rep_report


@pytest.fixture
def store(tmp_path: Path) -> OperationalStore:
    return OperationalStore(f"sqlite:///{tmp_path / 'store.db'}")


def test_the_migrations_build_exactly_the_tables_in_code(store: OperationalStore) -> None:
    with store.read() as db:
        assert compare_metadata(MigrationContext.configure(db), metadata) == []
    current, head = migrate.revisions(store.engine)
    assert current == head


def test_opening_a_store_again_keeps_its_data(store: OperationalStore, tmp_path: Path) -> None:
    with store.transaction() as db:
        _, secret = issue_token(db, Role.STAFF, None, "tablet", 1.0)
    store.close()
    reopened = OperationalStore(f"sqlite:///{tmp_path / 'store.db'}")
    with reopened.read() as db:
        assert authenticate(db, secret) is not None


def test_a_token_works_until_revoked_and_only_its_hash_is_kept(
    store: OperationalStore, tmp_path: Path
) -> None:
    with store.transaction() as db:
        info, secret = issue_token(db, Role.MEMBER, "m-1", None, 1.0)
    with store.read() as db:
        assert get_member(db, "m-1") is not None  # registered with the token
        assert authenticate(db, secret) == info
        assert authenticate(db, secret + "x") is None
        assert authenticate(db, secret.replace(info.id, "0" * 12)) is None
    assert secret.encode() not in (tmp_path / "store.db").read_bytes()
    assert token_id_of(secret) == token_id_of(info.id) == info.id
    with store.transaction() as db:
        revoked = revoke_token(db, info.id, 2.0)
        assert revoked is not None and revoked.revoked_at == 2.0
        assert revoke_token(db, info.id, 3.0).revoked_at == 2.0  # type: ignore[union-attr]
    with store.read() as db:
        assert authenticate(db, secret) is None


def test_member_tokens_need_a_member_and_others_refuse_one(store: OperationalStore) -> None:
    with store.transaction() as db, pytest.raises(ValueError):
        issue_token(db, Role.MEMBER, None, None, 1.0)
    with store.transaction() as db, pytest.raises(ValueError):
        issue_token(db, Role.STAFF, "m-1", None, 1.0)


def crafted(value: object) -> str:
    """A cursor holding `value` as JSON, or the JSON text itself if `value` is a string."""
    text = value if isinstance(value, str) else json.dumps(value)
    return base64.urlsafe_b64encode(text.encode()).decode()


SESSION_KEY = (
    schema.sessions.c.t_start,
    schema.sessions.c.gym_id,
    schema.sessions.c.machine_id,
    schema.sessions.c.session_id,
)
REP_KEY = (schema.reps.c.t_start, schema.reps.c.id)


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        "WzEsIHRydWVd",  # [1, true]
        "bnVsbA",  # null
        encode(("a",)),  # too short
        encode((1.0, 2, 3)),  # too long
        encode((1.0, "7")),  # a string for the integer id
        encode(("1.0", 7)),  # a string for the time
        encode((1.0, 7.5)),  # a fraction for the integer id
        encode((1.0, 10**30)),  # past 64 bits: SQLite cannot bind it
        encode((10**400, 7)),  # past what a float holds
        crafted("[1e999, 7]"),  # infinity
        crafted("[NaN, 7]"),
        crafted([1.0, [7]]),  # nested
        crafted([1.0, {"id": 7}]),
        crafted({"t_start": 1.0, "id": 7}),
        "W" * 10_000,  # longer than any cursor handed out
    ],
)
def test_cursors_that_a_list_did_not_hand_out_are_refused(cursor: str) -> None:
    with pytest.raises(CursorError):
        decode(cursor, REP_KEY)


def test_deeply_nested_json_in_a_cursor_is_refused() -> None:
    with pytest.raises(CursorError):
        decode(crafted("[" * 6000 + "]" * 6000), REP_KEY)


@pytest.mark.parametrize(
    "key",
    [
        (1.0, "g" * 129, "lp-01", "s-1"),  # longer than the column
        (1.0, "g1\x00", "lp-01", "s-1"),  # NUL: PostgreSQL refuses it in text
        (1.0, "g1\ud800", "lp-01", "s-1"),  # a lone surrogate: not UTF-8
        (1.0, 1, "lp-01", "s-1"),  # a number for an id
    ],
)
def test_cursor_strings_must_fit_their_columns(key: tuple[float | str, ...]) -> None:
    with pytest.raises(CursorError):
        decode(encode(key), SESSION_KEY)


def test_a_cursor_carries_its_key_unchanged() -> None:
    key = (1764064790.123456, "g1", "lp-03", "s-8f2")
    assert decode(encode(key), SESSION_KEY) == key
    longest = (1764064790.123456, *("\U0001f600" * 128,) * 3)  # every character escaped
    assert decode(encode(longest), SESSION_KEY) == longest
    assert decode(encode((1764064790.0, 2**63 - 1)), REP_KEY) == (1764064790.0, 2**63 - 1)


# -- the session report ---------------------------------------------------------------------------


def summary(start: float, reps: int, faulty: int, liftoffs: int) -> SessionSummary:
    faults = {fault: 0 for fault in Fault} | {Fault.LUMBAR_LIFTOFF: liftoffs}
    return SessionSummary(
        gym_id="g1",
        machine_id="lp-01",
        session_id=f"s-{start:.0f}",
        member_id="m-1",
        t_start=start,
        t_end=start + 600,
        load_kg=100,
        reps=reps,
        faulty_reps=faulty,
        faults=faults,
        mean_rom_mm=300,
        mean_eccentric_s=2.4,
        min_lumbar_ratio=0.8,
    )


def test_lift_off_in_three_sessions_running_recommends_a_professional() -> None:
    reps = [
        rep_report(1, Fault.LUMBAR_LIFTOFF),
        rep_report(2),
        rep_report(3),
        rep_report(4),
        rep_report(5),
    ]
    this = summary(9000, 5, 1, 1)
    twice_before = [summary(8000, 5, 1, 1), summary(7000, 5, 1, 1), summary(6000, 5, 0, 0)]
    report = session_report(this, reps, twice_before)
    assert report.trend.liftoff_sessions_in_a_row == 3
    assert report.see_a_professional and report.coaching[-1] == SEE_A_PROFESSIONAL
    once_before = [summary(8000, 5, 1, 1), summary(7000, 5, 0, 0)]
    report = session_report(this, reps, once_before)
    assert report.trend.liftoff_sessions_in_a_row == 2
    assert not report.see_a_professional


@pytest.mark.parametrize(
    ("faulty_now", "faulty_before", "verdict"),
    [(1, 8, "better"), (4, 4, "steady"), (9, 2, "worse")],
)
def test_the_trend_compares_faulty_reps_with_earlier_sessions(
    faulty_now: int, faulty_before: int, verdict: str
) -> None:
    this = summary(9000, 10, faulty_now, 0)
    earlier = [summary(8000, 10, faulty_before, 0), summary(7000, 10, faulty_before, 0)]
    trend = session_report(this, [], earlier).trend
    assert trend.verdict == verdict
    assert trend.faulty_share == faulty_now / 10
    assert trend.earlier_faulty_share == faulty_before / 10


def test_session_summaries_are_rounded_to_what_a_member_can_use(store: OperationalStore) -> None:
    start = SessionPayload(v=1, event="start", t=9000.0, session_id="s-9000", member_id="m-1")
    reps = [
        rep_report(n).model_copy(update={"rom_mm": rom, "eccentric_s": descent})
        for n, rom, descent in [(1, 300.1, 2.501), (2, 300.2, 2.502), (3, 300.2, 2.504)]
    ]
    store.write(Changes(reports=reps, sessions=[(LP01, start)]))
    with store.read() as db:
        summary = page_sessions(db, "m-1", None, 10).items[0]
    assert summary.mean_rom_mm == 300.2  # of 300.1666…
    assert summary.mean_eccentric_s == 2.5  # of 2.5023…
    report = session_report(summary.model_copy(update={"faulty_reps": 1}), [], [])
    assert report.trend.faulty_share == 0.333


def test_a_first_session_has_nothing_to_compare_with() -> None:
    trend = session_report(summary(9000, 10, 3, 0), [], []).trend
    assert trend.verdict == "first session"
    assert trend.earlier_faulty_share is None


# -- the board's reads -------------------------------------------------------------------------

LP01 = MachineKey("g1", "lp-01")
T0 = 1_764_000_000.0  # Unix s; the board tests count from here


def trace_of(start_s: float, seconds: float, hz: float = 10.0) -> Trace:
    n = round(seconds * hz)
    times = [round((start_s + i / hz) * 1e9) for i in range(n)]
    return Trace(LP01, times, [100.04] * n, [5.0] * n, [1.0004] * (n - 1) + [math.nan])


def test_a_machine_shows_its_open_sessions_reps_and_its_latest_faulty_rep(
    store: OperationalStore,
) -> None:
    start = SessionPayload(v=1, event="start", t=T0, session_id="s-9000", member_id="m-1")
    reps = [
        rep_report(1, Fault.LUMBAR_LIFTOFF, t0=T0),
        rep_report(2, Fault.EXCESSIVE_ROM, t0=T0),
        rep_report(3, t0=T0),
    ]
    store.write(
        Changes(
            reports=reps,
            sessions=[(LP01, start)],
            machines={LP01: MachineStatus("online", T0, T0 + 40)},
        )
    )
    with store.read() as db:
        (machine,) = page_machines(db, None, None, 10).items
    assert machine.current_session is not None and machine.current_session.reps == 3
    assert machine.last_rep is not None and machine.last_rep.rep == 3
    assert machine.last_fault is not None and machine.last_fault.rep == 2
    assert machine.last_fault.faults == [Fault.EXCESSIVE_ROM]


def test_a_machines_trace_is_its_set_and_ingest_keeps_only_the_window(
    store: OperationalStore,
) -> None:
    store.write(Changes(machines={LP01: MachineStatus("online", T0 - 1000, T0 - 1000)}))
    store.write(Changes(trace={LP01: trace_of(T0 - 1000, 60)}), keep_trace_s=600)
    start = SessionPayload(v=1, event="start", t=T0, session_id="s-9000", member_id="m-1")
    store.write(
        Changes(
            sessions=[(LP01, start)],
            reports=[rep_report(1, t0=T0), rep_report(2, t0=T0)],
            trace={LP01: trace_of(T0 - 10, 40)},
        ),
        keep_trace_s=600,
    )
    # A journal replay derives the same samples again, cut into other chunks.
    for part in (trace_of(T0 - 10, 15), trace_of(T0 + 5, 25)):
        store.write(Changes(trace={LP01: part}), keep_trace_s=600)
    with store.read() as db:
        chunks = db.execute(select(schema.trace.c.t_first).order_by("t_first")).scalars().all()
        trace = machine_trace(db, "g1", "lp-01", seconds=120)
        unknown = machine_trace(db, "g1", "lp-99", seconds=120)
    # The first minute fell more than 600 s behind the newest sample; the replay's first chunk
    # started where the stored one did.
    assert chunks == [T0 - 10, T0 + 5]
    assert trace is not None and unknown is None
    # 120 s back from the newest sample would reach T0 - 91; the session began at T0.
    assert trace.t[0] == pytest.approx(T0 - SET_LEAD_S)
    assert trace.t[-1] == pytest.approx(T0 + 29.9)
    assert len(trace.t) == 320 and trace.t == sorted(set(trace.t))  # each sample once
    assert trace.lumbar_ratio[0] == 1.0 and trace.lumbar_ratio[-1] is None  # NaN: no baseline
    assert set(trace.sled_mm) == {100.0}  # to a tenth of a millimetre
    assert len(trace.sled_mm) == len(trace.t)
    assert [r.rep for r in trace.reps] == [1, 2]


def test_latency_quantiles_come_from_the_window_since_the_last_point() -> None:
    earlier = LatencyHistogram()
    for seconds in (0.5, 0.5, 0.5):
        earlier.observe(seconds)
    now = earlier.model_copy(deep=True)
    for seconds in [0.002] * 98 + [0.02, 0.2]:
        now.observe(seconds)
    window = now.since(earlier)
    assert sum(window.counts) == 100 and window.sum == pytest.approx(0.196 + 0.2 + 0.02)
    assert window.quantile(0.5) == 0.0025  # the bucket bound above 2 ms
    assert window.quantile(0.99) == 0.025
    assert now.quantile(0.99) == 0.5  # without the window, the old slow ones dominate the tail
    assert LatencyHistogram().quantile(0.5) is None
    beyond = LatencyHistogram()
    beyond.observe(60.0)
    assert beyond.quantile(0.5) is None


def test_changes_waiting_for_the_store_keep_only_the_traces_window() -> None:
    waiting = Changes(reports=[rep_report(1)], trace={LP01: trace_of(T0 - 1000, 60)})
    waiting.absorb(Changes(trace={LP01: trace_of(T0, 30)}))
    waiting.forget_trace_older_than(900)
    assert [trace.t_ns[0] for trace in waiting.trace.values()] == [round(T0 * 1e9)]
    assert waiting.reports == [rep_report(1)]  # only the trace goes: it is a view, the rest is data


@pytest.mark.parametrize("walk_in_after", [False, True])
def test_a_machines_trace_starts_at_the_session_the_last_reps_followed(
    store: OperationalStore, walk_in_after: bool
) -> None:
    checked_in = SessionPayload(v=1, event="start", t=T0, session_id="s-9000", member_id="m-1")
    checked_out = SessionPayload(v=1, event="end", t=T0 + 25, session_id="s-9000")
    reports = [rep_report(1, t0=T0), rep_report(2, t0=T0)]  # starting at T0 + 10 and T0 + 20
    if walk_in_after:  # someone trains without checking in, after the member left
        anonymous = rep_report(1, Fault.UNCONTROLLED_DESCENT, t0=T0 + 25)
        reports.append(anonymous.model_copy(update={"session_id": None, "member_id": None}))
    store.write(Changes(machines={LP01: MachineStatus("online", T0, T0)}))
    store.write(
        Changes(
            sessions=[(LP01, checked_in), (LP01, checked_out)],
            reports=reports,
            trace={LP01: trace_of(T0 - 30, 80)},
        )
    )
    with store.read() as db:
        trace = machine_trace(db, "g1", "lp-01", seconds=120)
    assert trace is not None
    if walk_in_after:
        assert trace.t[0] == pytest.approx(T0 + 25 - SET_LEAD_S)
        assert [(r.session_id, r.rep) for r in trace.reps] == [(None, 1)]
    else:
        assert trace.t[0] == pytest.approx(T0 - SET_LEAD_S)
        assert [(r.session_id, r.rep) for r in trace.reps] == [("s-9000", 1), ("s-9000", 2)]
