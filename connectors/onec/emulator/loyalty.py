"""The loyalty operations of the emulated base, once, for both its SOAP web service and HTTP service.

A real project writes these in a 1C common module (``ЛояльностьСервер``) that the web service and the
HTTP service both call; this is that module. Everything goes through the emulator's store, so what
the services do is visible over OData the same way as a 1C user's work:

- ``find_cards_by_phone``: partners whose phone (any ``Телефон`` row of ``КонтактнаяИнформация``:
  ``Представление``, ``НомерТелефона`` or ``Значение``) matches on the last 10 digits (an extension
  after "доб."/"ext" is ignored), then their cards. Fewer than 10 digits is an error.
- ``card_balance``: ``AccumulationRegister_БонусныеБаллы`` balance now — per card in Retail, per
  partner in УТ 11 (there a card shows its partner's balance).
- ``post_bonus_movement``: creates and posts ``Document_НачислениеИСписаниеБонусныхБаллов`` (a
  positive amount is ``Начисление``, a negative one ``Списание``). Idempotent by ``external_id``: the
  id is kept in the document's ``Комментарий`` (last line ``ВнешнийИдентификатор: <id>``) and a second
  call with the same id returns the first document and writes nothing (``created=False``). The same id
  with another card or amount is refused (``Conflict``). This dedupe is on the 1C side, as a real
  service must do it: the caller's retry after a lost answer must not credit twice.
- ``post_receipt``: what a till does when it sells to a card holder: creates and posts
  ``Document_ЧекККМ`` (Retail: the card; УТ 11: the card and its partner) with an accrual row and/or
  a redemption row in ``БонусныеБаллы`` (zero amounts are left out). Redeeming more than the balance
  is refused (``InsufficientBonuses``), a blocked card is refused whole (``CardBlocked``), and a card
  that may only accumulate (``ТолькоНакопление``, the chain's extension in both configurations)
  refuses redemption (``RedemptionNotAllowed``). The till is not the website: the receipt is written
  with no exchange-plan origin, so it is registered for the website node. Costs a handful of keyed
  lookups whatever the base holds (the card by Ref_Key or indexed number, the balance from the
  register's totals).
- ``block_card``: sets ``Статус = НеДействует`` (standard in УТ 11; in Retail the chain's extension,
  see mapping/profiles/README.md). A deletion-marked card also counts as blocked. Blocking twice is
  not an error. The reason is not stored (neither card catalog has a field for it).
- ``get_partner`` / ``update_partner``: name (``Description``), full name, phone, e-mail and birth
  date; phone and e-mail update the first contact-information row of that type (or add one).

Errors are ``LoyaltyError`` with a stable ``code`` and 1C-style Russian text; each service renders
them in its own way (a SOAP fault, a JSON body).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from . import registers
from .objects import ObjectWriter
from .odata.errors import ODataError
from .odata.values import now_1c, parse_guid
from .schema import EMPTY_DATE, EMPTY_REF, Config
from .store import Document, Store, Tx

MOVEMENT_DOC = "Document_НачислениеИСписаниеБонусныхБаллов"
RECEIPT_DOC = "Document_ЧекККМ"
#: ``КассаККМ`` of a receipt whose caller did not name the till.
DEFAULT_TILL = "Касса 1"
REGISTER = "AccumulationRegister_БонусныеБаллы"
PARTNERS = "Catalog_Партнеры"
EXTERNAL_ID_LABEL = "ВнешнийИдентификатор: "
STATUS_ACTIVE = "Действует"
STATUS_BLOCKED = "НеДействует"
STATUS_ACCUMULATE_ONLY = "ТолькоНакопление"
ACCRUAL = "Начисление"
REDEMPTION = "Списание"

_EXTENSION = re.compile(r"(доб|ext|#).*$", re.IGNORECASE)

#: LoyaltyError code → HTTP status of the HTTP service.
STATUS_OF = {
    "InvalidArgument": 400,
    "InsufficientBonuses": 400,
    "CardBlocked": 400,
    "RedemptionNotAllowed": 400,
    "NotFound": 404,
    "AccessDenied": 403,
    "Conflict": 409,
}


class LoyaltyError(Exception):
    """A refusal of the loyalty module; ``message`` is what 1C's ``ВызватьИсключение`` would say."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def status(self) -> int:
        return STATUS_OF.get(self.code, 500)


