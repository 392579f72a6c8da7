"""legacy import: runs, per-batch progress, apply-time issues, and each imported card's legacy data

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bonusbridge.types

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "legacy_import_runs",
        sa.Column("plan_hash", sa.String(length=64), nullable=False),
        sa.Column("as_of", bonusbridge.types.UTCDateTime(), nullable=False),
        sa.Column("cards", sa.Integer(), nullable=False),
        sa.Column("batches", sa.Integer(), nullable=False),
        sa.Column("sources", sa.Text(), nullable=False),
        sa.Column("started_at", bonusbridge.types.UTCDateTime(), nullable=False),
        sa.Column("finished_at", bonusbridge.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("plan_hash", name=op.f("pk_legacy_import_runs")),
    )
    op.create_table(
        "legacy_import_batches",
        sa.Column("plan_hash", sa.String(length=64), nullable=False),
        sa.Column("batch_no", sa.Integer(), nullable=False),
        sa.Column("cards", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("done_at", bonusbridge.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_hash"],
            ["legacy_import_runs.plan_hash"],
            name=op.f("fk_legacy_import_batches_plan_hash_legacy_import_runs"),
        ),
        sa.PrimaryKeyConstraint("plan_hash", "batch_no", name=op.f("pk_legacy_import_batches")),
    )
    op.create_table(
        "legacy_import_issues",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_hash", sa.String(length=64), nullable=False),
        sa.Column("batch_no", sa.Integer(), nullable=False),
        sa.Column("program_code", sa.String(length=64), nullable=False),
        sa.Column("card_number", sa.String(length=64), nullable=False),
        sa.Column("source", sa.Integer(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("card_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legacy_import_issues")),
    )
    with op.batch_alter_table("legacy_import_issues", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_legacy_import_issues_plan_hash"), ["plan_hash"], unique=False)
    op.create_table(
        "legacy_cards",
        sa.Column("card_id", sa.Integer(), nullable=False),
        sa.Column("plan_hash", sa.String(length=64), nullable=False),
        sa.Column("source", sa.Integer(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("tier", sa.String(length=40), nullable=True),
        sa.Column("last_name", sa.String(length=100), nullable=True),
        sa.Column("first_name", sa.String(length=100), nullable=True),
        sa.Column("middle_name", sa.String(length=100), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.ForeignKeyConstraint(["card_id"], ["cards.id"], name=op.f("fk_legacy_cards_card_id_cards")),
        sa.PrimaryKeyConstraint("card_id", name=op.f("pk_legacy_cards")),
    )


def downgrade() -> None:
    op.drop_table("legacy_cards")
    with op.batch_alter_table("legacy_import_issues", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_legacy_import_issues_plan_hash"))
    op.drop_table("legacy_import_issues")
    op.drop_table("legacy_import_batches")
    op.drop_table("legacy_import_runs")
