"""api clients: the shop API's callers (hashed keys, scopes), their orders and idempotency keys

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 17:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bonusbridge.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_clients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("key_prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("created_at", bonusbridge.types.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", bonusbridge.types.UTCDateTime(), nullable=True),
        sa.Column("last_used_at", bonusbridge.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_clients")),
        sa.UniqueConstraint("key_prefix", name=op.f("uq_api_clients_key_prefix")),
        sa.UniqueConstraint("name", name=op.f("uq_api_clients_name")),
    )
    op.create_table(
        "api_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("card_id", sa.Integer(), nullable=False),
        sa.Column("total", bonusbridge.types.Points(), nullable=True),
        sa.Column("refunded", bonusbridge.types.Points(), nullable=False),
        sa.Column("accrual_movement_id", sa.Integer(), nullable=True),
        sa.Column("created_at", bonusbridge.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint("refunded >= 0", name=op.f("ck_api_orders_refunded_not_negative")),
        sa.CheckConstraint(
            "total IS NULL OR refunded <= total", name=op.f("ck_api_orders_refunded_within_total")
        ),
        sa.ForeignKeyConstraint(
            ["accrual_movement_id"],
            ["movements.id"],
            name=op.f("fk_api_orders_accrual_movement_id_movements"),
        ),
        sa.ForeignKeyConstraint(["card_id"], ["cards.id"], name=op.f("fk_api_orders_card_id_cards")),
        sa.ForeignKeyConstraint(
            ["client_id"], ["api_clients.id"], name=op.f("fk_api_orders_client_id_api_clients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_orders")),
        sa.UniqueConstraint("client_id", "reference", name=op.f("uq_api_orders_client_id_reference")),
    )
    op.create_table(
        "api_idempotency_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("operation", sa.String(length=40), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("created_at", bonusbridge.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["api_clients.id"], name=op.f("fk_api_idempotency_keys_client_id_api_clients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_idempotency_keys")),
        sa.UniqueConstraint("client_id", "key", name=op.f("uq_api_idempotency_keys_client_id_key")),
    )


def downgrade() -> None:
    op.drop_table("api_idempotency_keys")
    op.drop_table("api_orders")
    op.drop_table("api_clients")