@dataclass(frozen=True)
class Card:
    ref: str
    number: str
    kind: str
    status: str
    owner: str
    owner_name: str
    accrued: Decimal
    to_write_off: Decimal

    def as_json(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "number": self.number,
            "kind": self.kind,
            "status": self.status,
            "owner": self.owner,
            "ownerName": self.owner_name,
            "balance": str(self.accrued),
        }


@dataclass(frozen=True)
class Balance:
    card_number: str
    accrued: Decimal
    to_write_off: Decimal

    def as_json(self) -> dict[str, Any]:
        return {
            "cardNumber": self.card_number,
            "accrued": str(self.accrued),
            "toWriteOff": str(self.to_write_off),
        }


@dataclass(frozen=True)
class Movement:
    ref: str
    number: str
    date: str
    external_id: str
    created: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "number": self.number,
            "date": self.date,
            "externalId": self.external_id,
            "created": self.created,
        }


@dataclass(frozen=True)
class Receipt:
    """A posted till receipt and the card's balance after it."""

    ref: str
    number: str
    date: str
    card_ref: str
    card_number: str
    amount: Decimal
    accrued: Decimal
    redeemed: Decimal
    balance: Decimal

    def as_json(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "number": self.number,
            "date": self.date,
            "card": self.card_number,
            "cardRef": self.card_ref,
            "amount": str(self.amount),
            "accrued": str(self.accrued),
            "redeemed": str(self.redeemed),
            "balance": str(self.balance),
        }


@dataclass(frozen=True)
class Partner:
    ref: str
    code: str
    name: str
    full_name: str
    phone: str
    email: str
    birth_date: str | None  # YYYY-MM-DD

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        return {
            "ref": data["ref"],
            "code": data["code"],
            "name": data["name"],
            "fullName": data["full_name"],
            "phone": data["phone"],
            "email": data["email"],
            "birthDate": data["birth_date"],
        }


#: Fields ``update_partner`` accepts (JSON / SOAP names).
PARTNER_FIELDS = ("name", "fullName", "phone", "email", "birthDate")


def phone_key(text: str) -> str:
    """The last 10 digits of a phone, extension dropped; '' when fewer than 10 digits remain."""
    digits = "".join(ch for ch in _EXTENSION.sub("", text) if ch.isdigit())
    return digits[-10:] if len(digits) >= 10 else ""


