"""cabinet: card claims (the proof's rate limiter) and used forms (double-submit guard)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 17:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bonusbridge.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cabinet_card_claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("card_number", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("created_at", bonusbridge.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cabinet_card_claims")),
    )
    op.create_index(
        "ix_cabinet_card_claims_customer_created", "cabinet_card_claims", ["customer_id", "created_at"]
    )
    op.create_index(
        "ix_cabinet_card_claims_number_created", "cabinet_card_claims", ["card_number", "created_at"]
    )
    op.create_table(
        "cabinet_form_uses",
        sa.Column("form_key", sa.String(length=120), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("created_at", bonusbridge.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("form_key", name=op.f("pk_cabinet_form_uses")),
    )


def downgrade() -> None:
    op.drop_table("cabinet_form_uses")
    op.drop_index("ix_cabinet_card_claims_number_created", table_name="cabinet_card_claims")
    op.drop_index("ix_cabinet_card_claims_customer_created", table_name="cabinet_card_claims")
    op.drop_table("cabinet_card_claims")
