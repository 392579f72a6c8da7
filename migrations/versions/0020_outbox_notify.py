"""sync (issue 20 item 3): the relay is woken by a NOTIFY when outbox rows are written

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-08 02:10:00

A statement-level trigger on ``sync_outbox`` sends ``NOTIFY bb_sync_outbox`` with each insert; the
notification is delivered when the transaction commits (and one per transaction: PostgreSQL folds
identical ones), so the relay, which LISTENs, publishes a new row at once instead of at its next
poll. PostgreSQL only; on SQLite the relay polls as before.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE FUNCTION bb_sync_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('bb_sync_outbox', '');
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER sync_outbox_notify AFTER INSERT ON sync_outbox"
        " FOR EACH STATEMENT EXECUTE FUNCTION bb_sync_outbox_notify()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS sync_outbox_notify ON sync_outbox")
    op.execute("DROP FUNCTION IF EXISTS bb_sync_outbox_notify()")
