"""A generated legacy estate for tests and the benchmark: N programs of three export shapes.

``generate(folder, programs=20, cards=200_000)`` writes one export and one mapping file per
program: bonus programs as cp1251 ``;`` CSV with decimal commas and full names, discount programs
as UTF-8-with-BOM ``,`` CSV with split names and conversion rules, and plain UTF-8 bonus exports
with ISO dates. ``share_phone`` of the cards share a phone with another card, ``invalid_phone``
have a phone that is not valid, some numbers occur in several programs, and ``bad_rows`` rows per
file are broken on purpose (amount, date, negative balance). Deterministic for a given ``seed``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

BONUS_CP1251 = """program: {{code: {code}, name: "Бонусная программа {n}", kind: bonus}}
file: {{format: csv, encoding: cp1251, delimiter: ";", decimal_comma: true}}
columns:
  number: "Номер карты"
  phone: "Телефон"
  full_name: "ФИО"
  birth_date: "Дата рождения"
  balance: "Остаток баллов"
  expires_at: "Сгорают"
  status: "Состояние"
required: [number]
dates: {{formats: ["%d.%m.%Y"], timezone: Europe/Moscow}}
statuses:
  map: {{"Действует": accumulation_only, "Заблокирована": blocked}}
  default: accumulation_only
"""

DISCOUNT_BOM = """program: {{code: {code}, name: "Дисконтная программа {n}", kind: discount}}
file: {{format: csv, encoding: utf-8-sig, delimiter: ",", decimal_comma: false}}
columns:
  number: "CardNo"
  phone: "Phone"
  last_name: "LastName"
  first_name: "FirstName"
  birth_date: "Birthday"
  discount: "Discount"
  turnover: "Turnover"
required: [number, discount]
dates: {{formats: ["%Y-%m-%d"]}}
statuses: {{default: accumulation_only}}
conversion:
  - {{discount: 3, tier: bronze, opening_balance: 0}}
  - {{discount: 5, tier: silver, opening_balance: 100}}
  - {{discount: 7, tier: silver, opening_balance: {{turnover_percent: 1}}}}
  - {{discount: 10, tier: gold, opening_balance: {{turnover_percent: 2}}}}
"""

BONUS_UTF8 = """program: {{code: {code}, name: "Bonus club {n}", kind: bonus}}
file: {{format: csv, encoding: utf-8, delimiter: ",", decimal_comma: false}}
columns:
  number: "card"
  phone: "phone"
  email: "email"
  balance: "points"
  expires_at: "expires"
