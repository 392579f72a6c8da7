"""Every path that can leave a card bound to a customer, each driven the way production drives it,
for the tests of the spending lock (``tests/services/test_spending_lock.py`` and the shop API's
``tests/web_cabinet/api/test_spending_lock_api.py``).

Each path takes an ``Env`` and whether the owner's profile ends up complete, starts from the card
in the *wrong* state (``active`` for an incomplete profile, ``accumulation_only`` for a complete
one, as a path that forgets the rule would leave it) and returns the ids of the bound cards it
produced. The rule (``bonusbridge.services.cards.lock_status``) then wants each of them
``accumulation_only`` while the profile is incomplete and ``active`` once it is complete.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import count
from typing import Any

from sqlalchemy import Engine, select

from bonusbridge.actors import Actor, Permission
from bonusbridge.app import Hub
from bonusbridge.ledger.service import LedgerService
from bonusbridge.models import Card, CardStatus, Customer, Origin, Program
from bonusbridge.services.cabinet import choose_primary_card, customer_for_verified_phone, settle_single_card
from bonusbridge.services.card_claims import ClaimOutcome, claim_card
from bonusbridge.services.cards import recheck_all_cards
from bonusbridge.services.profiles import update_profile
from bonusbridge.settings import Settings, load_settings
from bonusbridge.unit_of_work import UnitOfWork, normalize_card_number

REQUIRED = ["last_name", "first_name", "birth_date"]
NAMES = {"last_name": "Петрова", "first_name": "Мария"}
BIRTH = {"birth_date": date(1990, 5, 17)}
STAFF = Actor("olga", frozenset({Permission.MERGE}))


def wrong(complete: bool) -> CardStatus:
    """The status a path that forgets the rule leaves: the opposite of what the profile calls for."""
    return CardStatus.ACCUMULATION_ONLY if complete else CardStatus.ACTIVE


def expected(complete: bool) -> CardStatus:
    return CardStatus.ACTIVE if complete else CardStatus.ACCUMULATION_ONLY


def profile(complete: bool) -> dict[str, Any]:
    return {**NAMES, **BIRTH} if complete else dict(NAMES)


@dataclass
class Env:
    """The hub on the test database with a hand-moved clock, and builders of setup rows (credited to
    1C, as the initial load would write them, so they queue nothing of their own)."""

    db: Engine
    clock: Callable[[], datetime]
    required: list[str] = field(default_factory=lambda: list(REQUIRED))
    _n: Any = field(default_factory=lambda: count(1))

    def settings(self, required: list[str] | None = None) -> Settings:
        return load_settings(
            database_url=self.db.url.render_as_string(hide_password=False),
            profile_required_fields=",".join(required if required is not None else self.required),
        )

    def hub(self, required: list[str] | None = None) -> Hub:
        ledger = LedgerService(
            self.db, clock=self.clock, hold_ttl=timedelta(minutes=15), expiring_within=timedelta(days=30)
        )
        return Hub(settings=self.settings(required), engine=self.db, ledger=ledger)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.db, clock=self.clock)

    def phone(self) -> str:
        return f"+7916{next(self._n):07d}"

    def customer(self, complete: bool, *, phone: str | None = None, verified: bool = False) -> int:
        with self.uow() as uow:
            row = uow.customers.add(
                Customer(
                    phone_e164=phone,
                    phone_verified_at=datetime(2026, 1, 2, tzinfo=UTC) if verified else None,
                    changed_by=Origin.ONEC,
                    **profile(complete),
                )
            )
            uow.commit()
            return row.id

    def card(
        self,
        customer_id: int | None,
        status: CardStatus,
        *,
        primary: bool = False,
        phone: str | None = None,
        program: str = "lock-main",
        legacy: bool = False,
    ) -> int:
        with self.uow() as uow:
            program_row = uow.programs.get_or_create(program, program.title(), is_legacy=legacy)
            row = uow.cards.add(
                Card(
                    program_id=program_row.id,
                    number=f"77{next(self._n):010d}",
                    status=status,
                    status_reason="as the program left it",
                    customer_id=customer_id,
                    phone_e164=phone,
                    is_primary=primary,
                    changed_by=Origin.ONEC,
                )
            )
            uow.commit()
            return row.id

    def accrue(self, card_id: int, amount: str) -> None:
        with self.uow() as uow:
            uow.ledger.accrue(card_id, Decimal(amount), key=f"lock-{next(self._n)}", origin=Origin.ONEC)
            uow.commit()

    def status(self, card_id: int) -> CardStatus:
        with self.uow() as uow:
            row = uow.cards.get(card_id)
            assert row is not None
            return row.status

    def number(self, card_id: int) -> str:
        with self.uow() as uow:
            row = uow.cards.get(card_id)
            assert row is not None
            return row.number

    def owner(self, card_id: int) -> int | None:
        with self.uow() as uow:
            row = uow.cards.get(card_id)
            assert row is not None
            return row.customer_id


Path = Callable[[Env, bool], list[int]]


# --------------------------------------------------------------------------- the cabinet


def login_phone_verified_before(env: Env, complete: bool) -> list[int]:
    """The issue's case (the demo's +7 916 234-56-78): a phone verified before and a card bound
    before; the customer logs in again."""
    phone = env.phone()
    customer = env.customer(complete, phone=phone, verified=True)
    card = env.card(customer, wrong(complete), primary=True)
    with env.uow() as uow:
        customer_for_verified_phone(uow, phone, required_fields=env.required)
        uow.commit()
    return [card]


def login_verifies_a_1c_partner(env: Env, complete: bool) -> list[int]:
    """1C's partner, whose card 1C bound, proves the phone at the cabinet's login."""
    phone = env.phone()
    customer = env.customer(complete, phone=phone)
    card = env.card(customer, wrong(complete), primary=True)
    with env.uow() as uow:
        customer_for_verified_phone(uow, phone, required_fields=env.required)
        uow.commit()
    return [card]


def login_binds_the_only_card(env: Env, complete: bool) -> list[int]:
    """The one card recorded with the phone is bound at login (``settle_single_card``)."""
    phone = env.phone()
    env.customer(complete, phone=phone)
    card = env.card(None, wrong(complete), phone=phone)
    with env.uow() as uow:
        customer = customer_for_verified_phone(uow, phone, required_fields=env.required)
        settle_single_card(uow, customer)
        uow.commit()
    return [card]


def cabinet_claims_a_card(env: Env, complete: bool) -> list[int]:
    """A card added in the cabinet by its number and the points of its last receipt."""
    customer = env.customer(complete, phone=env.phone(), verified=True)
    card = env.card(None, wrong(complete))
    env.accrue(card, "12.34")
    with env.uow() as uow:
        result = claim_card(uow, customer, env.number(card), Decimal("12.34"))
        uow.commit()
    assert result.outcome is ClaimOutcome.BOUND
    return [card]


def cabinet_chooses_the_primary_card(env: Env, complete: bool) -> list[int]:
    """Two cards bound before (1C); the customer chooses one in the cabinet, the other merges in."""
    customer_id = env.customer(complete, phone=env.phone(), verified=True)
    chosen = env.card(customer_id, wrong(complete), primary=True)
    env.card(customer_id, wrong(complete))
    with env.uow() as uow:
        customer = uow.customers.get(customer_id)
        assert customer is not None
        choose_primary_card(uow, customer, chosen, key=f"choose-{chosen}")
        uow.commit()
    return [chosen]


def _save_profile(env: Env, complete: bool, origin: Origin) -> list[int]:
    """The profile edited so that it ends complete (or loses its birth date) — by ``origin``."""
    customer = env.customer(not complete, phone=env.phone(), verified=True)
    card = env.card(customer, expected(not complete), primary=True)
    changes = BIRTH if complete else {"birth_date": None}
    with env.uow() as uow:
        update_profile(uow, customer, changes, origin=origin, required_fields=env.required)
        uow.commit()
    return [card]


def cabinet_saves_the_profile(env: Env, complete: bool) -> list[int]:
    return _save_profile(env, complete, Origin.WEBSITE)


def staff_edit_the_profile(env: Env, complete: bool) -> list[int]:
    return _save_profile(env, complete, Origin.ADMIN)


# --------------------------------------------------------------------------- staff merges


def staff_merge_into_a_bound_card(env: Env, complete: bool) -> list[int]:
    """Staff merge a customer's duplicate into the card 1C bound to them long ago."""
    customer = env.customer(complete, phone=env.phone())
    primary = env.card(customer, wrong(complete), primary=True)
    duplicate = env.card(customer, wrong(complete))
    from reconciliation.merges import merge_cards

    with env.uow() as uow:
        merge_cards(uow, customer, primary, [duplicate], actor=STAFF, reason="duplicate", key=f"m-{primary}")
        uow.commit()
    return [primary]


