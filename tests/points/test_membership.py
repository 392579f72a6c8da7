"""Membership (seed 001): the rule (a row, else owning a card), joining and leaving idempotently,
the members file written for Excel and read back whatever Excel did to it, every row checked
before anything is written, re-importing changing nothing, and one audit row per import."""

from __future__ import annotations

import codecs
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select

from bonusbridge import audit, errors
from bonusbridge.ledger.service import LedgerService
from bonusbridge.models import Card, Customer, Origin, ProgramMember
from bonusbridge.services import membership
from bonusbridge.services.members_file import COLUMNS, MembersFileInvalid, read_members
from bonusbridge.unit_of_work import UnitOfWork
from tests.conftest import FakeClock

HEADER = ";".join(COLUMNS)


class People:
    """Customers with and without cards, made as 1C's sync would."""

    def __init__(self, db: Engine, clock: FakeClock) -> None:
        self.db, self.clock = db, clock
        self.ledger = LedgerService(db, clock=clock)
        self.numbers = iter(range(1, 10_000))

    def customer(self, *, card: bool = False, **fields: object) -> int:
        with UnitOfWork(self.db, clock=self.clock) as uow:
            customer = uow.customers.add(Customer(changed_by=Origin.ONEC, **fields))
            if card:
                program = uow.programs.get_or_create("dobrostroy", "Dobrostroy")
                uow.cards.add(
                    Card(
                        program_id=program.id, number=f"2000{next(self.numbers):08d}", customer_id=customer.id
                    )
                )
            uow.commit()
            return customer.id

    def card_of(self, customer_id: int) -> int:
        with UnitOfWork(self.db, clock=self.clock) as uow:
            return uow.cards.of_customer(customer_id)[0].id

    def rows(self) -> list[tuple[int, str, str | None, str | None]]:
        with self.db.connect() as conn:
            found = conn.execute(
                select(
                    ProgramMember.customer_id,
                    ProgramMember.joined_via,
                    ProgramMember.joined_by,
                    ProgramMember.left_at,
                ).order_by(ProgramMember.customer_id)
            ).all()
        return [(r[0], r[1], r[2], r[3] and r[3].isoformat()) for r in found]


@pytest.fixture
def people(db: Engine, clock: FakeClock) -> People:
    return People(db, clock)


def export(db: Engine, clock: FakeClock, separator: str = ";") -> bytes:
    out = io.BytesIO()
    with db.connect() as conn:
        membership.export_members(conn, out, now=clock(), separator=separator)
    return out.getvalue()


def plan_of(db: Engine, clock: FakeClock, data: bytes, *, apply: bool = False) -> membership.MembersPlan:
    with db.begin() as conn:
        return membership.import_members(conn, data, actor="staff:marketing", now=clock(), apply=apply)


def test_membership_is_the_row_else_owning_a_card(db: Engine, clock: FakeClock, people: People) -> None:
    holder, web_only = people.customer(card=True), people.customer()
    card_id = people.card_of(holder)
    with db.begin() as conn:
        assert membership.is_member(conn, holder) and not membership.is_member(conn, web_only)
        assert membership.membership(conn, holder) == membership.Membership(True, "card", None, None)
        card = membership.card_membership(conn, card_id)
        assert card == membership.CardMembership(holder, True) and card.earns(True)
        with pytest.raises(errors.UnknownCustomer):
            membership.is_member(conn, 999_999)
    assert people.rows() == [], "a member through a card has no row until they leave"


def test_join_and_leave_are_idempotent(db: Engine, clock: FakeClock, people: People) -> None:
    web_only, holder = people.customer(), people.customer(card=True)
    card_id = people.card_of(holder)
    with db.begin() as conn:
        assert membership.join(conn, web_only, via="checkout", by="website", now=clock())
        assert not membership.join(conn, web_only, via="cabinet", by=None, now=clock() + timedelta(days=1))
        assert not membership.join(conn, holder, via="cabinet", by=None, now=clock())
        with pytest.raises(ValueError):
            membership.join(conn, web_only, via="carrier-pigeon", by=None, now=clock())
    first = membership.Membership(True, "checkout", clock(), None)
    with db.connect() as conn:
        assert membership.membership(conn, web_only) == first, "joining twice keeps the first joining"
    later = clock.advance(timedelta(days=3))
    with db.begin() as conn:
        assert membership.leave(conn, web_only, now=later) and not membership.leave(conn, web_only, now=later)
        assert membership.leave(conn, holder, now=later), "a member through a card can leave"
        assert not membership.is_member(conn, holder) and not membership.is_member(conn, web_only)
        card = membership.card_membership(conn, card_id)
        assert card is not None and not card.member and not card.earns(True) and card.earns(False)
    rows = {row[0]: row for row in people.rows()}
    assert rows[holder][1:] == ("card", None, later.isoformat())
    again = clock.advance(timedelta(days=1))
    with db.begin() as conn:
        assert membership.join(conn, holder, via="cabinet", by=None, now=again)
        assert membership.membership(conn, holder) == membership.Membership(True, "cabinet", again, None)


