"""The operational store: its engine and schema, and what ingest writes to it.

Everything that reads or writes the store goes through `gymfloor.storage`: this module for the
engine and ingest's writes, one module per resource for the API's reads. Ingest's writes come in
`Changes`, one transaction each. Rep reports and alerts that are already stored are skipped, so
writing the same outputs twice (as a journal replay does) stores them once.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
from sqlalchemy import Connection, Engine, bindparam, create_engine, event, select
from sqlalchemy.engine import make_url

from gymfloor.contract import Fault, MachineKey, RepReport, SessionPayload, StaffAlert
from gymfloor.outputs import Changes, MachineStatus, Trace
from gymfloor.status import IngestHealth
from gymfloor.storage import migrate, schema
from gymfloor.storage.outbox import AlertEvent, WebhookEvent, enqueue
from gymfloor.storage.registry import registered_keys
from gymfloor.storage.reps import RepFilter, all_reps


@dataclass(frozen=True, slots=True)
class IngestStatus:
    instance: str
    started_at: float
    updated_at: float
    health: IngestHealth


class OperationalStore:
    def __init__(self, url: str) -> None:
        self.engine = _engine(url)
        migrate.upgrade(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def read(self) -> AbstractContextManager[Connection]:
        return self.engine.connect()

    def transaction(self) -> AbstractContextManager[Connection]:
        return self.engine.begin()

    def registered_machines(self) -> frozenset[MachineKey]:
        """The machine registry, for ingest's allow-list."""
        with self.read() as db:
            return registered_keys(db)

    # -- writes ------------------------------------------------------------------------------

    def write(self, changes: Changes, keep_trace_s: float = 900.0) -> None:
        """`keep_trace_s`: seconds of each machine's trace to keep, before its newest sample."""
        with self.engine.begin() as db:
            if changes.reports:
                db.execute(
                    self._insert(schema.reps).on_conflict_do_nothing(
                        index_elements=["gym_id", "machine_id", "t_start"]
                    ),
                    [_rep_row(report) for report in changes.reports],
                )
            if changes.alerts:
                _store_alerts(db, self._insert, changes.alerts)
            for alert in changes.cleared:  # after the inserts: an outage may be that short
                _clear_alert(db, alert)
            members = {s.member_id for _, s in changes.sessions if s.member_id is not None}
            if members:
                db.execute(
                    self._insert(schema.members).on_conflict_do_nothing(),
                    [{"member_id": m, "created_at": time.time()} for m in sorted(members)],
                )
            for key, session in changes.sessions:
                db.execute(_session_statement(self._insert, key, session))
            if changes.machines:
                upsert = self._insert(schema.machines)
                db.execute(
                    upsert.on_conflict_do_update(
                        index_elements=["gym_id", "machine_id"],
                        set_={
                            "state": upsert.excluded.state,
                            "state_since": upsert.excluded.state_since,
                            "last_message_at": upsert.excluded.last_message_at,
                        },
                    ),
                    [
                        {"gym_id": key.gym_id, "machine_id": key.machine_id, **asdict(status)}
                        for key, status in changes.machines.items()
                    ],
                )

            if changes.trace:
                _write_trace(db, self._insert, changes.trace.values(), keep_trace_s)

    # -- reads -------------------------------------------------------------------------------

    def reports(self) -> Iterator[RepReport]:
        """Every stored rep report, oldest first."""
        with self.read() as db:
            yield from all_reps(db, RepFilter())

    def report_status(self, instance: str, started_at: float, health: IngestHealth) -> None:
        """Record how an ingest instance is doing, for the API's /metrics and /readyz."""
        upsert = self._insert(schema.ingest_status)
        row = {
            "instance": instance,
            "started_at": started_at,
            "updated_at": time.time(),
            "status": health.model_dump_json(),
        }
        with self.engine.begin() as db:
            db.execute(
                upsert.values(row).on_conflict_do_update(
                    index_elements=["instance"],
                    set_={k: upsert.excluded[k] for k in ("started_at", "updated_at", "status")},
                )
            )

    def ingest_statuses(self) -> list[IngestStatus]:
        with self.engine.connect() as db:
            rows = db.execute(
                select(schema.ingest_status).order_by(schema.ingest_status.c.instance)
            )
            return [
                IngestStatus(
                    r.instance,
                    r.started_at,
                    r.updated_at,
                    IngestHealth.model_validate_json(r.status),
                )
                for r in rows
            ]

    def alerts(self) -> list[StaffAlert]:
        query = select(schema.alerts.c.alert).order_by(schema.alerts.c.t)
        with self.engine.connect() as db:
            return [StaffAlert.model_validate_json(a) for (a,) in db.execute(query)]

    def machines(self) -> dict[MachineKey, MachineStatus]:
        with self.engine.connect() as db:
            rows = db.execute(select(schema.machines)).all()
        return {
            MachineKey(r.gym_id, r.machine_id): MachineStatus(
                r.state, r.state_since, r.last_message_at
            )
            for r in rows
        }

    def sessions(self) -> list[dict[str, Any]]:
        with self.engine.connect() as db:
            rows = db.execute(select(schema.sessions).order_by(schema.sessions.c.t_start))
            return [dict(row._mapping) for row in rows]

    # -- internals ---------------------------------------------------------------------------

    def _insert(self, table: Any) -> Any:
        return schema.conflict_insert(self.engine.dialect.name, table)


