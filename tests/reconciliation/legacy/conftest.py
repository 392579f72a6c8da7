"""Fixtures for the legacy import: the shipped examples, a snapshot of what an import wrote
(by natural keys, so two runs compare equal whatever ids the sequences handed out)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "reconciliation" / "legacy" / "examples"
MAPPINGS = ROOT / "mapping" / "legacy"
EXAMPLE_FILES = [
    EXAMPLES / "dobrostroy_bonus.csv",
    EXAMPLES / "stroy_discount.csv",
    EXAMPLES / "sad_club.xlsx",
]
EXAMPLE_MAPPINGS = [
    MAPPINGS / "dobrostroy_bonus.yaml",
    MAPPINGS / "stroy_discount.yaml",
    MAPPINGS / "sad_club.yaml",
]
AS_OF = datetime(2026, 11, 30, 21, 0, tzinfo=UTC)


def snapshot(engine: Engine) -> dict[str, Any]:
    """Everything an import writes, keyed by program code and card number (ids left out)."""
    card = (
        "(SELECT p.code || ':' || c.number FROM cards c JOIN programs p ON p.id = c.program_id"
        " WHERE c.id = {})"
    )
    queries = {
        "cards": "SELECT p.code, c.number, c.status, c.phone_raw, c.phone_e164, c.changed_by, c.is_primary"
        " FROM cards c JOIN programs p ON p.id = c.program_id",
        "balances": f"SELECT {card.format('b.card_id')}, b.total, b.held FROM card_balances b",
        "operations": "SELECT origin, idempotency_key, kind, actor FROM ledger_operations",
        "movements": f"SELECT {card.format('m.card_id')}, m.kind, m.amount, m.origin, m.external_id, m.actor,"
        " m.reason, m.occurred_at, m.available_from, m.expires_at FROM movements m",
        "lots": f"SELECT {card.format('l.card_id')}, l.amount, l.remaining, l.held, l.available_from,"
        " l.expires_at FROM lots l",
        "outbox_cards": f"SELECT {card.format('o.entity_id')}, o.key = 'card:' || o.entity_id, o.origin,"
        " o.state FROM sync_outbox o WHERE o.topic = 'card'",
        "outbox_movements": "SELECT m.external_id, o.key = 'card:' || m.card_id, o.slot = m.card_id % 64,"
        " o.origin FROM sync_outbox o JOIN movements m ON m.id = o.entity_id WHERE o.topic = 'movement'",
        "legacy_cards": f"SELECT {card.format('x.card_id')}, x.source, x.line, x.tier, x.last_name,"
        " x.first_name, x.middle_name, x.birth_date, x.email FROM legacy_cards x",
        "batches": "SELECT plan_hash, batch_no, cards, created, skipped FROM legacy_import_batches",
        "issues": "SELECT program_code, card_number, line, kind FROM legacy_import_issues",
    }
    with engine.connect() as conn:
        return {
            name: sorted((tuple(str(v) for v in row) for row in conn.execute(text(sql))), key=str)
            for name, sql in queries.items()
        }


@pytest.fixture
def examples() -> tuple[list[Path], list[Path]]:
    return EXAMPLE_FILES, EXAMPLE_MAPPINGS