def test_the_file_lists_every_customer_with_cards_points_and_membership(
    db: Engine, clock: FakeClock, people: People
) -> None:
    holder = people.customer(
        card=True, phone_e164="+79161234567", last_name="Лебедева", first_name="Анна", email="a@example.ru"
    )
    web_only = people.customer(last_name="=HYPERLINK(1)", first_name="Zoé")
    people.ledger.accrue(people.card_of(holder), Decimal("120.50"), key="a1", origin=Origin.ONEC)
    people.ledger.accrue(
        people.card_of(holder), Decimal("5"), key="a2", origin=Origin.ONEC,
        available_from=clock() + timedelta(days=14),
    )  # fmt: skip
    data = export(db, clock)
    assert data.startswith(codecs.BOM_UTF8), "Excel needs the BOM to read UTF-8"
    lines = data.decode("utf-8-sig").split("\r\n")
    assert lines[0] == HEADER
    assert lines[1] == f"{holder};+79161234567;Лебедева;Анна;a@example.ru;200000000001;120.50;1"
    assert lines[2] == f"{web_only};;'=HYPERLINK(1);Zoé;;;0.00;0", "a formula is neutralized"
    assert lines[3:] == [""]
    assert export(db, clock, ",").decode("utf-8-sig").split("\r\n")[0] == HEADER.replace(";", ",")


def test_importing_the_exported_file_back_changes_nothing(
    db: Engine, clock: FakeClock, people: People
) -> None:
    for n in range(3):
        people.customer(card=n % 2 == 0, last_name=f"N{n}")
    plan = plan_of(db, clock, export(db, clock), apply=True)
    assert (plan.rows, plan.join, plan.leave, plan.unchanged, plan.warnings) == (3, (), (), 3, ())
    assert plan.applied == membership.Applied((), (), None)
    with db.connect() as conn:
        assert audit.entries(conn) == [], "nothing changed, nothing to audit"


def test_the_seeds_activation_puts_1_everywhere_and_reimports(
    db: Engine, clock: FakeClock, people: People
) -> None:
    holder, first, second = people.customer(card=True), people.customer(), people.customer()
    text = export(db, clock).decode("utf-8-sig").replace(";0\r\n", ";1\r\n")
    plan = plan_of(db, clock, text.encode("utf-8-sig"))
    assert plan.join == (first, second) and plan.leave == () and plan.unchanged == 1
    assert people.rows() == [], "without apply nothing is written"
    applied = plan_of(db, clock, text.encode("utf-8-sig"), apply=True).applied
    assert applied is not None and applied.joined == (first, second) and applied.audit_id is not None
    assert people.rows() == [
        (first, "staff", "staff:marketing", None),
        (second, "staff", "staff:marketing", None),
    ]
    with db.connect() as conn:
        (entry,) = audit.entries(conn, action_prefix="members.import")
        assert membership.count_members(conn) == (3, 3)
    assert entry.actor == "staff:marketing" and entry.subject == f"members-file:{plan.sha256}"
    assert entry.details["joined"] == 2 and entry.details["left"] == 0
    assert entry.details["joined_ids"] == [first, second] and entry.details["rows"] == 3
    again = plan_of(db, clock, text.encode("utf-8-sig"), apply=True)
    assert again.join == () and again.unchanged == 3 and again.applied == membership.Applied((), (), None)
    with db.connect() as conn:
        assert len(audit.entries(conn)) == 1
    assert holder


