"""ledger: the fast path's accrual declines a credit that would take a card above the maximum

A card's ``total`` is NUMERIC(15,2), like 1C's bonus register: at most 9 999 999 999 999.99. The
Python path refuses a credit beyond it with ``BalanceLimitExceeded``; ``bb_accrue`` now declines
such a credit (SQLSTATE BB100, "take the Python path") instead of failing on the column's numeric
overflow, so the Python path is the one that decides the refusal, as for every other refusal.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08 10:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: ``bonusbridge.ledger.intents.MAX_BALANCE``, written out: a migration stays as it was written.
MAX_BALANCE = "9999999999999.99"

ACCRUE = """
CREATE OR REPLACE FUNCTION bb_accrue(
    p_origin text, p_key text, p_fingerprint text, p_actor text, p_card integer, p_amount numeric,
    p_document text, p_reason text, p_occurred timestamptz, p_available timestamptz,
    p_expires timestamptz, p_now timestamptz
) RETURNS TABLE (operation_id integer, movement_id integer, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_op integer; v_kind text; v_fp text; v_status text; v_movement integer;
BEGIN
    INSERT INTO ledger_operations (origin, idempotency_key, kind, fingerprint, actor, created_at)
    VALUES (p_origin, p_key, 'accrue', p_fingerprint, p_actor, p_now)
    ON CONFLICT (origin, idempotency_key) DO NOTHING
    RETURNING id INTO v_op;
    IF v_op IS NULL THEN
        SELECT o.id, o.kind, o.fingerprint INTO v_op, v_kind, v_fp
        FROM ledger_operations o WHERE o.origin = p_origin AND o.idempotency_key = p_key;
        IF v_kind <> 'accrue' OR v_fp <> p_fingerprint THEN
            RAISE EXCEPTION USING ERRCODE = 'BB409', MESSAGE = 'idempotency_conflict', DETAIL = v_kind;
        END IF;
        operation_id := v_op; movement_id := NULL; replayed := true;
        RETURN NEXT; RETURN;
    END IF;
    UPDATE card_balances b SET total = b.total + p_amount
    WHERE b.card_id = p_card{room}
    RETURNING (SELECT c.status FROM cards c WHERE c.id = b.card_id) INTO v_status;
    IF v_status IS NULL OR v_status = 'blocked' THEN
        RAISE EXCEPTION USING ERRCODE = 'BB100', MESSAGE = 'python_path';
    END IF;
    INSERT INTO movements (card_id, operation_id, kind, amount, origin, external_id, document, actor,
                           reason, occurred_at, recorded_at, available_from, expires_at)
    VALUES (p_card, v_op, 'accrual', p_amount, p_origin, p_key, p_document, p_actor,
            p_reason, p_occurred, p_now, p_available, p_expires)
    RETURNING id INTO v_movement;
    INSERT INTO lots (card_id, movement_id, amount, remaining, held, available_from, expires_at)
    VALUES (p_card, v_movement, p_amount, p_amount, 0, p_available, p_expires);
    operation_id := v_op; movement_id := v_movement; replayed := false;
    RETURN NEXT;
END;
$$;
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(ACCRUE.replace("{room}", f" AND b.total <= {MAX_BALANCE} - p_amount"))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(ACCRUE.replace("{room}", ""))
