"""The recent telemetry of each machine, for the staff board's plot.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trace",
        sa.Column("gym_id", sa.String(128), primary_key=True),
        sa.Column("machine_id", sa.String(128), primary_key=True),
        sa.Column("t_first", sa.Float(), primary_key=True),
        sa.Column("t_last", sa.Float(), nullable=False),
        sa.Column("samples", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("trace")
