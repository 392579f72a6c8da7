"""points engine: card tiers and their changes, the staff audit, program members

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 20:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bonusbridge.types

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "card_tiers",
        sa.Column("card_id", sa.Integer(), nullable=False),
        sa.Column("tier", sa.String(length=64), nullable=True),
        sa.Column("spend_12m", bonusbridge.types.Points(), nullable=False),
        sa.Column("qualified_at", bonusbridge.types.UTCDateTime(), nullable=False),
        sa.Column("reviewed_at", bonusbridge.types.UTCDateTime(), nullable=False),
        sa.Column("changed_at", bonusbridge.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["card_id"], ["cards.id"], name=op.f("fk_card_tiers_card_id_cards")),
        sa.PrimaryKeyConstraint("card_id", name=op.f("pk_card_tiers")),
    )
    op.create_table(
        "card_tier_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("card_id", sa.Integer(), nullable=False),
        sa.Column("from_tier", sa.String(length=64), nullable=True),
        sa.Column("to_tier", sa.String(length=64), nullable=True),
        sa.Column("spend_12m", bonusbridge.types.Points(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("at", bonusbridge.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["card_id"], ["cards.id"], name=op.f("fk_card_tier_changes_card_id_cards")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_tier_changes")),
    )
    op.create_index(op.f("ix_card_tier_changes_card_id"), "card_tier_changes", ["card_id"], unique=False)
    # The card's rolling 12-month spend (quotes, tier reviews) reads one index range.
    op.create_index("ix_api_orders_card_created", "api_orders", ["card_id", "created_at"], unique=False)
    op.create_table(
        "staff_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", bonusbridge.types.UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_audit")),
    )
    op.create_index("ix_staff_audit_subject_at", "staff_audit", ["subject", "at"], unique=False)
    op.create_table(
        "program_members",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("joined_at", bonusbridge.types.UTCDateTime(), nullable=False),
        sa.Column("joined_via", sa.String(length=20), nullable=False),
        sa.Column("joined_by", sa.String(length=100), nullable=True),
        sa.Column("left_at", bonusbridge.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_program_members_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_program_members")),
    )


def downgrade() -> None:
    op.drop_table("program_members")
    op.drop_index("ix_staff_audit_subject_at", table_name="staff_audit")
    op.drop_table("staff_audit")
    op.drop_index("ix_api_orders_card_created", table_name="api_orders")
    op.drop_index(op.f("ix_card_tier_changes_card_id"), table_name="card_tier_changes")
    op.drop_table("card_tier_changes")
    op.drop_table("card_tiers")