def staff_unmerge(env: Env, complete: bool) -> list[int]:
    """A staff merge undone: the absorbed card is the customer's again, with the status the
    profile calls for now (whatever it had before the merge)."""
    customer = env.customer(complete, phone=env.phone())
    primary = env.card(customer, expected(complete), primary=True)
    absorbed = env.card(customer, wrong(complete))
    from reconciliation.merges import merge_cards, unmerge

    with env.uow() as uow:
        merged = merge_cards(
            uow, customer, primary, [absorbed], actor=STAFF, reason="dup", key=f"m-{absorbed}"
        )
        uow.commit()
    with env.uow() as uow:
        unmerge(uow, merged.merge_id, actor="olga", reason="not a duplicate", key=f"u-{absorbed}")
        uow.commit()
    return [primary, absorbed]


def legacy_import_auto_merge(env: Env, complete: bool) -> list[int]:
    """``migrate apply --auto-merge``: the import's unowned legacy cards (as the applier writes
    them, status from the plan) bound to the phone's customer and merged."""
    phone = env.phone()
    env.customer(complete, phone=phone)
    ours = env.card(None, wrong(complete), phone=phone, program="lock-main")
    old = env.card(None, wrong(complete), phone=phone, program="lock-legacy", legacy=True)
    from reconciliation.merges import auto_merge_groups

    members = [("lock-main", env.number(ours)), ("lock-legacy", env.number(old))]
    [outcome] = auto_merge_groups(
        env.db, {"P1": members}, actor=STAFF, reason="auto-merge at import", key_prefix=f"am-{ours}"
    )
    assert outcome.skipped is None, outcome.skipped
    return [ours]


