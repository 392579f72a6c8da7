"""merges and drift: the merge log (card_merges, card_merge_items) and drift reports against 1C

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bonusbridge.types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ORIGINS = ("website", "onec", "migration", "admin", "reconciliation", "system")
STATUSES = ("active", "accumulation_only", "blocked")


def _enum(values: Sequence[str], name: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=24)


def upgrade() -> None:
    op.create_table(
        "card_merges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("primary_card_id", sa.Integer(), nullable=False),
        sa.Column("previous_primary_card_id", sa.Integer(), nullable=True),
        sa.Column("primary_was_primary", sa.Boolean(), nullable=False),
        sa.Column("primary_bound_for_merge", sa.Boolean(), nullable=False),
        sa.Column("origin", _enum(ORIGINS, "origin"), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("points_moved", bonusbridge.types.Points(), nullable=False),
        sa.Column("decided_at", bonusbridge.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("unmerged_at", bonusbridge.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("unmerged_by", sa.String(length=100), nullable=True),
        sa.Column("unmerge_reason", sa.Text(), nullable=True),
        sa.Column("unmerge_key", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_card_merges_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["primary_card_id"], ["cards.id"], name=op.f("fk_card_merges_primary_card_id_cards")
        ),
        sa.ForeignKeyConstraint(
            ["previous_primary_card_id"],
            ["cards.id"],
            name=op.f("fk_card_merges_previous_primary_card_id_cards"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_merges")),
        sa.UniqueConstraint("origin", "key", name=op.f("uq_card_merges_origin_key")),
    )
    op.create_index(op.f("ix_card_merges_customer_id"), "card_merges", ["customer_id"])
    op.create_index(op.f("ix_card_merges_decided_at"), "card_merges", ["decided_at"])
    op.create_table(
        "card_merge_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("merge_id", sa.Integer(), nullable=False),
        sa.Column("card_id", sa.Integer(), nullable=False),
        sa.Column("points_moved", bonusbridge.types.Points(), nullable=False),
        sa.Column("transfer_operation_id", sa.Integer(), nullable=True),
        sa.Column("transfer_key", sa.String(length=220), nullable=False),
        sa.Column("status_before", _enum(STATUSES, "card_status"), nullable=False),
        sa.Column("status_reason_before", sa.Text(), nullable=True),
        sa.Column("merged_into_before", sa.Integer(), nullable=True),
        sa.Column("was_primary", sa.Boolean(), nullable=False),
        sa.Column("customer_before", sa.Integer(), nullable=True),
        sa.Column("points_restored", bonusbridge.types.Points(), nullable=True),
        sa.ForeignKeyConstraint(
            ["merge_id"], ["card_merges.id"], name=op.f("fk_card_merge_items_merge_id_card_merges")
        ),
        sa.ForeignKeyConstraint(["card_id"], ["cards.id"], name=op.f("fk_card_merge_items_card_id_cards")),
        sa.ForeignKeyConstraint(
            ["transfer_operation_id"],
            ["ledger_operations.id"],
            name=op.f("fk_card_merge_items_transfer_operation_id_ledger_operations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_merge_items")),
        sa.UniqueConstraint("merge_id", "card_id", name=op.f("uq_card_merge_items_merge_id_card_id")),
    )
    op.create_index(op.f("ix_card_merge_items_card_id"), "card_merge_items", ["card_id"])
    op.create_table(
        "drift_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", bonusbridge.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", bonusbridge.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("profile", sa.String(length=16), nullable=False),
        sa.Column("checked_cards", sa.Integer(), nullable=False),
        sa.Column("checked_customers", sa.Integer(), nullable=False),
        sa.Column("differences", sa.Integer(), nullable=False),
        sa.Column("missing_in_onec", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Text(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("repaired_at", bonusbridge.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("repaired_by", sa.String(length=100), nullable=True),
        sa.Column("repaired_items", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drift_reports")),
    )
    op.create_index(op.f("ix_drift_reports_started_at"), "drift_reports", ["started_at"])
    op.create_table(
        "drift_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("entity", sa.String(length=16), nullable=False),
        sa.Column("hub_id", sa.Integer(), nullable=False),
        sa.Column("onec_ref", sa.String(length=36), nullable=True),
        sa.Column("field", sa.String(length=40), nullable=False),
        sa.Column("hub_value", sa.Text(), nullable=True),
        sa.Column("onec_value", sa.Text(), nullable=True),
        sa.Column("repair_movement_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["report_id"], ["drift_reports.id"], name=op.f("fk_drift_items_report_id_drift_reports")
        ),
        sa.ForeignKeyConstraint(
            ["repair_movement_id"], ["movements.id"], name=op.f("fk_drift_items_repair_movement_id_movements")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drift_items")),
    )
    op.create_index(op.f("ix_drift_items_report_id"), "drift_items", ["report_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_drift_items_report_id"), table_name="drift_items")
    op.drop_table("drift_items")
    op.drop_index(op.f("ix_drift_reports_started_at"), table_name="drift_reports")
    op.drop_table("drift_reports")
    op.drop_index(op.f("ix_card_merge_items_card_id"), table_name="card_merge_items")
    op.drop_table("card_merge_items")
    op.drop_index(op.f("ix_card_merges_decided_at"), table_name="card_merges")
    op.drop_index(op.f("ix_card_merges_customer_id"), table_name="card_merges")
    op.drop_table("card_merges")
