"""Tokens: staff tokens see the gyms they were issued for, or every gym.

Staff tokens issued before this revision keep seeing every gym, as they did: the tablets on the
floor go on working through the upgrade, and `gymfloor tokens list` shows them with
`"all_gyms": true` until an admin replaces them with tokens of one gym each. Admin tokens see
every gym; member tokens see their own data only, as before.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(
            sa.Column("all_gyms", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # The roles as this revision knows them, not as the code may name them later.
    tokens = _tokens()
    op.execute(tokens.update().where(tokens.c.role.in_(["staff", "admin"])).values(all_gyms=True))
    op.create_table(
        "api_token_gyms",
        sa.Column("token_id", sa.String(32), sa.ForeignKey("api_tokens.id"), primary_key=True),
        sa.Column("gym_id", sa.String(128), primary_key=True),
    )


def downgrade() -> None:
    # Before this revision every staff token saw every gym: a token of some gyms is revoked
    # rather than let loose on all of them.
    tokens = _tokens()
    op.execute(
        tokens.update()
        .where(
            tokens.c.role == "staff", tokens.c.all_gyms.is_(False), tokens.c.revoked_at.is_(None)
        )
        .values(revoked_at=time.time())
    )
    op.drop_table("api_token_gyms")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("all_gyms")


def _tokens() -> sa.TableClause:
    return sa.table(
        "api_tokens",
        sa.column("role", sa.String),
        sa.column("all_gyms", sa.Boolean),
        sa.column("revoked_at", sa.Float),
    )
