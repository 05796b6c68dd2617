"""Alert clearances: when an alert stopped applying (a machine_offline alert's machine came
back), on the alert and in the order the live stream follows.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as alerts:
        alerts.add_column(sa.Column("cleared_at", sa.Float(), nullable=True))
    op.create_table(
        "alert_clearances",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.String(64), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("alert_clearances")
    with op.batch_alter_table("alerts") as alerts:
        alerts.drop_column("cleared_at")
