"""The staff's members screen and file (seed 001: export the members, put 1 in the member column,
import it back; the screen shows each member's points): every role sees the screen, ``admin`` and
``marketing`` download and import; the upload shows the plan (or every refused row) and writes
nothing; the confirmation applies it once, under CSRF, with one audit row; phones and names never
reach the log."""

from __future__ import annotations

import codecs
import html
import logging
import re
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select
from starlette.testclient import TestClient

from bonusbridge import audit
from bonusbridge.models import ProgramMember
from bonusbridge.services import membership
from tests.conftest import FakeClock
from tests.web_cabinet.conftest import World
from tests.web_cabinet.staff import conftest as staff_fixtures
from tests.web_cabinet.staff.conftest import csrf_of, staff_log_in

settings = staff_fixtures.settings
staff = staff_fixtures.staff

PHONE = "+79161234567"
MANAGER = "marketing" if "marketing" in {r.value for r in staff_fixtures.Role} else "admin"


@pytest.fixture(autouse=True)
def english(client: TestClient) -> None:
    client.cookies.set("bb_lang", "en")


@pytest.fixture
def base(world: World) -> dict[str, int]:
    """A card holder with points (a member through the card) and a customer without a card."""
    holder = world.customer(phone_e164=PHONE, last_name="Lebedeva", first_name="Anna")
    card = world.card("2000-0000-0042", customer_id=holder, phone=PHONE, primary=True)
    world.accrue(card, "120.50", key="a1")
    web_only = world.customer(last_name="Durand")
    return {"holder": holder, "web_only": web_only}


def log_in(client: TestClient, login: str) -> None:
    assert staff_log_in(client, login).status_code == 303


def upload(client: TestClient, data: bytes, *, token: str | None = None, name: str = "members.csv"):
    page = client.get("/staff/members")
    fields = {"csrf_token": token if token is not None else csrf_of(page.text)}
    return client.post("/staff/members/import", data=fields, files={"file": (name, data, "text/csv")})


def confirm_fields(page: str) -> dict[str, str]:
    section = page.split('id="members-apply-form"', 1)[1].split("</form>", 1)[0]
    return {
        name: html.unescape(value) for name, value in re.findall(r'name="([^"]+)" value="([^"]*)"', section)
    }


def rows(db: Engine) -> list[tuple[int, str, str | None]]:
    with db.connect() as conn:
        found = conn.execute(
            select(ProgramMember.customer_id, ProgramMember.joined_via, ProgramMember.joined_by).order_by(
                ProgramMember.customer_id
            )
        ).all()
    return [tuple(row) for row in found]  # type: ignore[misc]


def test_every_role_sees_the_screen_only_managers_get_the_file(
    client: TestClient, staff: dict[str, str], base: dict[str, int]
) -> None:
    log_in(client, "viewer")
    page = client.get("/staff/members")
    assert page.status_code == 200 and 'id="members-need-role"' in page.text
    assert "1 of 2 customers are in the loyalty program." in page.text
    holder = page.text.split(f'data-customer="{base["holder"]}"', 1)[1].split("</tr>", 1)[0]
    assert '"member">yes<' in holder and '"points">120.50<' in holder and '"cards">1<' in holder
    assert PHONE not in page.text and "Lebedeva" not in page.text, "no personal data on the screen"
    assert client.get("/staff/members/file").status_code == 403
    assert upload(client, b"customer_id;member\r\n").status_code == 403
    applied = client.post(
        "/staff/members/apply", data={"csrf_token": csrf_of(page.text), "plan": "x", "form_id": "a" * 32}
    )
    assert applied.status_code == 403


