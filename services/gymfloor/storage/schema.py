"""Tables of the operational store, in SQLAlchemy Core so SQLite or PostgreSQL can hold them."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

ID = String(128)

machines = Table(
    "machines",
    metadata,
    Column("gym_id", ID, primary_key=True),
    Column("machine_id", ID, primary_key=True),
    Column("state", String(16), nullable=False),  # online | offline, from the retained status
    Column("state_since", Float, nullable=False),  # when ingest learned the state (Unix s)
    Column("last_message_at", Float, nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("gym_id", ID, primary_key=True),
    Column("machine_id", ID, primary_key=True),
    Column("session_id", ID, primary_key=True),
    Column("member_id", ID, index=True),
    Column("t_start", Float, nullable=False),
    Column("t_end", Float),
    Column("load_kg", Float),
)

reps = Table(
    "reps",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("gym_id", ID, nullable=False),
    Column("machine_id", ID, nullable=False),
    Column("session_id", ID, index=True),
    Column("member_id", ID, index=True),
    Column("rep", Integer, nullable=False),
    Column("t_start", Float, nullable=False),
    Column("t_end", Float, nullable=False, index=True),
    Column("faults", String(128), nullable=False),  # comma-separated, for filtering
    Column("report", Text, nullable=False),  # the rep report exactly as served (contract §4)
    # A replayed journal re-derives reps that were already stored; this makes that harmless.
    UniqueConstraint("gym_id", "machine_id", "t_start", name="uq_reps_machine_start"),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("gym_id", ID, nullable=False),
    Column("machine_id", ID, nullable=False),
    Column("session_id", ID),
    Column("member_id", ID),
    Column("t", Float, nullable=False, index=True),
    Column("severity", String(16), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("alert", Text, nullable=False),  # the alert exactly as published
    Column("acknowledged_at", Float),
)
