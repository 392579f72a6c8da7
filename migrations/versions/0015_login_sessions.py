"""sessions: logged-in cabinet and staff sessions kept server-side, so logout ends them

``login_sessions`` holds one row per logged-in session (its id hashed): logout, disabling a staff
user and a password change delete rows, and ``expires_at`` is the absolute end of a login.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-10 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bonusbridge.types

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("created_at", bonusbridge.types.UTCDateTime(), nullable=False),
        sa.Column("expires_at", bonusbridge.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_sessions")),
    )
    op.create_index("ix_login_sessions_subject", "login_sessions", ["kind", "subject_id"])


def downgrade() -> None:
    op.drop_index("ix_login_sessions_subject", table_name="login_sessions")
    op.drop_table("login_sessions")
