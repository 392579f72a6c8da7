"""``/staff/rewards``: marketing adds and edits rewards and uploads codes (audited), a refused form
names its field in the page's language and writes nothing, viewer reads, migration gets 403."""

from __future__ import annotations

from sqlalchemy import Engine, func, select
from starlette.testclient import TestClient

from bonusbridge.models import StaffAudit
from bonusbridge.rewards.models import Reward, RewardVoucherCode
from tests.web_cabinet.staff import conftest as staff_fixtures
from tests.web_cabinet.staff.conftest import csrf_of, staff_log_in

settings = staff_fixtures.settings
staff = staff_fixtures.staff


def count(db: Engine, table: object) -> int:
    with db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_marketing_edits_the_catalog(client: TestClient, db: Engine, staff: dict[str, str]) -> None:
    client.cookies.set("bb_lang", "en")
    assert staff_log_in(client, "marketing").status_code == 303
    page = client.get("/staff/rewards")
    assert page.status_code == 200
    token = csrf_of(page.text)
    form = {
        "csrf_token": token,
        "code": "VOUCH",
        "kind": "e_voucher",
        "category": "vouchers",
        "name_en": "Cinema",
        "name_ru": "Кино",
        "points_price": "12.5x",
    }
    refused = client.post("/staff/rewards", data=form)
    assert refused.status_code == 422 and "must be a number" in refused.text and count(db, Reward) == 0
    client.cookies.set("bb_lang", "ru")
    refused = client.post("/staff/rewards", data=form)
    assert "должно быть числом" in refused.text
    saved = client.post("/staff/rewards", data={**form, "points_price": "12.50", "reason": "launch"})
    assert saved.status_code == 303
    edit = client.get(saved.headers["location"])
    assert 'id="codes-form"' in edit.text
    with db.connect() as conn:
        reward_id = conn.execute(select(Reward.id)).scalar_one()
    dup = client.post(
        f"/staff/rewards/{reward_id}/codes",
        data={"csrf_token": token},
        files={"file": ("codes.txt", b"A\nB\nA\n")},
    )
    assert dup.status_code == 422 and "строках 3" in dup.text and count(db, RewardVoucherCode) == 0
    ok = client.post(
        f"/staff/rewards/{reward_id}/codes",
        data={"csrf_token": token},
        files={"file": ("codes.txt", b"A\nB\nC\n")},
    )
    assert ok.status_code == 200 and count(db, RewardVoucherCode) == 3
    with db.connect() as conn:
        actions = set(conn.execute(select(StaffAudit.action)).scalars())
    assert {"rewards.reward.create", "rewards.codes.upload"} <= actions


def test_roles(client: TestClient, staff: dict[str, str]) -> None:
    staff_log_in(client, "viewer")
    page = client.get("/staff/rewards")
    assert page.status_code == 200 and 'id="reward-form"' not in page.text
    assert client.post("/staff/rewards", data={"csrf_token": csrf_of(page.text)}).status_code == 403
    client.post("/staff/logout", data={"csrf_token": csrf_of(page.text)})
    staff_log_in(client, "migration")
    assert client.get("/staff/rewards").status_code == 403
