"""``bonusbridge serve`` starts uvicorn on the configured address; two copies of one form sent at
the same moment (a double click, two tabs) take effect once; points are parsed as people type."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from starlette.testclient import TestClient
from typer.testing import CliRunner

from bonusbridge.models import Movement, MovementKind
from bonusbridge.services.card_claims import parse_points
from tests.web_cabinet.conftest import BASE_URL, csrf, form_id, log_in
from tests.web_cabinet.test_cards import three_legacy_cards


def test_serve_runs_uvicorn_on_the_configured_host_and_port(monkeypatch, tmp_path):
    import uvicorn

    from web_cabinet import cli

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append({"app": app, **kwargs}))
    monkeypatch.setenv("BONUSBRIDGE_DATABASE_URL", f"sqlite:///{tmp_path / 'serve.sqlite3'}")
    monkeypatch.setenv("BONUSBRIDGE_CABINET_HOST", "0.0.0.0")
    monkeypatch.setenv("BONUSBRIDGE_CABINET_PORT", "8123")
    from bonusbridge.settings import get_settings

    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli.app, [])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    (call,) = calls
    assert (call["host"], call["port"], call["proxy_headers"]) == ("0.0.0.0", 8123, True)
    assert "/login" in {getattr(route, "path", None) for route in call["app"].routes} or call["app"]


def test_two_copies_of_the_choice_sent_at_once_merge_once(client, settings, world, clock, app):
    first, _, _ = three_legacy_cards(world, clock)
    log_in(client, settings)
    page = client.get("/cards/choose")
    data = {"card_id": str(first), "form_id": form_id(page.text), "csrf_token": csrf(page.text)}
    twins = []
    for _ in range(2):
        twin = TestClient(app, base_url=BASE_URL, follow_redirects=False)
        twin.cookies.update(client.cookies)
        twins.append(twin)
    answers: list[int] = []
    start = threading.Barrier(2)

    def send(twin: TestClient) -> None:
        start.wait()
        answers.append(twin.post("/cards/choose", data=data).status_code)

    threads = [threading.Thread(target=send, args=(twin,)) for twin in twins]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [303, 303]
    assert world.total(first) == Decimal("390.50")
    with world.hub.engine.connect() as conn:
        moved_in = conn.scalar(
            select(func.count())
            .select_from(Movement)
            .where(Movement.card_id == first, Movement.kind == MovementKind.TRANSFER_IN)
        )
    assert moved_in == 2


def test_points_are_parsed_as_people_type_them():
    assert parse_points("45,60") == Decimal("45.60")
    assert parse_points(" 1 045.5 ") == Decimal("1045.5")
    for bad in ("", "abc", "0", "-5", "1.234", "NaN", "Infinity", "1e3000"):
        assert parse_points(bad) is None, bad
