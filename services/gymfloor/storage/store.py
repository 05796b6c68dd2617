"""Data access for the operational store. Everything that reads or writes it goes through here.

Writes come in `Changes`, one transaction each. Rep reports and alerts that are already stored
are skipped, so writing the same outputs twice (as a journal replay does) stores them once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

from gymfloor.contract import MachineKey, RepReport, SessionPayload, StaffAlert
from gymfloor.storage import schema


@dataclass(frozen=True, slots=True)
class MachineStatus:
    state: str
    state_since: float
    last_message_at: float


@dataclass(slots=True)
class Changes:
    """What the pipeline produced since the last write."""

    reports: list[RepReport] = field(default_factory=list)
    alerts: list[StaffAlert] = field(default_factory=list)
    sessions: list[tuple[MachineKey, SessionPayload]] = field(default_factory=list)
    machines: dict[MachineKey, MachineStatus] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.reports or self.alerts or self.sessions or self.machines)

    def __str__(self) -> str:
        return (
            f"{len(self.reports)} reports, {len(self.alerts)} alerts, "
            f"{len(self.sessions)} session events, {len(self.machines)} machine states"
        )

    def absorb(self, later: Changes) -> None:
        """Add changes made after these, in order."""
        self.reports += later.reports
        self.alerts += later.alerts
        self.sessions += later.sessions
        self.machines.update(later.machines)


class OperationalStore:
    def __init__(self, url: str) -> None:
        self.engine = _engine(url)
        schema.metadata.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # -- writes ------------------------------------------------------------------------------

    def write(self, changes: Changes) -> None:
        with self.engine.begin() as db:
            if changes.reports:
                db.execute(
                    self._insert(schema.reps).on_conflict_do_nothing(
                        index_elements=["gym_id", "machine_id", "t_start"]
                    ),
                    [_rep_row(report) for report in changes.reports],
                )
            if changes.alerts:
                db.execute(
                    self._insert(schema.alerts).on_conflict_do_nothing(index_elements=["id"]),
                    [_alert_row(alert) for alert in changes.alerts],
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

    # -- reads -------------------------------------------------------------------------------

    def reports(self) -> Iterator[RepReport]:
        """Every stored rep report, in the order they were stored."""
        query = select(schema.reps.c.report).order_by(schema.reps.c.id)
        with self.engine.connect() as db:
            for (report,) in db.execute(query):
                yield RepReport.model_validate_json(report)

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
        """INSERT with ON CONFLICT, which SQLite and PostgreSQL spell alike."""
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        return dialect.insert(table)


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
    return {
        "gym_id": report.gym_id,
        "machine_id": report.machine_id,
        "session_id": report.session_id,
        "member_id": report.member_id,
        "rep": report.rep,
        "t_start": report.t_start,
        "t_end": report.t_end,
        "faults": ",".join(report.faults),
        "report": report.model_dump_json(),
    }


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