def test_a_0_makes_members_leave_including_members_through_a_card(
    db: Engine, clock: FakeClock, people: People
) -> None:
    holder, joined = people.customer(card=True), people.customer()
    with db.begin() as conn:
        membership.join(conn, joined, via="checkout", by="website", now=clock())
    file = f"customer_id;member\r\n{holder};0\r\n{joined};0\r\n".encode()
    applied = plan_of(db, clock, file, apply=True).applied
    assert applied is not None and applied.left == (holder, joined)
    with db.connect() as conn:
        assert not membership.is_member(conn, holder) and not membership.is_member(conn, joined)
        assert membership.count_members(conn) == (0, 2)


def test_reading_tolerates_what_excel_does(db: Engine, clock: FakeClock, people: People) -> None:
    first, second = people.customer(last_name="Dupont"), people.customer(first_name="Ив")
    # columns moved, a comma separator, quotes, no BOM, empty trailing rows, a changed name
    commas = f'member,"last_name",customer_id\r\n1,Durand,{first}\r\n0,,{second}\r\n,,\r\n'.encode()
    plan = plan_of(db, clock, commas)
    assert plan.join == (first,) and plan.unchanged == 1 and plan.rows == 2
    (warning,) = plan.warnings
    assert warning.row == 2 and warning.code == "ignored_change" and "last_name" in warning.detail
    assert "Durand" not in warning.detail and "Dupont" not in warning.detail, "no names in a plan"
    # the seed's French heading, tabs, UTF-16 (Excel's "Unicode text")
    tabs = f"customer_id\tAdhésion au programme de fidélité\r\n{first}\t1\r\n".encode("utf-16")
    assert plan_of(db, clock, tabs).join == (first,)
    # Excel's plain CSV in a Western code page: still read, names not compared
    cp1252 = f"customer_id;first_name;member\r\n{second};Yves é;1\r\n".encode("cp1252")
    plan = plan_of(db, clock, cp1252)
    assert plan.join == (second,) and [w.code for w in plan.warnings] == ["not_utf8"]


def test_every_bad_row_is_reported_and_nothing_is_written(
    db: Engine, clock: FakeClock, people: People
) -> None:
    known = people.customer()
    file = (
        "\ufeffcustomer_id;member\r\n"
        f"{known};1\r\n"  # row 2: fine on its own
        "999999;1\r\n"  # row 3: no such customer
        f"{known};0\r\n"  # row 4: twice
        "abc;1\r\n"  # row 5
        f"{known};oui\r\n"  # row 6: bad value (and a duplicate, reported once)
    ).encode()
    with pytest.raises(MembersFileInvalid) as refused:
        plan_of(db, clock, file, apply=True)
    found = [(e.row, e.code) for e in refused.value.errors]
    assert found == [
        (3, "unknown_customer"),
        (4, "duplicate_customer"),
        (5, "bad_customer_id"),
        (6, "bad_member_value"),
    ]
    assert refused.value.code == "invalid_members_file" and "row 4" in str(refused.value)
    assert people.rows() == []
    with db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(audit.audit_table)).scalar() == 0


@pytest.mark.parametrize(
    ("data", "codes"),
    [
        (b"", [(1, "empty_file")]),
        (b"customer_id;phone\r\n1;+7\r\n", [(1, "missing_column")]),
        (b"id;member;member\r\n", [(1, "duplicate_column")]),
    ],
)
def test_a_header_without_the_columns_is_refused(data: bytes, codes: list[tuple[int, str]]) -> None:
    assert [(e.row, e.code) for e in read_members(data).errors] == codes


def test_an_import_needs_an_actor(db: Engine, clock: FakeClock) -> None:
    with pytest.raises(ValueError), db.begin() as conn:
        membership.import_members(conn, b"customer_id;member\r\n", actor=" ", now=clock())


def test_many_customers_stream_through_chunks(
    db: Engine, clock: FakeClock, people: People, monkeypatch
) -> None:
    monkeypatch.setattr(membership, "CHUNK", 2)
    made = [people.customer(card=n == 3) for n in range(5)]
    text = export(db, clock).decode("utf-8-sig")
    assert [line.split(";")[0] for line in text.split("\r\n")[1:-1]] == [str(cid) for cid in made]
    applied = plan_of(db, clock, text.replace(";0\r\n", ";1\r\n").encode(), apply=True).applied
    assert applied is not None and applied.joined == tuple(cid for n, cid in enumerate(made) if n != 3)
    with db.connect() as conn:
        assert [
            row.customer_id for row in membership.member_rows(conn, now=clock(), after=made[1], limit=2)
        ] == made[2:4]
