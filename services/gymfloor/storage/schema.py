"""Tables of the operational store, in SQLAlchemy Core so SQLite or PostgreSQL can hold them.

The migrations in `storage/migrations` create exactly these tables; a test compares the two.
Indexes follow the API's queries: each list is read newest first, by machine, member or time.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects import postgresql, sqlite

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

members = Table(
    "members",
    metadata,
    Column("member_id", ID, primary_key=True),
    Column("display_name", String(200)),
    Column("created_at", Float, nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("gym_id", ID, primary_key=True),
    Column("machine_id", ID, primary_key=True),
    Column("session_id", ID, primary_key=True),
    Column("member_id", ID),
    Column("t_start", Float, nullable=False),
    Column("t_end", Float),
    Column("load_kg", Float),
    Index("ix_sessions_member_start", "member_id", "t_start"),
    Index("ix_sessions_machine_start", "gym_id", "machine_id", "t_start"),
)

reps = Table(
    "reps",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("gym_id", ID, nullable=False),
    Column("machine_id", ID, nullable=False),
    Column("session_id", ID),
    Column("member_id", ID),
    Column("rep", Integer, nullable=False),
    Column("t_start", Float, nullable=False),
    Column("t_end", Float, nullable=False),
    # Copies of report fields, so that lists filter and sessions summarise in SQL.
    Column("rom_mm", Float, nullable=False),
    Column("eccentric_s", Float, nullable=False),
    Column("min_lumbar_ratio", Float),
    Column("lumbar_liftoff", Boolean, nullable=False),
    Column("excessive_rom", Boolean, nullable=False),
    Column("uncontrolled_descent", Boolean, nullable=False),
    Column("report", Text, nullable=False),  # the rep report exactly as served (contract §4)
    # A replayed journal re-derives reps that were already stored; this makes that harmless.
    UniqueConstraint("gym_id", "machine_id", "t_start", name="uq_reps_machine_start"),
    Index("ix_reps_start", "t_start"),
    Index("ix_reps_member_start", "member_id", "t_start"),
    # A session's reps, in order: with the session id alone SQLite would rather scan every rep
    # of the session's machine through uq_reps_machine_start, for its order (migration 0002).
    Index("ix_reps_session", "session_id", "gym_id", "machine_id", "t_start"),
)

alerts = Table(
    "alerts",
    metadata,
    # `seq` orders the feed and numbers the live stream's events; `id` is the alert's own.
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False, unique=True),
    Column("gym_id", ID, nullable=False),
    Column("machine_id", ID, nullable=False),
    Column("session_id", ID),
    Column("member_id", ID),
    Column("t", Float, nullable=False, index=True),
    Column("severity", String(16), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("alert", Text, nullable=False),  # the alert exactly as published
    Column("acknowledged_at", Float),
    Column("acknowledged_by", String(32)),  # the token id, so the feed shows who took it
    # When the alert stopped applying: a machine_offline alert's machine is back (migration 0007).
    Column("cleared_at", Float),
)

acknowledgements = Table(
    "acknowledgements",
    metadata,
    # The live stream reads acknowledgements in this order, so every board hears of each one.
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", String(64), nullable=False),
    Column("at", Float, nullable=False),
    Column("by", String(32), nullable=False),
)

clearances = Table(
    "alert_clearances",
    metadata,
    # The live stream reads clearances in this order, as it does acknowledgements (migration 0007).
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", String(64), nullable=False),
    Column("at", Float, nullable=False),
)

trace = Table(
    "trace",
    metadata,
    # The last minutes of each machine's telemetry, downsampled (ingest's trace_hz), for the
    # staff board's plot of the current set; ingest deletes what falls out of its window. A row
    # holds a chunk of samples, about a second of one machine: a row per sample cost ingest
    # more than the rest of its store writes together.
    Column("gym_id", ID, primary_key=True),
    Column("machine_id", ID, primary_key=True),
    Column("t_first", Float, primary_key=True),  # Unix s of the chunk's first sample
    Column("t_last", Float, nullable=False),
    # JSON [[t, sled_mm, lumbar_ratio], ...]: null for a dropped sample or, for the ratio, no
    # baseline yet. A journal replay may cut chunks elsewhere: readers drop repeated times.
    Column("samples", Text, nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(32), primary_key=True),  # public: shown in lists, used to revoke
    Column("secret_hash", String(64), nullable=False, unique=True),  # SHA-256 of the token
    Column("role", String(16), nullable=False),  # member | staff | admin
    Column("member_id", ID),  # set for the member role only
    Column("label", String(200)),
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float),
    # Admin tokens, and staff tokens issued for every gym; any other staff token sees only the
    # gyms api_token_gyms lists for it (migration 0004).
    Column("all_gyms", Boolean, nullable=False, server_default=false()),
)

api_token_gyms = Table(
    "api_token_gyms",
    metadata,
    Column("token_id", String(32), ForeignKey("api_tokens.id"), primary_key=True),
    Column("gym_id", ID, primary_key=True),
)

registered_machines = Table(
    "registered_machines",
    metadata,
    # The machines that may feed ingest when it requires registration (migration 0005), with
    # their broker login's password, hashed in Mosquitto's PBKDF2-SHA512 format (`$7$…`).
    Column("gym_id", ID, primary_key=True),
    Column("machine_id", ID, primary_key=True),
    Column("password_hash", String(256), nullable=False),
    Column("created_at", Float, nullable=False),
)

webhooks = Table(
    "webhooks",
    metadata,
    # A gym's HTTP receiver of staff alerts (migration 0006). The secret signs each delivery, so
    # it is kept as it is, not hashed: docs/SECURITY.md.
    Column("id", String(32), primary_key=True),  # public: shown in lists, used to remove
    Column("gym_id", ID, nullable=False, index=True),
    Column("url", String(2048), nullable=False),
    Column("secret", String(128), nullable=False),
    Column("min_severity", String(16)),  # null: alerts of every severity
    Column("created_at", Float, nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    # The outbox: one row per event of an alert per webhook of its gym, written in the
    # transaction that stores the alert or its acknowledgement; delivered rows go after a while.
    Column("seq", Integer, primary_key=True, autoincrement=True),  # the order of sending
    Column("id", String(32), nullable=False, unique=True),  # the delivery id receivers see
    Column("webhook_id", String(32), nullable=False),
    Column("alert_id", String(64), nullable=False),
    Column("event", String(32), nullable=False),  # alert.raised | alert.acknowledged
    Column("state", String(16), nullable=False),  # pending | delivered | dead
    Column("attempts", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("next_attempt_at", Float, nullable=False),
    # A deliverer's claim: no other takes the row until the lease ends.
    Column("lease_owner", String(32)),
    Column("lease_until", Float),
    Column("finished_at", Float),  # delivered or dead-lettered
    Column("last_error", String(200)),
    Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),
    # Per alert and webhook, in order: an event waits for the earlier ones.
    Index("ix_webhook_deliveries_alert", "webhook_id", "alert_id", "seq"),
)

ingest_status = Table(
    "ingest_status",
    metadata,
    # One row per ingest instance, rewritten every few seconds: the API's /metrics and /readyz
    # read the pipeline's health from here.
    Column("instance", ID, primary_key=True),
    Column("started_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("status", Text, nullable=False),  # JSON: counters, latency histogram, links
)


def conflict_insert(dialect_name: str, table: Table) -> Any:
    """An INSERT that takes ON CONFLICT, which SQLite and PostgreSQL spell alike."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    return dialect.insert(table)