def test_a_manager_downloads_the_members_file(
    client: TestClient, staff: dict[str, str], base: dict[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    log_in(client, MANAGER)
    assert 'id="members-download"' in client.get("/staff/members").text
    with caplog.at_level(logging.DEBUG):
        answer = client.get("/staff/members/file")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["content-disposition"] == 'attachment; filename="members-2026-01-15.csv"'
    assert answer.content.startswith(codecs.BOM_UTF8)
    lines = answer.content.decode("utf-8-sig").split("\r\n")
    assert lines[0] == "customer_id;phone;last_name;first_name;email;cards;points;member"
    assert lines[1] == f"{base['holder']};{PHONE};Lebedeva;Anna;;200000000042;120.50;1"
    assert lines[2] == f"{base['web_only']};;Durand;;;;0.00;0"
    comma = client.get("/staff/members/file?separator=comma").content.decode("utf-8-sig")
    assert comma.startswith("customer_id,phone,")
    assert PHONE not in caplog.text and "Lebedeva" not in caplog.text


def test_upload_shows_the_plan_and_the_confirmation_applies_it_once(
    client: TestClient, staff: dict[str, str], base: dict[str, int], db: Engine
) -> None:
    log_in(client, MANAGER)
    exported = client.get("/staff/members/file").content.decode("utf-8-sig")
    edited = exported.replace(";Durand;;;;0.00;0", ";Dupont;;;;0.00;1")
    plan = upload(client, edited.encode("utf-8-sig"))
    assert plan.status_code == 200, plan.text
    assert re.search(r'id="plan-join">1<', plan.text) and re.search(r'id="plan-unchanged">1<', plan.text)
    assert (
        "last_name differ from the hub" in plan.text and "Dupont" not in plan.text.split("plan-warnings")[1]
    )
    assert rows(db) == [], "the upload writes nothing"
    fields = confirm_fields(plan.text)
    applied = client.post("/staff/members/apply", data=fields)
    assert applied.status_code == 303
    assert "The file was applied: 1 joined, 0 left." in client.get("/staff/members").text
    assert rows(db) == [(base["web_only"], "staff", f"staff:{MANAGER}")]
    again = client.post("/staff/members/apply", data=fields)
    assert again.status_code == 303
    page = client.get("/staff/members").text
    assert "This form was already sent" in page and 'id="members-imports"' in page
    with db.connect() as conn:
        (entry,) = audit.entries(conn, action_prefix="members.import")
    assert entry.actor == f"staff:{MANAGER}" and entry.details["joined_ids"] == [base["web_only"]]
    assert entry.details["file"] == "members.csv" and entry.details["form_id"] == fields["form_id"]
    reimport = upload(client, edited.encode("utf-8-sig"))
    assert 'id="plan-nothing"' in reimport.text and 'id="members-apply-form"' not in reimport.text


def test_a_bad_file_lists_every_row_and_writes_nothing(
    client: TestClient, staff: dict[str, str], base: dict[str, int], db: Engine
) -> None:
    log_in(client, MANAGER)
    bad = f"customer_id;member\r\n{base['web_only']};1\r\n424242;1\r\n{base['web_only']};yes\r\n".encode()
    refused = upload(client, bad)
    assert refused.status_code == 422
    assert (
        'data-row="3"' in refused.text
        and 'data-row="4"' in refused.text
        and "unknown_customer" in refused.text
    )
    assert 'id="members-apply-form"' not in refused.text and rows(db) == []
    assert upload(client, b"").status_code == 422


def test_forms_need_the_csrf_token_and_a_signed_plan(
    client: TestClient, staff: dict[str, str], base: dict[str, int], db: Engine, clock: FakeClock
) -> None:
    log_in(client, MANAGER)
    file = f"customer_id;member\r\n{base['web_only']};1\r\n".encode()
    assert upload(client, file, token="forged").status_code == 403
    fields = confirm_fields(upload(client, file).text)
    assert client.post("/staff/members/apply", data={**fields, "csrf_token": "forged"}).status_code == 403
    tampered = client.post("/staff/members/apply", data={**fields, "plan": fields["plan"][:-2] + "xx"})
    assert tampered.status_code == 303 and "The form is damaged" in client.get("/staff/members").text
    clock.advance(timedelta(minutes=20))
    client.get("/staff/members")  # the session goes on; the plan keeps its age
    clock.advance(timedelta(minutes=15))
    assert client.post("/staff/members/apply", data=fields).status_code == 303
    assert "has expired: upload it again" in client.get("/staff/members").text
    assert rows(db) == []
    with db.connect() as conn:
        assert not membership.is_member(conn, base["web_only"])
