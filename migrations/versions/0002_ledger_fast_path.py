"""ledger fast path: one PL/pgSQL call per accrual or redemption (PostgreSQL only)

The functions do only the success path of the two hottest operations, in one statement and one
round trip. Anything else — an unknown, blocked or accumulation-only card, too few spendable
points, stale holds to release — raises SQLSTATE BB100 ("take the Python path"), which rolls the
statement back; ``LedgerBook`` then runs the same operation and is the one authority on refusals.
A replayed key is answered here (BB409 when its arguments differ).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 23:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CLAIM = """
    INSERT INTO ledger_operations (origin, idempotency_key, kind, fingerprint, actor, created_at)
    VALUES (p_origin, p_key, {kind}, p_fingerprint, p_actor, p_now)
    ON CONFLICT (origin, idempotency_key) DO NOTHING
    RETURNING id INTO v_op;
    IF v_op IS NULL THEN
        SELECT o.id, o.kind, o.fingerprint INTO v_op, v_kind, v_fp
        FROM ledger_operations o WHERE o.origin = p_origin AND o.idempotency_key = p_key;
        IF v_kind <> {kind} OR v_fp <> p_fingerprint THEN
            RAISE EXCEPTION USING ERRCODE = 'BB409', MESSAGE = 'idempotency_conflict', DETAIL = v_kind;
        END IF;
        operation_id := v_op; movement_id := NULL; replayed := true;
        RETURN NEXT; RETURN;
    END IF;
"""

ACCRUE = f"""
CREATE OR REPLACE FUNCTION bb_accrue(
    p_origin text, p_key text, p_fingerprint text, p_actor text, p_card integer, p_amount numeric,
    p_document text, p_reason text, p_occurred timestamptz, p_available timestamptz,
    p_expires timestamptz, p_now timestamptz
) RETURNS TABLE (operation_id integer, movement_id integer, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_op integer; v_kind text; v_fp text; v_status text; v_movement integer;
BEGIN
    {CLAIM.format(kind="'accrue'")}
    UPDATE card_balances b SET total = b.total + p_amount WHERE b.card_id = p_card
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

REDEEM = f"""
CREATE OR REPLACE FUNCTION bb_redeem(
    p_origin text, p_key text, p_fingerprint text, p_actor text, p_card integer, p_amount numeric,
    p_document text, p_reason text, p_now timestamptz
) RETURNS TABLE (operation_id integer, movement_id integer, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_op integer; v_kind text; v_fp text; v_status text; v_movement integer;
    v_left numeric := p_amount; v_take numeric; v_lot record;
BEGIN
    {CLAIM.format(kind="'redeem'")}
    UPDATE card_balances b SET total = b.total - p_amount
    WHERE b.card_id = p_card AND b.total - b.held >= p_amount
    RETURNING (SELECT c.status FROM cards c WHERE c.id = b.card_id) INTO v_status;
    IF v_status IS NULL OR v_status <> 'active' THEN
        RAISE EXCEPTION USING ERRCODE = 'BB100', MESSAGE = 'python_path';
    END IF;
    INSERT INTO movements (card_id, operation_id, kind, amount, origin, external_id, document, actor,
                           reason, occurred_at, recorded_at)
    VALUES (p_card, v_op, 'redemption', -p_amount, p_origin, p_key, p_document, p_actor,
            p_reason, p_now, p_now)
    RETURNING id INTO v_movement;
    FOR v_lot IN
        SELECT l.id, l.remaining - l.held AS free FROM lots l
        WHERE l.card_id = p_card AND l.remaining > 0 AND l.remaining > l.held
          AND (l.expires_at IS NULL OR l.expires_at > p_now) AND l.available_from <= p_now
        ORDER BY l.expires_at IS NULL, l.expires_at, l.id
    LOOP
        v_take := least(v_lot.free, v_left);
        UPDATE lots SET remaining = remaining - v_take WHERE id = v_lot.id;
        INSERT INTO lot_allocations (movement_id, lot_id, amount) VALUES (v_movement, v_lot.id, v_take);
        v_left := v_left - v_take;
        EXIT WHEN v_left = 0;
    END LOOP;
    IF v_left > 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'BB100', MESSAGE = 'python_path';
    END IF;
    operation_id := v_op; movement_id := v_movement; replayed := false;
    RETURN NEXT;
END;
$$;
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(ACCRUE)
    op.execute(REDEEM)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION IF EXISTS bb_accrue")
    op.execute("DROP FUNCTION IF EXISTS bb_redeem")
