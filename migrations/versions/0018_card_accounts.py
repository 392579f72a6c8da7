"""ledger (issue 18 item 4): a card's points may live on an account another card holds

``cards.account_card_id`` names the card whose balance row, lots and holds hold this card's points
(TigerBeetle: one account, several card aliases). NULL — every card in the ``retail`` profile —
means the card is its own account, as before. In ``ut11`` (1C keeps bonuses per partner) every
card of a customer names the same account card, the account card itself included, so each card
shows and spends the partner's points (``bonusbridge.ledger.accounts``).

On PostgreSQL the fast-path functions (``bb_accrue``, ``bb_redeem``) decline a card that names
another card as its account (an alias), so its operations take the Python path, which resolves the
account and decides the status by the card presented; an account card itself keeps the fast path.
The function bodies are patched in place, one condition each.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-08 01:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATUS = "RETURNING (SELECT c.status FROM cards c WHERE c.id = b.card_id)"
_OWN_ACCOUNT_ONLY = (
    "RETURNING (SELECT c.status FROM cards c WHERE c.id = b.card_id"
    " AND (c.account_card_id IS NULL OR c.account_card_id = c.id))"
)


def _patch_functions(old: str, new: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for name in ("bb_accrue", "bb_redeem"):
        definition = bind.execute(
            sa.text("SELECT pg_get_functiondef(p.oid) FROM pg_proc p WHERE p.proname = :name"), {"name": name}
        ).scalar_one()
        if old not in definition:
            raise RuntimeError(f"{name}: expected {old!r} in its body")
        op.execute(definition.replace(old, new))


def upgrade() -> None:
    # Plain ALTERs, not a batch: a batch that copied the table on SQLite would drop its triggers.
    op.add_column("cards", sa.Column("account_card_id", sa.Integer(), nullable=True))
    op.create_index("ix_cards_account_card_id", "cards", ["account_card_id"], unique=False)
    _patch_functions(_STATUS, _OWN_ACCOUNT_ONLY)


def downgrade() -> None:
    _patch_functions(_OWN_ACCOUNT_ONLY, _STATUS)
    op.drop_index("ix_cards_account_card_id", table_name="cards")
    with op.batch_alter_table("cards") as batch_op:
        batch_op.drop_column("account_card_id")
