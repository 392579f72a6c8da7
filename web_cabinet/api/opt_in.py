"""The loyalty program's opt-in at checkout (seed 001): the customer ticks "join the loyalty
program", the order's request says ``join_program``, and the card's owner joins in the same
transaction as the order's accrual, so a refused order enrols nobody and a replayed one (the same
Idempotency-Key) answers as the first without joining again. The rule of who is a member is
``bonusbridge.services.membership``'s.

A non-member's order when the program requires joining (``points_opt_in_required``), decision:
it is accepted (201) and earns 0 with ``earn_refused: not_a_member``, rather than refused with a
problem. The sale happened; the order must still be recorded with its total, or the points spent
on it could not be given back on a refund, nor its later returns be taken; and a shop that sent
an order it cannot change would only retry a refusal. The shop learns it before paying anyway:
the quote says ``join_required``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from bonusbridge.ledger.book import LedgerBook
from bonusbridge.services import membership
from bonusbridge.settings import Settings
from web_cabinet.api.idempotency import Write

NOT_A_MEMBER: Literal["not_a_member"] = "not_a_member"


@dataclass(frozen=True)
class OrderMembership:
    """After the order's join, if any: whether the owner is a member and whether the order earns."""

    member: bool
    earns: bool

    @property
    def earn_refused(self) -> Literal["not_a_member"] | None:
        return None if self.earns else NOT_A_MEMBER


def for_order(
    book: LedgerBook, write: Write, settings: Settings, card_id: int, join: bool
) -> OrderMembership:
    """Enrol the card's owner when the customer asked to join (via ``checkout``, by the API
    client); whether the order then earns. An unknown card is left to the order's own refusal."""
    found = membership.card_membership(book.conn, card_id)
    if found is None:
        return OrderMembership(member=False, earns=True)
    if join and found.owner_id is not None and not found.member:
        membership.join(book.conn, found.owner_id, via="checkout", by=write.client.name, now=book.now)
        found = membership.CardMembership(found.owner_id, True)
    return OrderMembership(found.member, found.earns(settings.points_opt_in_required))


@dataclass(frozen=True)
class QuoteMembership:
    member: bool
    join_required: bool


def for_quote(settings: Settings, owner_id: int | None, member: bool, *, till: bool) -> QuoteMembership:
    """``member`` and ``join_required`` of a quote, from the card's facts (``store.card_facts``
    reads the owner's membership in the same query). A till's receipts earn whatever the owner's
    membership (taking the card is the opt-in), so a till is never asked to enrol anyone."""
    found = membership.CardMembership(owner_id, member)
    required = not till and not found.earns(settings.points_opt_in_required)
    return QuoteMembership(member=member, join_required=required)


def fingerprinted(body: BaseModel) -> dict[str, Any]:
    """The request as its Idempotency-Key remembers it. ``join_program`` is left out when false,
    so a request stored before the field existed is still recognized when retried after."""
    joins = bool(getattr(body, "join_program", False))
    return body.model_dump(mode="json", exclude=None if joins else {"join_program"})