# --------------------------------------------------------------------------- seeds and the rule itself


def demo_seed_verifies_a_phone(env: Env, complete: bool) -> list[int]:
    """``make run``'s seed (``demo.seed.seed_hub``): 1C's Петрова, whose card 2000000000035 the
    initial load bound, gets her phone verified; her profile lacks the birth date."""
    from demo.seed import BOUND_CARD, seed_hub

    with env.uow() as uow:
        program = uow.programs.get_or_create("main", "Бонусная программа")
        card = uow.cards.by_number(program.id, BOUND_CARD)
        if card is None:  # as the initial load leaves it (see onec_paths for the load itself)
            owner = uow.customers.add(Customer(phone_e164="+79162345678", changed_by=Origin.ONEC))
            card = uow.cards.add(
                Card(program_id=program.id, number=normalize_card_number(BOUND_CARD), is_primary=True)
            )
            card.customer_id = owner.id
        else:
            found = uow.customers.get(card.customer_id) if card.customer_id else None
            assert found is not None
            owner = found
        for name, value in {**NAMES, "birth_date": None, **profile(complete)}.items():
            setattr(owner, name, value)
        owner.phone_verified_at = None
        owner.changed_by = card.changed_by = Origin.ONEC
        card.status = wrong(complete)
        uow.commit()
        card_id = card.id
    seed_hub(env.hub())
    return [card_id]


def hub_demo_binds_a_card(env: Env, complete: bool) -> list[int]:
    """``bonusbridge demo``: its customer (Демидова: names, no birth date) owns card 0003. With the
    birth date required her profile is incomplete; with only the names required it is complete."""
    from bonusbridge.demo import load_demo

    load_demo(env.hub(REQUIRED if not complete else ["last_name", "first_name"]))
    with env.uow() as uow:
        program = uow.session.scalars(select(Program).where(Program.code == "dobrostroy")).one()
        card = uow.cards.by_number(program.id, "2000 0000 0003")
        assert card is not None and card.customer_id is not None
        return [card.id]


def recheck_after_the_required_fields_changed(env: Env, complete: bool) -> list[int]:
    """``BONUSBRIDGE_PROFILE_REQUIRED_FIELDS`` changed (e-mail required, or no longer): the
    recheck (``bonusbridge cards recheck``, beat nightly) settles every card. Runs last: it
    settles every card in the database, also those of the paths before it."""
    customer = env.customer(True, phone=env.phone())  # names and birth date, no e-mail
    card = env.card(customer, wrong(complete), primary=True)
    now_required = REQUIRED if complete else [*REQUIRED, "email"]
    recheck_all_cards(env.uow, required_fields=now_required)
    return [card]


PATHS: dict[str, Path] = {
    "cabinet: login, phone verified before": login_phone_verified_before,
    "cabinet: login verifies 1C's partner": login_verifies_a_1c_partner,
    "cabinet: login binds the only card": login_binds_the_only_card,
    "cabinet: card claimed by number and receipt": cabinet_claims_a_card,
    "cabinet: primary card chosen (merge)": cabinet_chooses_the_primary_card,
    "cabinet: profile saved": cabinet_saves_the_profile,
    "staff: profile edited": staff_edit_the_profile,
    "staff: merge into a bound card": staff_merge_into_a_bound_card,
    "staff: unmerge": staff_unmerge,
    "legacy import: auto-merge": legacy_import_auto_merge,
    "demo: seed verifies a phone": demo_seed_verifies_a_phone,
    "demo: bonusbridge demo binds a card": hub_demo_binds_a_card,
    "settings: required fields changed, recheck": recheck_after_the_required_fields_changed,
}
