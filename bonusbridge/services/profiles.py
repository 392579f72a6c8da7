"""Editing a customer's profile, and what completing it unlocks.

Why a service: the profile is edited from the cabinet, by staff and by the 1C sync, and an edit is
more than setting attributes. Values must be checked (``fields``), the cabinet's optimistic version
honoured, no-op edits must not reach 1C as changes, and the cards must follow: until the required
fields are filled a card only accumulates points, at the website and at the tills alike, so every
edit recomputes the spending status of the customer's cards (``cards.refresh_spending_status``).

Same conventions as ``cards``: a unit of work in, no commit, one typed error per refusal raised
before anything is written, ``changed_by`` set on every written row and nothing written for a
change that changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bonusbridge import errors
from bonusbridge.models import Customer, Origin
from bonusbridge.services import queries
from bonusbridge.services.cards import refresh_spending_status, required_or_default, status_change_origin
from bonusbridge.services.fields import clean_changes
from bonusbridge.unit_of_work import UnitOfWork

#: The time zone whose date is furthest ahead (Kiribati, UTC+14): no birth date that is today
#: anywhere on Earth is refused as "in the future".
_EARLIEST_ZONE = timezone(timedelta(hours=14))


def update_profile(
    uow: UnitOfWork,
    customer_id: int,
    changes: Mapping[str, Any],
    *,
    origin: Origin,
    expected_version: int | None = None,
    required_fields: Sequence[str] | None = None,
) -> Customer:
    """Apply ``changes`` (field → new value) to the customer's profile; return the customer.

    Editable: the profile fields (``settings.PROFILE_FIELDS``) plus ``phone_e164`` and ``email``.
    Values: names and city are text, stripped, at most 100 characters, empty meaning "not given"
    (None); ``birth_date`` a ``date`` from 1900-01-01 to today; ``gender`` a ``Gender`` (or its
    value); ``email`` a plausible address; ``phone_e164`` a valid number in E.164 form;
    ``marketing_consent`` a bool. ``None`` clears any field but the consent.

    Only fields whose value differs are written, with ``changed_by=origin``; an edit that changes
    nothing writes no row (and so queues nothing for 1C). A new phone follows ``change_phone``: it
    is not a verified one, and a phone another customer verified is refused.

    Then the spending status of the customer's cards is recomputed (see
    ``refresh_spending_status``), credited to ``origin``, or to the system when 1C made the edit
    (see ``status_change_origin``). ``required_fields`` defaults to the ``profile_required_fields``
    setting.

    Refused, with nothing written: ``UnknownCustomer``; ``StaleVersion`` when ``expected_version``
    (the version the cabinet showed) is not the current one; ``UnknownProfileField`` or
    ``InvalidProfileField`` naming the first bad field; ``PhoneOfAnotherCustomer``.
    """
    required = required_or_default(required_fields)
    customer = queries.lock_customer(uow.session, customer_id)
    if customer is None:
        raise errors.UnknownCustomer(customer_id)
    if expected_version is not None and customer.version != expected_version:
        raise errors.StaleVersion("customer", customer_id, expected_version, customer.version)
    cleaned = clean_changes(changes, today=latest_today(uow.clock()))

    differing = {name: value for name, value in cleaned.items() if getattr(customer, name) != value}
    if differing:
        if "phone_e164" in differing:  # first: its refusal comes before anything is set
            change_phone(uow.session, customer, differing.pop("phone_e164"))
        for name, value in differing.items():
            setattr(customer, name, value)
        customer.changed_by = origin
        uow.session.flush()
    refresh_spending_status(uow, customer, required_fields=required, origin=status_change_origin(origin))
    return customer


def change_phone(session: Session, customer: Customer, phone_e164: str | None) -> bool:
    """The one rule of a customer's phone changing, whoever changes it (the cabinet, staff, 1C's
    partner edit through the sync): True when the phone changed.

    A new number is not a verified one (verification proves one number, by SMS): the change clears
    ``phone_verified_at``. A number another customer has verified stays theirs: the change is
    refused with ``PhoneOfAnotherCustomer`` before anything is set — the verified owner keeps the
    phone, and staff decide about the edit (the 1C sync parks it). Sets attributes only; the
    caller sets ``changed_by`` and flushes."""
    if phone_e164 == customer.phone_e164:
        return False
    if phone_e164 is not None:
        owner = session.scalars(
            select(Customer.id)
            .where(
                Customer.phone_e164 == phone_e164,
                Customer.phone_verified_at.is_not(None),
                Customer.id != customer.id,
            )
            .limit(1)
        ).first()
        if owner is not None:
            raise errors.PhoneOfAnotherCustomer(customer.id, owner)
    customer.phone_e164 = phone_e164
    customer.phone_verified_at = None
    return True


def latest_today(now: datetime) -> date:
    """The latest date it is anywhere on Earth at ``now``: the last acceptable birth date."""
    return now.astimezone(_EARLIEST_ZONE).date()
