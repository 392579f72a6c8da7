"""staff: staff users, their login attempts, and the daily progress snapshots

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bonusbridge.types

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "staff_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("roles", sa.String(length=100), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", bonusbridge.types.UTCDateTime(), nullable=False),
        sa.Column("last_login_at", bonusbridge.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_users")),
        sa.UniqueConstraint("login", name=op.f("uq_staff_users_login")),
    )
    op.create_table(
        "staff_login_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("at", bonusbridge.types.UTCDateTime(), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_login_attempts")),
    )
    op.create_index("ix_staff_login_attempts_login_at", "staff_login_attempts", ["login", "at"])
    op.create_index("ix_staff_login_attempts_ip_at", "staff_login_attempts", ["ip", "at"])
    op.create_table(
        "progress_snapshots",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("active_cards", sa.Integer(), nullable=False),
        sa.Column("bound_verified", sa.Integer(), nullable=False),
        sa.Column("recorded_at", bonusbridge.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_progress_snapshots")),
    )


def downgrade() -> None:
    op.drop_table("progress_snapshots")
    op.drop_index("ix_staff_login_attempts_ip_at", table_name="staff_login_attempts")
    op.drop_index("ix_staff_login_attempts_login_at", table_name="staff_login_attempts")
    op.drop_table("staff_login_attempts")
    op.drop_table("staff_users")