def _engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _tune(connection: Any, record: Any) -> None:
        # WAL lets readers (the API, `reps export`) run while ingest writes; NORMAL syncs at
        # checkpoints only, which WAL makes safe against corruption.
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()

    return engine


def _rep_row(report: RepReport) -> dict[str, Any]:
    faults = set(report.faults)
    return {
        "gym_id": report.gym_id,
        "machine_id": report.machine_id,
        "session_id": report.session_id,
        "member_id": report.member_id,
        "rep": report.rep,
        "t_start": report.t_start,
        "t_end": report.t_end,
        "rom_mm": report.rom_mm,
        "eccentric_s": report.eccentric_s,
        "min_lumbar_ratio": report.min_lumbar_ratio,
        **{fault.value: fault in faults for fault in Fault},
        "report": report.model_dump_json(),
    }


def _store_alerts(db: Connection, insert: Any, alerts: list[StaffAlert]) -> None:
    """The alerts not stored yet, each with its webhook deliveries: an alert a journal replay
    raises again is neither stored nor sent twice."""
    stored = db.execute(
        insert(schema.alerts)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(schema.alerts.c.id),
        [_alert_row(alert) for alert in alerts],
    )
    new = set(stored.scalars())
    raised = [
        AlertEvent(alert.id, alert.gym_id, alert.severity) for alert in alerts if alert.id in new
    ]
    enqueue(db, WebhookEvent.RAISED, raised, time.time())


def _alert_row(alert: StaffAlert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "gym_id": alert.gym_id,
        "machine_id": alert.machine_id,
        "session_id": alert.session_id,
        "member_id": alert.member_id,
        "t": alert.t,
        "severity": alert.severity.value,
        "kind": alert.kind,
        "alert": alert.model_dump_json(),
    }


def _clear_alert(db: Connection, alert: StaffAlert) -> None:
    """Mark the alert cleared and tell the live stream; the first clearance stands, so a
    replay's second one is dropped."""
    table = schema.alerts
    cleared = db.execute(
        table.update()
        .where(table.c.id == alert.id, table.c.cleared_at.is_(None))
        .values(cleared_at=alert.cleared_at)
    )
    if cleared.rowcount:
        db.execute(schema.clearances.insert().values(alert_id=alert.id, at=alert.cleared_at))
        event = AlertEvent(alert.id, alert.gym_id, alert.severity)
        enqueue(db, WebhookEvent.CLEARED, [event], time.time())


def _write_trace(db: Connection, insert: Any, traces: Iterable[Trace], keep_s: float) -> None:
    """One row per machine: its samples, in order, as JSON `[[t, sled, ratio], …]`."""
    rows = [_trace_row(trace) for trace in traces]
    db.execute(insert(schema.trace).on_conflict_do_nothing(), rows)
    db.execute(
        _PRUNE_TRACE,
        [
            {
                "gym_id": row["gym_id"],
                "machine_id": row["machine_id"],
                "before": row["t_last"] - keep_s,
            }
            for row in rows
        ],
    )


def _trace_row(trace: Trace) -> dict[str, Any]:
    """Rounded finer than a plot shows, in numpy and msgspec's JSON encoder: no Python per
    sample (msgspec's took 4 µs for 30 samples, the standard library's 31). NaN, which JSON
    lacks, becomes null."""
    t = np.array(trace.t_ns, dtype=np.int64) / 1e9
    sled = np.array(trace.sled_mm, dtype=np.float64)
    ratio = np.array(trace.lumbar_ratio, dtype=np.float64)
    samples = np.column_stack((t, sled.round(1), ratio.round(3))).tolist()
    return {
        "gym_id": trace.machine.gym_id,
        "machine_id": trace.machine.machine_id,
        "t_first": float(t[0]),
        "t_last": float(t[-1]),
        "samples": msgspec.json.encode(samples).decode(),
    }


# Built once: building it for each machine at every write cost more than running it. On the
# primary key's order (t_first, not t_last), so that it reads only what it deletes.
_PRUNE_TRACE = schema.trace.delete().where(
    schema.trace.c.gym_id == bindparam("gym_id"),
    schema.trace.c.machine_id == bindparam("machine_id"),
    schema.trace.c.t_first < bindparam("before"),
)


def _session_statement(insert: Any, key: MachineKey, session: SessionPayload) -> Any:
    where = {"gym_id": key.gym_id, "machine_id": key.machine_id, "session_id": session.session_id}
    if session.event == "start":
        row = {**where, "member_id": session.member_id, "t_start": session.t}
        row["load_kg"] = session.load_kg
        return insert(schema.sessions).values(row).on_conflict_do_nothing()
    table = schema.sessions
    match = (
        (table.c.gym_id == key.gym_id)
        & (table.c.machine_id == key.machine_id)
        & (table.c.session_id == session.session_id)
    )
    if session.event == "end":
        return table.update().where(match).values(t_end=session.t)
    return table.update().where(match).values(load_kg=session.load_kg)