def _decimal(value: Any, name: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise LoyaltyError("InvalidArgument", f"Неверное значение параметра {name}") from None
    if not number.is_finite():
        raise LoyaltyError("InvalidArgument", f"Неверное значение параметра {name}")
    return number


_MAX_AMOUNT = Decimal("9999999999999.99")  # Decimal(15,2)


def _points(value: Any, name: str) -> Decimal:
    """A non-negative amount with at most two decimals (``Decimal(15,2)``)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise LoyaltyError("InvalidArgument", f"Неверное значение параметра {name}")
    number = _decimal(value, name)
    if number < 0 or number > _MAX_AMOUNT:
        raise LoyaltyError("InvalidArgument", f"Неверное значение параметра {name}: {number}")
    if number != number.quantize(Decimal("0.01")):
        raise LoyaltyError("InvalidArgument", f"Параметр {name}: не больше двух знаков после запятой")
    return number.quantize(Decimal("0.01"))


class LoyaltyService:
    """The operations over one emulated base (its configuration decides per-card or per-partner)."""

    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store
        self.writer = ObjectWriter(config)
        register = config.registers[REGISTER]
        self.per_card = "ДисконтнаяКарта_Key" in register.dimensions
        self.cards_set = "Catalog_ИнформационныеКарты" if self.per_card else "Catalog_КартыЛояльности"
        self.kinds_set = "Catalog_ВидыИнформационныхКарт" if self.per_card else "Catalog_ВидыКартЛояльности"

    # --- cards -------------------------------------------------------------------------------------
    def _owner(self, card: Document) -> str:
        return str(card.get("ВладелецКарты") if self.per_card else card.get("Партнер_Key")) or EMPTY_REF

    def _kind_ref(self, card: Document) -> str:
        return str(card.get("ВидКарты_Key") if self.per_card else card.get("Owner_Key")) or EMPTY_REF

    def _status(self, card: Document) -> str:
        if card.get("DeletionMark") or card.get("Статус") == STATUS_BLOCKED:
            return STATUS_BLOCKED
        return str(card.get("Статус") or STATUS_ACTIVE)

    @staticmethod
    def _number(card: Document) -> str:
        return str(card.get("Штрихкод") or card.get("Description") or "")

    def _find_card(self, tx: Tx, number: str) -> Document:
        """The card with this barcode, name or magnetic code (indexed lookups, not a scan)."""
        number = (number or "").strip()
        if not number:
            raise LoyaltyError("InvalidArgument", "Не указан номер карты")
        for field_name in ("Штрихкод", "Description", "МагнитныйКод"):
            found = tx.find(self.cards_set, field_name, number)
            if found:
                return found[0]
        raise LoyaltyError("NotFound", f"Карта лояльности с номером {number} не найдена")

    def _card_by_ref_or_number(self, tx: Tx, card: str) -> Document:
        """A card named by its Ref_Key (one keyed read) or, failing that, by its number."""
        if not isinstance(card, str):
            raise LoyaltyError("InvalidArgument", "Не указана карта")
        guid = parse_guid(card.strip())
        if guid is not None:
            found = tx.get(self.cards_set, guid)
            if found is not None:
                return found
        return self._find_card(tx, card)

    def _balance(self, tx: Tx, card: Document) -> tuple[Decimal, Decimal]:
        """The balance now, from the register's current totals of the card (Retail) or its
        partner (УТ 11) — every program together, as before."""
        if self.per_card:
            dim, key = "ДисконтнаяКарта_Key", card["Ref_Key"]
        else:
            dim, key = "Партнер_Key", self._owner(card)
        sums = tx.totals(REGISTER, dim, key)
        accrued = sums.get("Начислено", Decimal(0))
        to_write_off = sums.get("КСписанию", Decimal(0))
        # a balance that came back to zero reads as 0, like one that never moved
        return accrued or Decimal(0), to_write_off or Decimal(0)

    def _card(self, tx: Tx, card: Document) -> Card:
        kind = tx.get(self.kinds_set, self._kind_ref(card)) or {}
        owner = self._owner(card)
        partner = tx.get(PARTNERS, owner) or {}
        accrued, to_write_off = self._balance(tx, card)
        return Card(
            ref=card["Ref_Key"],
            number=self._number(card),
            kind=str(kind.get("Description", "")),
            status=self._status(card),
            owner=owner,
            owner_name=str(partner.get("Description", "")),
            accrued=accrued,
            to_write_off=to_write_off,
        )

    def find_cards_by_phone(self, phone: str) -> list[Card]:
        key = phone_key(phone or "")
        if not key:
            raise LoyaltyError("InvalidArgument", "Неверный номер телефона: нужно не меньше 10 цифр")
        with self.store.begin() as tx:
            owners = {
                p["Ref_Key"]
                for p in tx.all(PARTNERS)
                if not p.get("DeletionMark") and key in self._phones_of(p)
            }
            return [self._card(tx, c) for c in tx.all(self.cards_set) if self._owner(c) in owners]

    @staticmethod
    def _phones_of(partner: Document) -> set[str]:
        keys: set[str] = set()
        for row in partner.get("КонтактнаяИнформация") or []:
            if row.get("Тип") != "Телефон":
                continue
            for name in ("Представление", "НомерТелефона", "Значение"):
                found = phone_key(str(row.get(name) or ""))
                if found:
                    keys.add(found)
        return keys

    def card_balance(self, number: str) -> Balance:
        with self.store.begin() as tx:
            card = self._find_card(tx, number)
            accrued, to_write_off = self._balance(tx, card)
            return Balance(self._number(card), accrued, to_write_off)

    def block_card(self, number: str, reason: str, *, origin_node: str | None, read_only: bool) -> Card:
        self._check_write(read_only)
        with self.store.begin(origin_node) as tx:
            card = self._find_card(tx, number)
            if self._status(card) != STATUS_BLOCKED:
                card = tx.replace(self.cards_set, {**card, "Статус": STATUS_BLOCKED})
            return self._card(tx, card)

    # --- movements ---------------------------------------------------------------------------------
    def post_bonus_movement(
        self,
        number: str,
        amount: Any,
        external_id: str,
        comment: str = "",
        *,
        origin_node: str | None,
        read_only: bool,
    ) -> Movement:
        self._check_write(read_only)
        value = _decimal(amount, "amount")
        external_id = (external_id or "").strip()
        if not external_id:
            raise LoyaltyError("InvalidArgument", "Не указан внешний идентификатор операции")
        if "\n" in external_id or len(external_id) > 100:
            raise LoyaltyError("InvalidArgument", "Неверный внешний идентификатор операции")
        if value == 0:
            raise LoyaltyError("InvalidArgument", "Сумма бонусных баллов не может быть нулевой")
        if value != value.quantize(Decimal("0.01")):
            raise LoyaltyError(
                "InvalidArgument", "Сумма бонусных баллов: не больше двух знаков после запятой"
            )
        eset = self.config.entity_sets[MOVEMENT_DOC]
        with self.store.begin(origin_node) as tx:
            card = self._find_card(tx, number)
            existing = self._by_external_id(tx, external_id)
            if existing is not None:
                if not self._same_movement(existing, card, value):
                    raise LoyaltyError(
                        "Conflict",
                        f"Внешний идентификатор {external_id} уже использован для другой операции "
                        f"(документ {existing.get('Number', '')})",
                    )
                return self._movement(existing, external_id, created=False)
            if self._status(card) == STATUS_BLOCKED:
                raise LoyaltyError("CardBlocked", f"Карта {self._number(card)} заблокирована")
            if value < 0:
                accrued, _ = self._balance(tx, card)
                if accrued < -value:
                    raise LoyaltyError(
                        "InsufficientBonuses", f"Недостаточно бонусных баллов: доступно {accrued}"
                    )
            kind = tx.get(self.kinds_set, self._kind_ref(card)) or {}
            row: Document = {"LineNumber": 1, "СуммаБонусныхБаллов": str(abs(value))}
            if self.per_card:
                row["ДисконтнаяКарта_Key"] = card["Ref_Key"]
            else:
                row["Партнер_Key"] = self._owner(card)
            text = (comment or "").strip()
            body: Document = {
                "Date": now_1c(),
                "ВидОперации": "Начисление" if value > 0 else "Списание",
                "БонуснаяПрограммаЛояльности_Key": kind.get("БонуснаяПрограммаЛояльности_Key") or EMPTY_REF,
                "Комментарий": f"{text}\n{EXTERNAL_ID_LABEL}{external_id}"
                if text
                else EXTERNAL_ID_LABEL + external_id,
                "Начисление": [row],
            }
            try:
                doc = tx.insert(eset.name, self.writer.new(tx, eset, body))
            except ODataError as exc:
                raise LoyaltyError("InvalidArgument", exc.message) from None
            doc = registers.post(tx, self.config, eset, doc)
            return self._movement(doc, external_id, created=True)

    # --- till receipts -----------------------------------------------------------------------------
    def post_receipt(
        self,
        card_ref: str,
        accrued: Any,
        redeemed: Any,
        amount: Any = 0,
        program_ref: str | None = None,
        register: str = DEFAULT_TILL,
        comment: str = "",
        *,
        origin_node: str | None = None,
        read_only: bool = False,
    ) -> Receipt:
        """A till sells to a card holder: create and post ``Document_ЧекККМ`` in one write.

        ``card_ref``: the card's Ref_Key or number. ``accrued`` / ``redeemed``: points (≥ 0, two
        decimals; a zero one writes no row). ``amount``: the receipt's sum. ``program_ref``: the
        bonus program (default: the card kind's). ``register``: the till (``КассаККМ``).
        ``origin_node`` stays None for a till: its receipts are registered for every other node."""
        self._check_write(read_only)
        accrue = _points(accrued, "accrued")
        redeem = _points(redeemed, "redeemed")
        total = _points(amount, "amount")
        program: str | None = None
        if program_ref not in (None, ""):
            program = parse_guid(str(program_ref).strip())
            if program is None:
                raise LoyaltyError("InvalidArgument", f"Неверный идентификатор программы: {program_ref}")
        if not isinstance(register, str) or not isinstance(comment, str):
            raise LoyaltyError("InvalidArgument", "Неверное значение параметра register или comment")
        eset = self.config.entity_sets[RECEIPT_DOC]
        with self.store.begin(origin_node) as tx:
            card = self._card_by_ref_or_number(tx, card_ref)
            status = self._status(card)
            if status == STATUS_BLOCKED:
                raise LoyaltyError("CardBlocked", f"Карта {self._number(card)} заблокирована")
            if redeem and status == STATUS_ACCUMULATE_ONLY:
                raise LoyaltyError(
                    "RedemptionNotAllowed",
                    f"Карта {self._number(card)}: списание бонусных баллов не разрешено (только накопление)",
                )
            header: Document
            if self.per_card:
                header = {"ДисконтнаяКарта_Key": card["Ref_Key"]}
            else:
                partner = self._owner(card)
                if partner == EMPTY_REF:
                    raise LoyaltyError(
                        "InvalidArgument", f"Карта {self._number(card)} не привязана к партнеру"
                    )
                header = {"КартаЛояльности_Key": card["Ref_Key"], "Партнер_Key": partner}
            balance, _ = self._balance(tx, card)
            if redeem > balance:
                raise LoyaltyError("InsufficientBonuses", f"Недостаточно бонусных баллов: доступно {balance}")
            if program is None:
                kind = tx.get(self.kinds_set, self._kind_ref(card)) or {}
                program = str(kind.get("БонуснаяПрограммаЛояльности_Key") or EMPTY_REF)
            rows = [
                {
                    "ВидОперации": operation,
                    "БонуснаяПрограммаЛояльности_Key": program,
                    "СуммаБонусныхБаллов": str(points),
                }
                for operation, points in ((ACCRUAL, accrue), (REDEMPTION, redeem))
                if points
            ]
            till = eset.fields["КассаККМ"].max_length
            values: Document = {
                **header,
                "СуммаДокумента": str(total),
                "КассаККМ": register[:till] if till else register,
                "Комментарий": comment,
                "БонусныеБаллы": rows,
            }
            doc = self.writer.new_from_values(tx, eset, values)  # values checked above, stored form
            doc = registers.post_new(tx, self.config, eset, doc)
            return Receipt(
                ref=doc["Ref_Key"],
                number=str(doc.get("Number", "")),
                date=str(doc.get("Date", "")),
                card_ref=card["Ref_Key"],
                card_number=self._number(card),
                amount=total,
                accrued=accrue,
                redeemed=redeem,
                balance=balance + accrue - redeem,
            )

    @staticmethod
    def _external_id(doc: Document) -> str | None:
        last = str(doc.get("Комментарий") or "").rsplit("\n", 1)[-1]
        return last[len(EXTERNAL_ID_LABEL) :] if last.startswith(EXTERNAL_ID_LABEL) else None

    def _by_external_id(self, tx: Tx, external_id: str) -> Document | None:
        return next((d for d in tx.all(MOVEMENT_DOC) if self._external_id(d) == external_id), None)

    def _same_movement(self, doc: Document, card: Document, value: Decimal) -> bool:
        rows = doc.get("Начисление") or []
        if len(rows) != 1:
            return False
        row = rows[0]
        target = row.get("ДисконтнаяКарта_Key") if self.per_card else row.get("Партнер_Key")
        expected = card["Ref_Key"] if self.per_card else self._owner(card)
        sign = 1 if doc.get("ВидОперации") == "Начисление" else -1
        return bool(target == expected and sign * Decimal(str(row.get("СуммаБонусныхБаллов"))) == value)

    @staticmethod
    def _movement(doc: Document, external_id: str, *, created: bool) -> Movement:
        return Movement(
            doc["Ref_Key"], str(doc.get("Number", "")), str(doc.get("Date", "")), external_id, created
        )

    # --- partners ----------------------------------------------------------------------------------
    @staticmethod
    def _contact(partner: Document, kind: str) -> Document | None:
        return next((r for r in partner.get("КонтактнаяИнформация") or [] if r.get("Тип") == kind), None)

    def _partner(self, doc: Document) -> Partner:
        phone = self._contact(doc, "Телефон") or {}
        email = self._contact(doc, "АдресЭлектроннойПочты") or {}
        birth = str(doc.get("ДатаРождения") or EMPTY_DATE)
        return Partner(
            ref=doc["Ref_Key"],
            code=str(doc.get("Code", "")),
            name=str(doc.get("Description", "")),
            full_name=str(doc.get("НаименованиеПолное", "")),
            phone=str(phone.get("НомерТелефона") or phone.get("Представление") or ""),
            email=str(email.get("АдресЭП") or email.get("Представление") or "").strip(),
            birth_date=None if birth == EMPTY_DATE else birth[:10],
        )

    def _find_partner(self, tx: Tx, ref: str) -> Document:
        guid = parse_guid((ref or "").strip())
        if guid is None:
            raise LoyaltyError("InvalidArgument", f"Неверный идентификатор партнера: {ref}")
        doc = tx.get(PARTNERS, guid)
        if doc is None:
            raise LoyaltyError("NotFound", f"Партнер {guid} не найден")
        return doc

    def get_partner(self, ref: str) -> Partner:
        with self.store.begin() as tx:
            return self._partner(self._find_partner(tx, ref))

    def update_partner(
        self, ref: str, fields: dict[str, Any], *, origin_node: str | None, read_only: bool
    ) -> Partner:
        """Set the given fields (``PARTNER_FIELDS``); None or an absent key leaves a field as it is,
        an empty string clears it."""
        self._check_write(read_only)
        unknown = sorted(set(fields) - set(PARTNER_FIELDS))
        if unknown:
            raise LoyaltyError("InvalidArgument", f"Неизвестные поля партнера: {', '.join(unknown)}")
        values = {k: v for k, v in fields.items() if v is not None}
        for name, value in values.items():
            if not isinstance(value, str):
                raise LoyaltyError("InvalidArgument", f"Неверное значение поля {name}")
        with self.store.begin(origin_node) as tx:
            doc = self._find_partner(tx, ref)
            new = dict(doc)
            if "name" in values:
                if not values["name"].strip():
                    raise LoyaltyError("InvalidArgument", "Наименование партнера не может быть пустым")
                new["Description"] = values["name"].strip()[:100]
            if "fullName" in values:
                new["НаименованиеПолное"] = values["fullName"].strip()[:1024]
            if "birthDate" in values:
                new["ДатаРождения"] = self._birth_date(values["birthDate"])
            rows = [dict(r) for r in doc.get("КонтактнаяИнформация") or []]
            if "phone" in values:
                phone = values["phone"].strip()
                if phone and not phone_key(phone):
                    raise LoyaltyError("InvalidArgument", "Неверный номер телефона: нужно не меньше 10 цифр")
                rows = self._set_contact(rows, "Телефон", phone, {"НомерТелефона": phone[:20]})
            if "email" in values:
                email = values["email"].strip()
                if email and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
                    raise LoyaltyError("InvalidArgument", "Неверный адрес электронной почты")
                rows = self._set_contact(rows, "АдресЭлектроннойПочты", email, {"АдресЭП": email[:100]})
            new["КонтактнаяИнформация"] = rows
            if new != doc:
                new = tx.replace(PARTNERS, new)
            return self._partner(new)

    @staticmethod
    def _birth_date(text: str) -> str:
        text = text.strip()
        if not text:
            return EMPTY_DATE
        match = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})(?:T00:00:00)?", text)
        if not match or match.group(1) < "1900":
            raise LoyaltyError("InvalidArgument", "Неверная дата рождения")
        try:
            date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            raise LoyaltyError("InvalidArgument", "Неверная дата рождения") from None
        return f"{match.group(1)}-{match.group(2)}-{match.group(3)}T00:00:00"

    def _set_contact(self, rows: list[Document], kind: str, value: str, extra: Document) -> list[Document]:
        """Replace the first row of ``kind`` (or append one); an empty value removes that row."""
        index = next((i for i, r in enumerate(rows) if r.get("Тип") == kind), None)
        section = self.config.entity_sets[PARTNERS].sections["КонтактнаяИнформация"]
        if not value:
            if index is not None:
                del rows[index]
        else:
            base = rows[index] if index is not None else {name: f.empty() for name, f in section.items()}
            new = {**base, "Тип": kind, "Представление": value[:500], "Значение": "", **extra}
            if kind == "Телефон":
                new["НомерТелефонаБезКодов"] = ""
            if index is None:
                rows.append(new)
            else:
                rows[index] = new
        for number, row in enumerate(rows, start=1):
            row["LineNumber"] = number
        return rows

    @staticmethod
    def _check_write(read_only: bool) -> None:
        if read_only:
            raise LoyaltyError("AccessDenied", "Нарушение прав доступа!")
