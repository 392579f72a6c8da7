"""orders: the total points were held against, and the money refunded by amount (not by line)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 22:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bonusbridge.types

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_orders") as batch:
        batch.add_column(sa.Column("spend_total", bonusbridge.types.Points(), nullable=True))
        batch.add_column(
            sa.Column("refunded_by_amount", bonusbridge.types.Points(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("api_orders") as batch:
        batch.drop_column("refunded_by_amount")
        batch.drop_column("spend_total")
