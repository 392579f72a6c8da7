"""Benchmark: quotes of 50-line baskets against a program with 20 active campaigns.

    .venv/bin/python bench/quote.py [--clients 4] [--seconds 20] [--workers 2] [--cards 200]

1. **In-process**: ``bonusbridge.points.quote.quote`` alone (the program loaded once, as the API
   caches it) on 50-line baskets — each line with a category, brand and VAT rate, so every campaign's
   criteria are checked on every line — for ``--seconds`` / 4 seconds: ``quotes_per_s``.
2. **Through the API**, on PostgreSQL (a fresh database ``bb_bench_quote``): the program version and
   the 20 campaigns are stored, ``--cards`` cards funded; ``bonusbridge serve --workers N`` runs as
   its own process and ``wrk`` (a C load generator) posts ``/api/v1/quotes`` with ``--clients``
   connections, a different card per request. The same run measures a reference: the API's
   ``GET /cards/{id}/balance`` (the same stack, key check, one balance read, no engine), so the
   engine's own cost is the difference.

Last line: ``{"bench":"quote","lines":50,"campaigns":20,"quotes_per_s":…,"api_p99_ms":…}`` plus the
API's rate and p50, the reference's, and the in-process mean in µs. Target (issue 8): API p99
under 20 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.cabinet import bin_path, free_port, run, wrk  # noqa: E402

DATABASE = "bb_bench_quote"
PG = "postgresql+psycopg://postgres@127.0.0.1:5432"
LINES, CAMPAIGNS = 50, 20
CATEGORIES = ["paint", "tools", "garden", "cement", "tiles", "lighting", "plumbing", "decor"]
BRANDS = ["acme", "tikkurila", "bosch", "makita", "knauf"]


def campaigns(start: datetime) -> list[dict[str, Any]]:
    """20 campaigns active during the run, on distinct targets (none contradict)."""
    out = []
    for n in range(CAMPAIGNS):
        raw: dict[str, Any] = {
            "code": f"bench-{n:02d}",
            "multiplier": str(Decimal(2) + Decimal(n) / 10),
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(days=30)).isoformat(),
        }
        if n % 3 == 0:
            raw["categories"] = [CATEGORIES[n % len(CATEGORIES)]]
        elif n % 3 == 1:
            raw["brands"] = [BRANDS[n % len(BRANDS)]]
            raw["categories"] = [CATEGORIES[(n + 4) % len(CATEGORIES)]]
        else:
            raw["skus"] = [f"sku-{k:03d}" for k in range(n, 200, 7)]
        raw["weekdays"] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        if n % 4 == 3:
            raw["hours"] = "00:00-23:59"
        out.append(raw)
    return out


RULES = {
    "earn_rate": "1",
    "point_value": "0.10",
    "spend_threshold": "100",
    "max_spend_share": "0.5",
    "excluded_categories": ["tobacco"],
    "exclude_discounted": False,
    "earn_base": "net_of_vat",
    "multiplier_policy": "multiply",
    "multiplier_cap": "5",
}


def basket_lines(seed: int) -> list[dict[str, str]]:
    return [
        {
            "sku": f"sku-{(seed + k) % 200:03d}",
            "quantity": str(1 + k % 3),
            "price": f"{100 + (k * 37) % 900}.{k % 100:02d}",
            "discount": "5.00" if k % 5 == 0 else "0",
            "category": CATEGORIES[k % len(CATEGORIES)],
            "brand": BRANDS[k % len(BRANDS)],
            "vat_rate": "20" if k % 4 else "10",
        }
        for k in range(LINES)
    ]


def in_process(seconds: float) -> tuple[float, float]:
    from bonusbridge.points.program import Campaign, Program, ProgramRules, Version
    from bonusbridge.points.quote import Basket, Line, Wallet, quote

    now = datetime.now(UTC)
    program = Program(
        (Version(1, now - timedelta(days=1), ProgramRules.parse(RULES)),),
        tuple(Campaign.parse(raw) for raw in campaigns(now - timedelta(hours=1))),
    )
    baskets = [
        Basket(
            [
                Line(
                    raw["sku"],
                    Decimal(raw["quantity"]),
                    Decimal(raw["price"]),
                    Decimal(raw["discount"]),
                    raw["category"],
                    raw["brand"],
                    Decimal(raw["vat_rate"]),
                )
                for raw in basket_lines(seed)
            ],
            now,
        )
        for seed in range(20)
    ]
    assert len(program.campaigns_at(now, program.versions[0].rules)) == CAMPAIGNS
    wallet = Wallet(Decimal("1000"))
    done, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for basket in baskets:
            quote(program, basket, wallet=wallet)
        done += len(baskets)
    return done / elapsed, elapsed / done * 1e6


def recreate_database() -> None:
    for statement in (f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)', f'CREATE DATABASE "{DATABASE}"'):
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qc", statement], check=True
        )


def seed(cards: int) -> tuple[list[int], str]:
    from bonusbridge.app import build_hub
    from bonusbridge.models import Card, Origin
    from bonusbridge.points import store
    from bonusbridge.settings import load_settings
    from web_cabinet.api.clients import create_client

    hub = build_hub(load_settings())
    now = datetime.now(UTC)
    with hub.engine.begin() as conn:
        store.add_version(
            conn, hub.settings, {"effective_from": now.isoformat(), **RULES}, now=now, actor="bench"
        )
        for raw in campaigns(now):
            store.add_campaign(conn, hub.settings, raw, now=now, actor="bench")
    ids = []
    with hub.unit_of_work() as uow:
        program = uow.programs.get_or_create("bench", "Bench program")
        for n in range(cards):
            ids.append(uow.cards.add(Card(program_id=program.id, number=f"QUOTE-{n:07d}")).id)
        uow.commit()
    for card_id in ids:
        hub.ledger.accrue(card_id, Decimal("500"), key=f"bench:{card_id}", origin=Origin.ONEC)
    key = create_client(hub.engine, "bench", ["read", "quote"])
    hub.engine.dispose()
    return ids, key


def public_ids(card_ids: list[int]) -> list[str]:
    from bonusbridge.settings import load_settings
    from web_cabinet.api import ids

    secret = load_settings().api_id_secret.get_secret_value().encode()
    return [ids.encode("card", row_id, secret) for row_id in card_ids]


def quote_script(cards: list[str]) -> str:
    bodies = [
        json.dumps({"card_id": card, "lines": basket_lines(n)}).replace("\\", "\\\\").replace('"', '\\"')
        for n, card in enumerate(cards)
    ]
    listed = ", ".join(f'"{body}"' for body in bodies)
    return (
        f"local bodies = {{{listed}}}\n"
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        "request = function()\n"
        "  return wrk.format(nil, '/api/v1/quotes', nil, bodies[math.random(#bodies)])\n"
        "end\n"
    )


def balance_script(cards: list[str]) -> str:
    paths = ", ".join(f'"/api/v1/cards/{card}/balance"' for card in cards)
    return (
        f"local paths = {{{paths}}}\n"
        "request = function()\n"
        "  return wrk.format('GET', paths[math.random(#paths)])\n"
        "end\n"
    )


def wait_until_up(base: str, key: str, card: str) -> None:
    import httpx

    deadline = time.monotonic() + 60
    body = {"card_id": card, "lines": basket_lines(0)}
    while time.monotonic() < deadline:
        try:
            answer = httpx.post(
                f"{base}/api/v1/quotes", json=body, headers={"Authorization": f"Bearer {key}"}
            )
            if answer.status_code == 200:
                assert len(answer.json()["lines"]) == LINES, answer.text
                return
            sys.exit(f"the quote failed: {answer.status_code} {answer.text}")
        except httpx.HTTPError:
            time.sleep(0.2)
    sys.exit("the server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=4, help="wrk connections (tills quoting at once)")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--cards", type=int, default=200)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench/quote.py needs wrk: apt-get install wrk")

    rate, mean_us = in_process(max(args.seconds / 4, 2))
    work = Path(tempfile.mkdtemp(prefix="bench-quote-"))
    env = {
        **os.environ,
        "BONUSBRIDGE_DATABASE_URL": f"{PG}/{DATABASE}",
        "BONUSBRIDGE_BROKER_URL": "memory://",
        "BONUSBRIDGE_API_ID_SECRET": secrets.token_urlsafe(32),
        "BONUSBRIDGE_CABINET_SESSION_SECRET": secrets.token_urlsafe(32),
    }
    os.environ.update(env)
    recreate_database()
    run([bin_path("bonusbridge"), "db", "upgrade"], env)
    card_ids, key = seed(args.cards)
    cards = public_ids(card_ids)
    port = free_port()
    server = subprocess.Popen(
        [bin_path("bonusbridge"), "serve", "--port", str(port), "--workers", str(args.workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, key, cards[0])
        (work / "quotes.lua").write_text(quote_script(cards))
        (work / "balances.lua").write_text(balance_script(cards))
        common = ["-d", f"{args.seconds}s", "-c", str(args.clients), "-t", "2", "--latency"]
        auth = ["-H", f"Authorization: Bearer {key}"]
        reference = wrk([*common, *auth, "-s", str(work / "balances.lua"), base])
        api = wrk([*common, *auth, "-s", str(work / "quotes.lua"), base])
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)

    print(
        json.dumps(
            {
                "bench": "quote",
                "lines": LINES,
                "campaigns": CAMPAIGNS,
                "quotes_per_s": round(rate, 1),
                "api_p99_ms": api["p99_ms"],
                "in_process_mean_us": round(mean_us, 1),
                "clients": args.clients,
                "workers": args.workers,
                "api_rps": api["rps"],
                "api_p50_ms": api["p50_ms"],
                "reference_balance_rps": reference["rps"],
                "reference_balance_p99_ms": reference["p99_ms"],
                "errors": api["errors"] + reference["errors"],
            }
        )
    )


if __name__ == "__main__":
    main()
