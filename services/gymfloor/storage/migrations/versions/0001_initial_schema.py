"""The initial schema: machines, members, sessions, reps, alerts and their acknowledgements,
API tokens and the ingest status.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "acknowledgements",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.String(length=64), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("by", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_table(
        "alerts",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("gym_id", sa.String(length=128), nullable=False),
        sa.Column("machine_id", sa.String(length=128), nullable=False),
        sa.Column("session_id", sa.String(length=128), nullable=True),
        sa.Column("member_id", sa.String(length=128), nullable=True),
        sa.Column("t", sa.Float(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("alert", sa.Text(), nullable=False),
        sa.Column("acknowledged_at", sa.Float(), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alerts_t"), ["t"], unique=False)

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("member_id", sa.String(length=128), nullable=True),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("revoked_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("secret_hash"),
    )
    op.create_table(
        "ingest_status",
        sa.Column("instance", sa.String(length=128), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("instance"),
    )
    op.create_table(
        "machines",
        sa.Column("gym_id", sa.String(length=128), nullable=False),
        sa.Column("machine_id", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("state_since", sa.Float(), nullable=False),
        sa.Column("last_message_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("gym_id", "machine_id"),
    )
    op.create_table(
        "members",
        sa.Column("member_id", sa.String(length=128), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("member_id"),
    )
    op.create_table(
        "reps",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("gym_id", sa.String(length=128), nullable=False),
        sa.Column("machine_id", sa.String(length=128), nullable=False),
        sa.Column("session_id", sa.String(length=128), nullable=True),
        sa.Column("member_id", sa.String(length=128), nullable=True),
        sa.Column("rep", sa.Integer(), nullable=False),
        sa.Column("t_start", sa.Float(), nullable=False),
        sa.Column("t_end", sa.Float(), nullable=False),
        sa.Column("rom_mm", sa.Float(), nullable=False),
        sa.Column("eccentric_s", sa.Float(), nullable=False),
        sa.Column("min_lumbar_ratio", sa.Float(), nullable=True),
        sa.Column("lumbar_liftoff", sa.Boolean(), nullable=False),
        sa.Column("excessive_rom", sa.Boolean(), nullable=False),
        sa.Column("uncontrolled_descent", sa.Boolean(), nullable=False),
        sa.Column("report", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("gym_id", "machine_id", "t_start", name="uq_reps_machine_start"),
    )
    with op.batch_alter_table("reps", schema=None) as batch_op:
        batch_op.create_index("ix_reps_member_start", ["member_id", "t_start"], unique=False)
        batch_op.create_index("ix_reps_session", ["session_id"], unique=False)
        batch_op.create_index("ix_reps_start", ["t_start"], unique=False)

    op.create_table(
        "sessions",
        sa.Column("gym_id", sa.String(length=128), nullable=False),
        sa.Column("machine_id", sa.String(length=128), nullable=False),
        sa.Column("session_id", sa.String(length=128), nullable=False),
        sa.Column("member_id", sa.String(length=128), nullable=True),
        sa.Column("t_start", sa.Float(), nullable=False),
        sa.Column("t_end", sa.Float(), nullable=True),
        sa.Column("load_kg", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("gym_id", "machine_id", "session_id"),
    )
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sessions_machine_start", ["gym_id", "machine_id", "t_start"], unique=False
        )
        batch_op.create_index("ix_sessions_member_start", ["member_id", "t_start"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_sessions_member_start")
        batch_op.drop_index("ix_sessions_machine_start")

    op.drop_table("sessions")
    with op.batch_alter_table("reps", schema=None) as batch_op:
        batch_op.drop_index("ix_reps_start")
        batch_op.drop_index("ix_reps_session")
        batch_op.drop_index("ix_reps_member_start")

    op.drop_table("reps")
    op.drop_table("members")
    op.drop_table("machines")
    op.drop_table("ingest_status")
    op.drop_table("api_tokens")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alerts_t"))

    op.drop_table("alerts")
    op.drop_table("acknowledgements")