required: [number, balance]
dates: {{formats: ["%Y-%m-%d"]}}
statuses: {{default: accumulation_only}}
"""

LAST = [
    "Иванов",
    "Петров",
    "Сидоров",
    "Смирнов",
    "Кузнецов",
    "Попов",
    "Васильев",
    "Соколов",
    "Михайлов",
    "Новиков",
]
FIRST = ["Иван", "Пётр", "Сергей", "Алексей", "Дмитрий", "Андрей", "Михаил", "Николай", "Олег", "Юрий"]
MIDDLE = ["Иванович", "Петрович", "Сергеевич", "Алексеевич", "Дмитриевич", ""]
BAD_PHONES = ["12345", "8 916 12", "+7 (495) 00", "тел. нет", "999999999999999", "+44 20", "8-800"]


@dataclass
class Generated:
    files: list[Path]
    mappings: list[Path]
    cards: int
    bad_rows: int


def _phone(rng: random.Random, index: int, pool: int, share: float, invalid: float) -> str:
    r = rng.random()
    if r < invalid:
        return rng.choice(BAD_PHONES)
    digits = f"92{rng.randrange(pool):08d}" if r < invalid + share else f"91{index:08d}"
    shape = index % 4
    if shape == 0:
        return f"8 ({digits[:3]}) {digits[3:6]}-{digits[6:8]}-{digits[8:]}"
    if shape == 1:
        return f"+7 {digits[:3]} {digits[3:6]} {digits[6:8]} {digits[8:]}"
    if shape == 2:
        return digits
    return "8" + digits


def generate(
    folder: Path,
    *,
    programs: int = 20,
    cards: int = 200_000,
    share_phone: float = 0.30,
    invalid_phone: float = 0.05,
    bad_rows: int = 0,
    seed: int = 7,
) -> Generated:
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    # Shared phones: ~2.5 cards each on average, so about share_phone of all cards are in a group.
    pool = max(1, int(cards * share_phone / 2.5))
    files, mappings = [], []
    index = 0
    per_program = cards // programs
    total_bad = 0
    for n in range(programs):
        count = per_program + (1 if n < cards % programs else 0)
        kind = n % 3
        code = f"legacy{n + 1:02d}"
        template = (BONUS_CP1251, DISCOUNT_BOM, BONUS_UTF8)[kind]
        mapping_path = folder / f"{code}.yaml"
        mapping_path.write_text(template.format(code=code, n=n + 1), encoding="utf-8")
        lines = []
        if kind == 0:
            lines.append("Номер карты;Телефон;ФИО;Дата рождения;Остаток баллов;Сгорают;Состояние")
        elif kind == 1:
            lines.append("CardNo,Phone,LastName,FirstName,Birthday,Discount,Turnover")
        else:
            lines.append("card,phone,email,points,expires")
        bad_at = set(rng.sample(range(count), min(bad_rows, count)))
        total_bad += len(bad_at)
        for j in range(count):
            number = f"{n + 1:02d}{j:09d}" if rng.random() > 0.01 else f"77{j:09d}"
            phone = _phone(rng, index, pool, share_phone, invalid_phone)
            index += 1
            bad = j in bad_at
            named = rng.random() < 0.5
            last, first = (rng.choice(LAST), rng.choice(FIRST)) if named else ("", "")
            birth = (
                (1950 + index % 50, 1 + index % 12, 1 + index % 28) if named and rng.random() < 0.7 else None
            )
            if kind == 0:
                full = f"{last} {first} {rng.choice(MIDDLE)}".strip() if named else ""
                born = f"{birth[2]:02d}.{birth[1]:02d}.{birth[0]}" if birth else ""
                points = (
                    f"{rng.randrange(0, 500000) / 100:.2f}".replace(".", ",") if rng.random() < 0.7 else ""
                )
                expires = (
                    f"{1 + j % 28:02d}.{1 + j % 12:02d}.{2027 + j % 3}"
                    if points and rng.random() < 0.4
                    else ""
                )
                status = "Заблокирована" if rng.random() < 0.02 else "Действует"
                if bad:
                    choice = j % 3
                    points = "12,3,4" if choice == 0 else ("-5,00" if choice == 1 else points)
                    expires = "31.02.2027" if choice == 2 else expires
                    if choice == 2 and not points:
                        points = "1,00"
                lines.append(f"{number};{phone};{full};{born};{points};{expires};{status}")
            elif kind == 1:
                born = f"{birth[0]}-{birth[1]:02d}-{birth[2]:02d}" if birth else ""
                discount = rng.choice(["3", "5", "7", "10"])
                turnover = f"{rng.randrange(0, 10000000) / 100:.2f}"
                if bad:
                    turnover = "1.2.3"
                    discount = "7"
                lines.append(f"{number},{phone},{last},{first},{born},{discount},{turnover}")
            else:
                email = f"user{index}@example.ru" if rng.random() < 0.3 else ""
                points = f"{rng.randrange(0, 300000) / 100:.2f}"
                expires = f"{2027 + j % 2}-{1 + j % 12:02d}-{1 + j % 28:02d}" if rng.random() < 0.3 else ""
                if bad:
                    points = "abc"
                lines.append(f"{number},{phone},{email},{points},{expires}")
        encoding = ("cp1251", "utf-8-sig", "utf-8")[kind]
        path = folder / f"{code}.csv"
        path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
        files.append(path)
        mappings.append(mapping_path)
    return Generated(files, mappings, cards, total_bad)
