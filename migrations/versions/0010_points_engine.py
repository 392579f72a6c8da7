"""points engine: program versions, campaigns, receipts, reminders

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bonusbridge.types

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "points_program_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("effective_from", bonusbridge.types.UTCDateTime(), nullable=False),
        sa.Column("rules", sa.Text(), nullable=False),
        sa.Column("created_at", bonusbridge.types.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_program_versions")),
        sa.UniqueConstraint("effective_from", name=op.f("uq_points_program_versions_effective_from")),
    )
    op.create_table(
        "points_campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("starts_at", bonusbridge.types.UTCDateTime(), nullable=False),
        sa.Column("ends_at", bonusbridge.types.UTCDateTime(), nullable=False),
        sa.Column("rules", sa.Text(), nullable=False),
        sa.Column("created_at", bonusbridge.types.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_points_campaigns_period_not_empty")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_campaigns")),
        sa.UniqueConstraint("code", name=op.f("uq_points_campaigns_code")),
    )
    op.create_table(
        "points_receipts",
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=True),
        sa.Column("occurred_at", bonusbridge.types.UTCDateTime(), nullable=False),
        sa.Column("lines", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["api_orders.id"], name=op.f("fk_points_receipts_order_id_api_orders")
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["points_program_versions.id"],
            name=op.f("fk_points_receipts_version_id_points_program_versions"),
        ),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_points_receipts")),
    )
    op.create_table(
        "points_reminders",
        sa.Column("card_id", sa.Integer(), nullable=False),
        sa.Column("last_sent_at", bonusbridge.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["card_id"], ["cards.id"], name=op.f("fk_points_reminders_card_id_cards")),
        sa.PrimaryKeyConstraint("card_id", name=op.f("pk_points_reminders")),
    )


def downgrade() -> None:
    op.drop_table("points_reminders")
    op.drop_table("points_receipts")
    op.drop_table("points_campaigns")
    op.drop_table("points_program_versions")
