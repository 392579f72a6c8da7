"""Benchmark: the shop API's balance and the cabinet's home page under 50 concurrent clients.

    .venv/bin/python bench/cabinet.py [--clients 50] [--seconds 30] [--workers 2] [--cards 2000]

What it does, on PostgreSQL (a fresh database ``bb_bench_cabinet`` on 127.0.0.1):

1. migrates the schema and loads ``--cards`` cards with a few movements each, plus one customer
   with a verified phone, one card and a history of 60 movements (a home page with content);
2. starts ``bonusbridge serve --workers N`` (uvicorn) as its own process, creates an API client with
   the ``read`` scope, and logs the customer in through the real pages (the code is read from the
   console SMS gateway's file);
3. runs ``wrk`` (Debian's package: a C load generator, so the client does not eat the server's CPU
   the way a Python one would) with ``--clients`` connections for ``--seconds`` each against:
   a static file of the same app (the reference: what uvicorn and the middleware cost without any
   work), ``GET /api/v1/cards/{id}/balance`` over 200 different cards (after a 3 s warm-up that is
   not measured: each worker checks the key once and opens its database connections), and ``GET /``
   with the session cookie.

The last line is JSON: requests/s and p99 of each, and each rate as a ratio of the reference
measured in the same run (timings on a shared 2-core machine are noisy; ratios travel better).
Target (issue 6): API p99 under 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATABASE = "bb_bench_cabinet"
PG = "postgresql+psycopg://postgres@127.0.0.1:5432"
PHONE = "+79165550909"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--cards", type=int, default=2000)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench/cabinet.py needs wrk: apt-get install wrk")

    work = Path(tempfile.mkdtemp(prefix="bench-cabinet-"))
    env = {
        **os.environ,
        "BONUSBRIDGE_DATABASE_URL": f"{PG}/{DATABASE}",
        "BONUSBRIDGE_BROKER_URL": "memory://",
        "BONUSBRIDGE_SMS_GATEWAY": "console",
        "BONUSBRIDGE_SMS_CONSOLE_FILE": str(work / "sms.jsonl"),
        "BONUSBRIDGE_API_ID_SECRET": secrets.token_urlsafe(32),
        "BONUSBRIDGE_CABINET_SESSION_SECRET": secrets.token_urlsafe(32),
    }
    os.environ.update(env)
    recreate_database()
    run([bin_path("bonusbridge"), "db", "upgrade"], env)
    card_ids, key = seed(args.cards)

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
        wait_until_up(base)
        cookie = log_in(base, work / "sms.jsonl")
        api_ids = public_card_ids(base, key, card_ids[:200])
        static = static_path(base, cookie)
        script = work / "balances.lua"
        script.write_text(balance_script(api_ids))
        duration = ["-d", f"{args.seconds}s", "-c", str(args.clients), "-t", "2", "--latency"]
        reference = wrk([*duration, f"{base}{static}"])
        # Warm-up, not measured: each worker process checks the key once and opens its connections.
        wrk(
            [
                "-d",
                "3s",
                "-c",
                str(args.clients),
                "-t",
                "2",
                "-H",
                f"Authorization: Bearer {key}",
                "-s",
                str(script),
                base,
            ]
        )
        api = wrk([*duration, "-H", f"Authorization: Bearer {key}", "-s", str(script), base])
        page = wrk([*duration, "-H", f"Cookie: {cookie}", f"{base}/"])
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)

    result = {
        "bench": "cabinet",
        "clients": args.clients,
        "seconds": args.seconds,
        "workers": args.workers,
        "api_rps": api["rps"],
        "api_p50_ms": api["p50_ms"],
        "api_p99_ms": api["p99_ms"],
        "page_rps": page["rps"],
        "page_p50_ms": page["p50_ms"],
        "page_p99_ms": page["p99_ms"],
        "reference_rps": reference["rps"],
        "reference_p99_ms": reference["p99_ms"],
        "api_vs_reference": round(api["rps"] / reference["rps"], 3),
        "page_vs_reference": round(page["rps"] / reference["rps"], 3),
        "errors": api["errors"] + page["errors"],
    }
    print(json.dumps(result))


# --- set-up ----------------------------------------------------------------------------------------


def bin_path(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def run(command: list[str], env: dict[str, str]) -> None:
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)


def recreate_database() -> None:
    for statement in (f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)', f'CREATE DATABASE "{DATABASE}"'):
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qc", statement], check=True
        )


def seed(cards: int) -> tuple[list[int], str]:
    """Cards with a few movements each, the logged-in customer's card with 60, and an API key."""
    from bonusbridge.app import build_hub
    from bonusbridge.models import Card, Customer, Origin
    from bonusbridge.settings import load_settings
    from web_cabinet.api.clients import create_client

    hub = build_hub(load_settings())
    ids: list[int] = []
    with hub.unit_of_work() as uow:
        program = uow.programs.get_or_create("bench", "Bench program")
        customer = uow.customers.add(
            Customer(
                phone_e164=PHONE,
                phone_verified_at=hub.ledger.clock(),
                last_name="Тестова",
                first_name="Анна",
                birth_date=date(1990, 1, 1),
                changed_by=Origin.ADMIN,
            )
        )
        mine = uow.cards.add(
            Card(program_id=program.id, number="BENCH-HOME", customer_id=customer.id, is_primary=True)
        )
        for n in range(cards):
            ids.append(uow.cards.add(Card(program_id=program.id, number=f"BENCH-{n:07d}")).id)
        uow.commit()
        home_card = mine.id
    for n in range(60):
        hub.ledger.accrue(
            home_card, Decimal("12.50"), key=f"bench:home:{n}", origin=Origin.ONEC, document=f"ЧК-{n}"
        )
    for card_id in ids:
        hub.ledger.accrue(card_id, Decimal("100"), key=f"bench:{card_id}:1", origin=Origin.ONEC)
        hub.ledger.accrue(card_id, Decimal("25.50"), key=f"bench:{card_id}:2", origin=Origin.WEBSITE)
    key = create_client(hub.engine, "bench", ["read"])
    hub.engine.dispose()
    return ids, key


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_up(base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/login", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    sys.exit("the cabinet did not start")


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    if not found:
        sys.exit("no CSRF token on the page")
    return found.group(1)


def log_in(base: str, sms_file: Path) -> str:
    """Log in as the customer through the pages; return the ``Cookie`` header of the session."""
    with httpx.Client(base_url=base, follow_redirects=True, timeout=10) as client:
        page = client.get("/login")
        page = client.post("/login/phone", data={"phone": PHONE, "csrf_token": csrf_of(page.text)})
        deadline = time.monotonic() + 30
        code = None
        while code is None and time.monotonic() < deadline:
            for line in reversed(sms_file.read_text().splitlines() if sms_file.exists() else []):
                found = re.search(r"\b(\d{6})\b", json.loads(line)["text"])
                if found:
                    code = found.group(1)
                    break
            time.sleep(0.1)
        if code is None:
            sys.exit("no SMS code arrived")
        home = client.post("/login/code", data={"code": code, "csrf_token": csrf_of(page.text)})
        if home.status_code != 200 or 'id="balance-available"' not in home.text:
            sys.exit(f"login did not reach the home page ({home.status_code} {home.url})")
        return "; ".join(f"{name}={value}" for name, value in client.cookies.items())


def public_card_ids(base: str, key: str, card_ids: list[int]) -> list[str]:
    """The API's opaque ids of the cards, as a shop would get them: by searching their numbers."""
    found: list[str] = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=10) as client:
        for row_id in card_ids:
            answer = client.post("/api/v1/cards/search", json={"number": f"BENCH-{row_id - card_ids[0]:07d}"})
            answer.raise_for_status()
            found.append(answer.json()["cards"][0]["card_id"])
    return found


