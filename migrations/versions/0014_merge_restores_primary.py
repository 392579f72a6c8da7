"""merges: an unmerge restores the primary card exactly and removes the customer a merge created

``card_merges`` keeps the primary card's status and reason before the merge (a card nobody owned,
bound for the merge, gets them back when the unmerge unbinds it) and whether the merge created its
customer (the legacy import's auto-merge does); ``customer_id`` may become NULL: an unmerge deletes
a customer it created when nothing else uses it, and the log keeps the merge.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-09 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("card_merges") as batch:
        batch.add_column(sa.Column("primary_status_before", sa.String(length=24), nullable=True))
        batch.add_column(sa.Column("primary_status_reason_before", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column("customer_created", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.alter_column("customer_id", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("card_merges") as batch:
        batch.alter_column("customer_id", existing_type=sa.Integer(), nullable=False)
        batch.drop_column("customer_created")
        batch.drop_column("primary_status_reason_before")
        batch.drop_column("primary_status_before")
