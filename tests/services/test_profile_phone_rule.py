"""Issue 18 items 1 and 6: one rule for a customer's phone changing (``profiles.change_phone``),
which the cabinet's and staff's ``update_profile`` and 1C's partner edits (the sync) all call: a new
number is not a verified one, and a number another customer verified stays theirs."""

from __future__ import annotations

from bonusbridge import errors
from bonusbridge.models import Origin
from tests.services.conftest import VERIFIED
from tests.services.test_profiles import edit, refused


def test_a_phone_another_customer_verified_is_refused_and_nothing_is_written(world):
    owner = world.customer(phone_e164="+79161234567", phone_verified_at=VERIFIED)
    other = world.customer(phone_e164="+79162345678", phone_verified_at=VERIFIED)
    error = refused(
        world, errors.PhoneOfAnotherCustomer, other, {"city": "Тула", "phone_e164": "+79161234567"}
    )
    assert (error.customer_id, error.owner_id, error.code) == (other, owner, "phone_of_another_customer")
    assert "+7916" not in str(error) and "verified owner keeps it" in str(error)
    assert world.get_customer(owner).phone_verified_at is not None
    assert world.get_customer(other).phone_e164 == "+79162345678"


def test_a_phone_only_recorded_unverified_elsewhere_may_be_taken_and_is_not_verified(world):
    world.customer(phone_e164="+79161234567")  # a legacy duplicate, never proven
    customer = world.customer(phone_e164="+79162345678", phone_verified_at=VERIFIED)
    assert edit(world, customer, {"phone_e164": "+79161234567"}, origin=Origin.ADMIN)["phone_e164"] == (
        "+79161234567"
    )
    assert world.get_customer(customer).phone_verified_at is None
