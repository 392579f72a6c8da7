"""Consents to the processing of personal data (152-ФЗ): which version of the text a customer agreed
to and when. The cabinet's profile form asks for the configured version
(``personal_data_consent_version``) and records it in the transaction that saves the profile; a
customer who already agreed to that version is not recorded twice. Marketing consent is a
separate thing (``Customer.marketing_consent``): it is optional and goes to 1C.

Same conventions as the other services: a unit of work in, no commit.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from bonusbridge.models import Origin, PersonalDataConsent
from bonusbridge.unit_of_work import UnitOfWork


def has_consent(session: Session, customer_id: int, version: str) -> bool:
    """Whether the customer agreed to this version of the text."""
    found = session.scalar(
        select(PersonalDataConsent.id).where(
            PersonalDataConsent.customer_id == customer_id, PersonalDataConsent.text_version == version
        )
    )
    return found is not None


def record_consent(uow: UnitOfWork, customer_id: int, version: str, *, origin: Origin) -> bool:
    """Record the customer's consent to ``version`` now; False when they had already given it."""
    text = version.strip()
    if not text:
        raise ValueError("a consent needs the version of its text")
    if has_consent(uow.session, customer_id, text):
        return False
    uow.session.add(
        PersonalDataConsent(customer_id=customer_id, text_version=text, given_at=uow.clock(), origin=origin)
    )
    uow.session.flush()
    return True


def consents_of(session: Session, customer_ids: Sequence[int]) -> list[PersonalDataConsent]:
    """Every consent these customers gave, newest first (for their history)."""
    if not customer_ids:
        return []
    return list(
        session.scalars(
            select(PersonalDataConsent)
            .where(PersonalDataConsent.customer_id.in_(customer_ids))
            .order_by(PersonalDataConsent.given_at.desc(), PersonalDataConsent.id.desc())
        )
    )
