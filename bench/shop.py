"""Benchmark: 200 members buying from a 500-item rewards catalog at once, through the shop API.

    .venv/bin/python bench/shop.py [--members 200] [--items 500] [--orders 5] [--workers 2]
                                   [--reference-seconds 10]

What it does, on PostgreSQL (a fresh database ``bb_bench_shop`` on 127.0.0.1):

1. migrates the schema and loads ``--members`` members (a customer with a primary card and
   100 000 points each), a supplier and ``--items`` physical rewards: the first 20 are scarce (3
   units each, so members race for the last ones), the others have 1 000 units; prices 50-950 points;
2. starts ``bonusbridge serve --workers N`` (uvicorn) as its own process and creates an API client
   with the ``read``, ``quote`` and ``checkout`` scopes;
3. the reference, in the same run: ``wrk`` against the cabinet's balance API
   (``GET /api/v1/cards/{id}/balance`` over the members' cards, 50 connections,
   ``--reference-seconds``), after a 3 s warm-up;
4. one order at a time (30 orders of one member: the cost of an order without a queue), then
   every member at once (one asyncio task each, started together): ``--orders`` orders in a row,
   each ``POST /api/v1/shop/customers/{id}/orders`` with 1-3 random lines (one in four asks for a
   scarce item) and a fresh ``Idempotency-Key`` — the points held and captured through the ledger,
   stock reserved, order rows written, in one transaction per order. Each order's latency is timed
   from the client;
5. checks: per reward, units sold (lines of orders not cancelled) against the stock it started
   with (``oversold``: units sold beyond it, must be 0), the stock column never negative, and
   ``bonusbridge ledger check`` (every balance against its movements, lots and holds).

The last line is JSON: ``{"bench":"shop","orders_per_s":…,"p99_ms":…,"oversold":0,"reference_rps":…}``
plus p50, counts per answer, the scarce items' refusals and the ledger check. ``orders_per_s`` counts
orders placed (201) over the wall time of step 4; refusals (``out_of_stock`` once a scarce item is
gone) are answered too and counted apart. Target (issue 21): 0 oversold, order p99 under 100 ms.
The Python client runs on the same machine as the server and the database: on a shared 2-core box
its CPU is taken from them, and 200 requests in flight queue behind 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.cabinet import bin_path, free_port, run, wrk  # noqa: E402

DATABASE = "bb_bench_shop"
PG = "postgresql+psycopg://postgres@127.0.0.1:5432"
SCARCE = 20
SCARCE_STOCK = 3
STOCK = 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--orders", type=int, default=5, help="orders each member places in a row")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--reference-seconds", type=int, default=10)
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--server-log", help="keep the server's output in this file")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench/shop.py needs wrk: apt-get install wrk")

    work = Path(tempfile.mkdtemp(prefix="bench-shop-"))
    secret = secrets.token_urlsafe(32)
    env = {
        **os.environ,
        "BONUSBRIDGE_DATABASE_URL": f"{PG}/{DATABASE}",
        "BONUSBRIDGE_BROKER_URL": "memory://",
        "BONUSBRIDGE_SMS_GATEWAY": "console",
        "BONUSBRIDGE_SMS_CONSOLE_FILE": str(work / "sms.jsonl"),
        "BONUSBRIDGE_API_ID_SECRET": secret,
        "BONUSBRIDGE_CABINET_SESSION_SECRET": secrets.token_urlsafe(32),
        "BONUSBRIDGE_REWARDS_PAYMENTS": "instant",
    }
    os.environ.update(env)
    recreate_database()
    run([bin_path("bonusbridge"), "db", "upgrade"], env)
    members, cards, catalog, key = seed(args.members, args.items, secret.encode())

    port = free_port()
    log = open(args.server_log, "w") if args.server_log else subprocess.DEVNULL  # noqa: SIM115
    server = subprocess.Popen(
        [bin_path("bonusbridge"), "serve", "--port", str(port), "--workers", str(args.workers)],
        env=env,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, key, members[0])
        script = work / "balances.lua"
        paths = ", ".join(f'"/api/v1/cards/{card}/balance"' for card in cards)
        script.write_text(
            f"local paths = {{{paths}}}\nrequest = function()\n"
            "  return wrk.format('GET', paths[math.random(#paths)])\nend\n"
        )
        auth = ["-H", f"Authorization: Bearer {key}", "-s", str(script), base]
        wrk(["-d", "3s", "-c", "50", "-t", "2", *auth])  # warm-up: keys checked, connections opened
        reference = wrk(["-d", f"{args.reference_seconds}s", "-c", "50", "-t", "2", "--latency", *auth])
        shopping = asyncio.run(shop(base, key, members, catalog, args.orders, random.Random(args.seed)))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)

    checks = check(catalog)
    ledger = subprocess.run(
        [bin_path("bonusbridge"), "ledger", "check"], env=env, capture_output=True, text=True
    )
    latencies = sorted(shopping["latencies"])
    placed = shopping["codes"].get("201", 0)
    result = {
        "members": args.members,
        "items": args.items,
        "orders_each": args.orders,
        "workers": args.workers,
        "attempts": len(latencies),
        "placed": placed,
        "answers": dict(sorted(shopping["codes"].items())),
        "refusals": dict(sorted(shopping["refusals"].items())),
        "client_retries": shopping["retries"].get("transport", 0),
        "wall_s": round(shopping["wall"], 2),
        "attempts_per_s": round(len(latencies) / shopping["wall"], 1),
        "p50_ms": percentile(latencies, 50),
        "alone_p50_ms": percentile(shopping["alone"], 50),
        "alone_p99_ms": percentile(shopping["alone"], 99),
        "scarce_units": SCARCE * SCARCE_STOCK,
        "scarce_sold": checks["scarce_sold"],
        "negative_stock": checks["negative_stock"],
        "ledger_check_ok": ledger.returncode == 0,
        "reference_p99_ms": reference["p99_ms"],
        "reference_errors": reference["errors"],
    }
    print(json.dumps(result, ensure_ascii=False))
    print(
        json.dumps(
            {
                "bench": "shop",
                "orders_per_s": round(placed / shopping["wall"], 1),
                "p99_ms": percentile(latencies, 99),
                "oversold": checks["oversold"],
                "reference_rps": reference["rps"],
            }
        )
    )


# --- set-up ----------------------------------------------------------------------------------------


def recreate_database() -> None:
    for statement in (f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)', f'CREATE DATABASE "{DATABASE}"'):
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qc", statement], check=True
        )


def seed(
    members: int, items: int, secret: bytes
) -> tuple[list[str], list[str], dict[int, dict[str, Any]], str]:
    """Members with points, a supplier and the catalog; their public ids and the API key."""
    from bonusbridge.app import build_hub
    from bonusbridge.models import Card, Customer, Origin
    from bonusbridge.rewards import catalog as rewards
    from bonusbridge.settings import load_settings
    from web_cabinet.api import ids
    from web_cabinet.api.clients import create_client

    hub = build_hub(load_settings())
    now = hub.ledger.clock()
    rows: list[tuple[int, int]] = []
    with hub.unit_of_work() as uow:
        program = uow.programs.get_or_create("bench", "Bench program")
        for n in range(members):
            customer = uow.customers.add(
                Customer(
                    phone_e164=f"+7916{n:07d}", email=f"m{n}@bench.test", locale="ru", changed_by=Origin.ADMIN
                )
            )
            card = uow.cards.add(
                Card(program_id=program.id, number=f"SHOP-{n:07d}", customer_id=customer.id, is_primary=True)
            )
            rows.append((customer.id, card.id))
        uow.commit()
    for _, card_id in rows:
        hub.ledger.accrue(card_id, Decimal("100000"), key=f"bench:shop:{card_id}", origin=Origin.ONEC)
    found: dict[int, dict[str, Any]] = {}
    with hub.engine.begin() as conn:
        supplier = rewards.create_supplier(
            conn, name="Bench gifts", email="gifts@bench.test", locale="ru", actor="bench", now=now
        )
        for n in range(items):
            stock = SCARCE_STOCK if n < SCARCE else STOCK
            price = Decimal(50 + (n * 37) % 901).quantize(Decimal("0.01"))
            form = {
                "code": f"B{n:04d}", "kind": "physical", "category": f"c{n % 10}",
                "name_ru": f"Подарок {n}", "name_en": f"Gift {n}", "points_price": str(price),
                "supplier_id": str(supplier), "stock": str(stock),
            }  # fmt: skip
            reward_id = rewards.create_reward(
                conn, rewards.parse_draft(form), actor="bench", reason=None, now=now
            )
            found[reward_id] = {"price": f"{price:.2f}", "stock": stock, "scarce": n < SCARCE}
    key = create_client(hub.engine, "bench-shop", ["read", "quote", "checkout"])
    hub.engine.dispose()
    customers = [ids.encode("customer", customer_id, secret) for customer_id, _ in rows]
    cards = [ids.encode("card", card_id, secret) for _, card_id in rows]
    return customers, cards, found, key


def wait_until_up(base: str, key: str, member: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(
                f"{base}/api/v1/shop/customers/{member}/catalog",
                headers={"Authorization": f"Bearer {key}"},
                timeout=5,
            )
            if answer.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    sys.exit("the server did not start")


# --- the shoppers ------------------------------------------------------------------------------------


async def shop(
    base: str,
    key: str,
    members: list[str],
    catalog: dict[int, dict[str, Any]],
    orders: int,
    rng: random.Random,
) -> dict[str, Any]:
    scarce = [rid for rid, item in catalog.items() if item["scarce"]]
    plenty = [rid for rid, item in catalog.items() if not item["scarce"]]
    plans = []
    for member in members:
        baskets = []
        for _ in range(orders):
            picked = rng.sample(plenty, rng.randint(1, 3))
            if rng.random() < 0.25:
                picked[0] = rng.choice(scarce)
            baskets.append(
                [
                    {
                        "reward_id": rid,
                        "quantity": 1,
                        "points_price": catalog[rid]["price"],
                        "cash_price": "0.00",
                    }
                    for rid in dict.fromkeys(picked)
                ]
            )
        plans.append((member, baskets))
    latencies: list[float] = []
    codes: Counter[str] = Counter()
    refusals: Counter[str] = Counter()
    retries: Counter[str] = Counter()
    start = asyncio.Event()
    limits = httpx.Limits(max_connections=len(members), max_keepalive_connections=len(members))
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {key}"}, limits=limits, timeout=60
    ) as client:
        # one order at a time first (plenty items only): what an order costs without any queue
        alone: list[float] = []
        for rid in rng.sample(plenty, 30):
            began = time.perf_counter()
            answer = await client.post(
                f"/api/v1/shop/customers/{members[0]}/orders",
                json={"lines": [{"reward_id": rid, "quantity": 1, "points_price": catalog[rid]["price"],
                                 "cash_price": "0.00"}]},
                headers={"Idempotency-Key": secrets.token_hex(12)},
            )  # fmt: skip
            answer.raise_for_status()
            alone.append((time.perf_counter() - began) * 1000)
        # one connection per member opened before the start, so the burst measures orders, not TCP
        await asyncio.gather(*(client.get(f"/api/v1/shop/customers/{m}/orders") for m, _ in plans))

        async def member_shops(member: str, baskets: list[list[dict[str, Any]]]) -> None:
            await start.wait()
            for lines in baskets:
                began = time.perf_counter()
                key = secrets.token_hex(12)
                answer = None
                for _ in range(3):  # a connection the server closed: the same key again, as a shop would
                    try:
                        answer = await client.post(
                            f"/api/v1/shop/customers/{member}/orders",
                            json={"lines": lines, "address": "Москва"},
                            headers={"Idempotency-Key": key},
                        )
                        break
                    except httpx.TransportError:
                        retries["transport"] += 1
                latencies.append((time.perf_counter() - began) * 1000)
                if answer is None:
                    codes["no_answer"] += 1
                    continue
                codes[str(answer.status_code)] += 1
                if answer.status_code != 201:
                    refusals[answer.json().get("code", "?")] += 1

        tasks = [asyncio.create_task(member_shops(member, baskets)) for member, baskets in plans]
        await asyncio.sleep(0.1)
        began = time.perf_counter()
        start.set()
        await asyncio.gather(*tasks)
        wall = time.perf_counter() - began
    return {
        "latencies": latencies, "codes": codes, "refusals": refusals, "retries": retries, "wall": wall,
        "alone": sorted(alone),
    }  # fmt: skip


# --- checks ------------------------------------------------------------------------------------------


def check(catalog: dict[int, dict[str, Any]]) -> dict[str, int]:
    from sqlalchemy import func, select

    from bonusbridge.app import build_hub
    from bonusbridge.rewards.models import OrderState, Reward, RewardOrder, RewardOrderLine
    from bonusbridge.settings import load_settings

    hub = build_hub(load_settings())
    with hub.engine.connect() as conn:
        sold = dict(
            conn.execute(
                select(RewardOrderLine.reward_id, func.sum(RewardOrderLine.quantity))
                .join(RewardOrder, RewardOrder.id == RewardOrderLine.order_id)
                .where(RewardOrder.state != OrderState.CANCELLED)
                .group_by(RewardOrderLine.reward_id)
            ).all()
        )
        stock = dict(conn.execute(select(Reward.id, Reward.stock)).all())
    hub.engine.dispose()
    oversold = sum(max(0, int(sold.get(rid, 0)) - item["stock"]) for rid, item in catalog.items())
    # the stock column must say exactly what was not sold
    drift = sum(abs(item["stock"] - int(sold.get(rid, 0)) - int(stock[rid])) for rid, item in catalog.items())
    return {
        "oversold": oversold + drift,
        "negative_stock": sum(1 for value in stock.values() if value is not None and value < 0),
        "scarce_sold": sum(int(sold.get(rid, 0)) for rid, item in catalog.items() if item["scarce"]),
    }


def percentile(values: list[float], pct: int) -> float | None:
    if not values:
        return None
    index = min(len(values) - 1, max(0, math.ceil(pct / 100 * len(values)) - 1))
    return round(values[index], 1)


if __name__ == "__main__":
    main()
