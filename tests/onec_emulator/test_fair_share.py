"""The emulated base's turns: per connection by default, per 1C user with ``fair_share``
(``connectors/onec/emulator/sessions.py``): the website's request does not queue behind a till
network's."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from connectors.onec.emulator.app import create_app
from tests.onec_live import ADMIN, SITE

PARTNERS = "/dobrostroy/odata/standard.odata/Catalog_Партнеры?$top=1&$format=json"


async def finishing_order(fair_share: bool, tills: int = 20) -> list[str]:
    """``tills`` requests of the tills' user, then one of the website's, all at once: who finished
    in which order."""
    app = create_app("retail", fixtures="demo", fair_share=fair_share)
    finished: list[str] = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://onec") as client:

        async def call(who: str, auth: tuple[str, str]) -> None:
            response = await client.get(PARTNERS, auth=auth)
            assert response.status_code == 200, response.text
            assert response.json()["value"]
            finished.append(who)

        await asyncio.gather(*(call(f"till{n}", ADMIN) for n in range(tills)), call("website", SITE))
    return finished


def test_by_default_each_connection_takes_its_turn_in_arrival_order():
    order = asyncio.run(finishing_order(fair_share=False))
    assert len(order) == 21 and order.index("website") >= 15  # behind (nearly) every till


@pytest.mark.parametrize("tills", [5, 20, 60])
def test_with_fair_share_the_website_waits_for_at_most_one_request_of_each_other_user(tills):
    order = asyncio.run(finishing_order(fair_share=True, tills=tills))
    assert len(order) == tills + 1
    assert order.index("website") <= 2, order  # however many requests the tills have queued


def test_fair_share_leaves_the_admin_pages_and_the_faults_out_of_the_queue():
    """A slow answer (a latency fault) waits before its turn, so it does not hold the others."""

    async def scenario() -> list[str]:
        app = create_app("retail", fixtures="demo", fair_share=True)
        finished: list[str] = []
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://onec") as c:
            put = await c.put("/_admin/faults", json={"latency_ms": 600, "match": "ИнформационныеКарты"})
            assert put.status_code == 200

            async def call(who: str, path: str) -> None:
                assert (await c.get(path, auth=SITE)).status_code == 200
                finished.append(who)

            cards = "/dobrostroy/odata/standard.odata/Catalog_ИнформационныеКарты?$top=1&$format=json"
            await asyncio.gather(call("slow", cards), call("quick", PARTNERS))
        return finished

    assert asyncio.run(scenario()) == ["quick", "slow"]
