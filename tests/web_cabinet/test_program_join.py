"""The cabinet's "join the loyalty program" button (seed 001): shown only when the program requires
joining and the customer is not a member, a POST with the page's CSRF token, idempotent; members
see one line instead, and nothing changes while joining is not required."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bonusbridge.models import ProgramMember
from bonusbridge.services import membership
from tests.web_cabinet.conftest import PHONE, csrf, log_in


@pytest.fixture
def opt_in(app, settings):
    app.state.cabinet.settings = settings.model_copy(update={"points_opt_in_required": True})


@pytest.fixture
def left(client, settings, world, clock):
    """A logged-in customer with a card (bound on login) who then left the program."""
    world.card("2000-0000-0042", phone=PHONE)
    log_in(client, settings)
    customer = world.customer_by_phone()
    with world.hub.engine.begin() as conn:
        assert membership.leave(conn, customer.id, now=clock.now - timedelta(days=1))
    return customer.id


def test_a_customer_who_is_not_a_member_joins_from_the_home_page(client, opt_in, left, world, clock):
    home = client.get("/")
    assert 'id="program-join"' in home.text and 'action="/program/join"' in home.text
    joined = client.post("/program/join", data={"csrf_token": csrf(home.text)})
    assert joined.status_code == 303 and joined.headers["location"] == "/"
    home = client.get("/")
    assert "Вы вступили в программу лояльности." in home.text and 'id="program-join"' not in home.text
    assert 'id="program-member">Вы участник программы лояльности с 15.01.2026.' in home.text
    with world.hub.engine.connect() as conn:
        row = conn.execute(
            select(ProgramMember.joined_via, ProgramMember.joined_by, ProgramMember.left_at).where(
                ProgramMember.customer_id == left
            )
        ).one()
    assert tuple(row) == ("cabinet", None, None)
    again = client.post("/program/join", data={"csrf_token": csrf(home.text)})
    assert again.status_code == 303
    assert "Вы уже участвуете в программе лояльности." in client.get("/").text


def test_joining_needs_the_csrf_token_and_a_login(client, opt_in, left, world):
    assert client.post("/program/join", data={"csrf_token": "forged"}).status_code == 403
    with world.hub.engine.connect() as conn:
        assert not membership.is_member(conn, left)
    client.cookies.clear()
    assert client.post("/program/join", data={}).status_code in (303, 403)


def test_members_and_programs_without_opt_in_show_no_button(client, app, settings, left, world, clock):
    assert 'id="program-join"' not in client.get("/").text, "joining is not required: nothing new"
    app.state.cabinet.settings = settings.model_copy(update={"points_opt_in_required": True})
    with world.hub.engine.begin() as conn:
        membership.join(conn, left, via="staff", by="staff:admin", now=clock.now)
    assert 'id="program-join"' not in client.get("/").text


def test_a_member_through_a_card_is_told_so(client, opt_in, settings, world):
    world.card("2000-0000-0042", phone=PHONE)
    log_in(client, settings)
    home = client.get("/", headers={"Accept-Language": "en"})
    assert 'id="program-join"' not in home.text
    assert 'id="program-member">' in home.text