def static_path(base: str, cookie: str) -> str:
    html = httpx.get(f"{base}/", headers={"Cookie": cookie}, timeout=10).text
    found = re.search(r'href="(/static/[^"]+\.css)"', html)
    if not found:
        sys.exit("no stylesheet on the home page to use as the reference")
    return found.group(1)


def balance_script(public_ids: list[str]) -> str:
    paths = ", ".join(f'"/api/v1/cards/{card}/balance"' for card in public_ids)
    return (
        f"local paths = {{{paths}}}\n"
        "request = function()\n"
        "  return wrk.format('GET', paths[math.random(#paths)])\n"
        "end\n"
    )


# --- wrk ---------------------------------------------------------------------------------------------

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(args: list[str]) -> dict[str, Any]:
    done = subprocess.run(["wrk", *args], capture_output=True, text=True, check=True)
    out = done.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    latency = {
        pct: _ms(value, unit) for pct, value, unit in re.findall(r"\s(\d+)%\s+([\d.]+)(us|ms|s)\b", out)
    }
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors += int(non_2xx.group(1)) if non_2xx else 0
    return {"rps": round(rps, 1), "p50_ms": latency.get("50"), "p99_ms": latency.get("99"), "errors": errors}


def _ms(value: str, unit: str) -> float:
    return round(float(value) * _UNITS[unit], 2)


if __name__ == "__main__":
    main()
