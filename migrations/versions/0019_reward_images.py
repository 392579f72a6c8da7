"""rewards shop (issue 21 item 1): rewards' images, uploaded by staff, checked by Pillow

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-08 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bonusbridge.types

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reward_images",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reward_id", sa.Integer(), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("created_at", bonusbridge.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["reward_id"], ["rewards.id"], name=op.f("fk_reward_images_reward_id_rewards")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reward_images")),
    )
    op.create_index(op.f("ix_reward_images_reward_id"), "reward_images", ["reward_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_reward_images_reward_id"), table_name="reward_images")
    op.drop_table("reward_images")
