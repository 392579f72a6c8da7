"""cabinet (issue 17 item 5): consents to personal-data processing and programs' English names

``personal_data_consents`` records each consent a customer gave on the profile form (152-ФЗ): the
version of the text agreed to and when; ``programs.name_en`` is a program's name on the English
pages and in English SMS.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-11 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bonusbridge.types

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ORIGINS = ("website", "onec", "migration", "admin", "reconciliation", "system")


def upgrade() -> None:
    op.create_table(
        "personal_data_consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("text_version", sa.String(length=32), nullable=False),
        sa.Column("given_at", bonusbridge.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "origin",
            sa.Enum(*ORIGINS, name="origin", native_enum=False, create_constraint=True, length=24),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_personal_data_consents_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_personal_data_consents")),
        sa.UniqueConstraint(
            "customer_id", "text_version", name=op.f("uq_personal_data_consents_customer_id_text_version")
        ),
    )
    op.create_index(op.f("ix_personal_data_consents_customer_id"), "personal_data_consents", ["customer_id"])
    with op.batch_alter_table("programs") as batch_op:
        batch_op.add_column(sa.Column("name_en", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("programs") as batch_op:
        batch_op.drop_column("name_en")
    op.drop_index(op.f("ix_personal_data_consents_customer_id"), table_name="personal_data_consents")
    op.drop_table("personal_data_consents")
