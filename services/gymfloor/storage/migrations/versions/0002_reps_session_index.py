"""Reps: the session index also holds the machine and the start time.

A session's reps were found through the unique index on (gym, machine, start time), which
SQLite preferred for its order, by scanning every rep of the session's machine (25,000 in a
store of a million reps; 13 ms). On (session, gym, machine, start time) the lookup reads just
the session's reps, already in order. bench/api.py and docs/PERFORMANCE.md have the figures.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_reps_session", table_name="reps")
    op.create_index(
        "ix_reps_session", "reps", ["session_id", "gym_id", "machine_id", "t_start"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_reps_session", table_name="reps")
    op.create_index("ix_reps_session", "reps", ["session_id"], unique=False)
