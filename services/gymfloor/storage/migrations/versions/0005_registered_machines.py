"""Registered machines: the machines ingest accepts when it requires registration, with their
broker login's password hash.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registered_machines",
        sa.Column("gym_id", sa.String(128), primary_key=True),
        sa.Column("machine_id", sa.String(128), primary_key=True),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("registered_machines")
