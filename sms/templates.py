"""The texts of the SMS the chain sends, in ru and en, and which rules each one obeys.

A template's ``kind`` decides consent and quiet hours: a one-time code goes out at once; a
transactional notice (points accrued, cards merged: facts about the customer's own account) needs
no marketing consent but waits for the morning; a marketing reminder (points expiring, profile to
fill) needs the customer's marketing consent too.

Amounts and dates arrive formatted in the customer's language (``sms.notifications``: Babel, as the
cabinet's pages), so the texts put a figure after a colon instead of agreeing a noun with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sms.outbox import SmsKind


@dataclass(frozen=True)
class Template:
    name: str
    kind: SmsKind
    texts: dict[str, str]

    def render(self, locale: str, **params: Any) -> str:
        """The text in ``locale`` (ru when the locale has no text), placeholders filled."""
        return self.texts.get(locale, self.texts["ru"]).format(**params)


TEMPLATES = {
    template.name: template
    for template in (
        Template(
            "otp_code",
            SmsKind.OTP,
            {
                "ru": "Код для входа в личный кабинет: {code}. Никому его не сообщайте.",
                "en": "Your personal cabinet code: {code}. Do not share it with anyone.",
            },
        ),
        Template(
            "points_accrued",
            SmsKind.TRANSACTIONAL,
            {
                "ru": "На карту {card} начислено бонусов: {amount}. Баланс: {balance}.",
                "en": "{amount} bonus points added to card {card}. Balance: {balance}.",
            },
        ),
        Template(
            "cards_merged",
            SmsKind.TRANSACTIONAL,
            {
                "ru": "Бонусы с карты {merged} ({amount}) перенесены на карту {card}, карта {merged} "
                "заблокирована.",
                "en": "Bonus points of card {merged} ({amount}) moved to card {card}; card {merged} "
                "is blocked.",
            },
        ),
        Template(
            # The migration's announcement (``bonusbridge migrate notify``): a service message about
            # the card's terms, sent to unverified legacy phones too, so it names no card or balance.
            "program_announcement",
            SmsKind.TRANSACTIONAL,
            {
                "ru": "Добрострой: скидки по картам заменяются бонусами. Подтвердите телефон и заполните "
                "анкету в личном кабинете на сайте, чтобы тратить баллы; до этого они только копятся.",
                "en": "Dobrostroy: card discounts are replaced by bonus points. Verify your phone and fill "
                "in your profile in the personal cabinet on the website to spend them; until then they "
                "only accrue.",
            },
        ),
        Template(
            # The program's periodic reminder (seed 003): usable points and what expires first.
            "points_reminder",
            SmsKind.MARKETING,
            {
                "ru": "На карте {card} бонусов: {usable}, из них {amount} сгорят {date}. Потратьте их при "
                "следующей покупке!",
                "en": "Card {card} holds {usable} bonus points; {amount} of them expire on {date}. Spend "
                "them on your next purchase!",
            },
        ),
        Template(
            "points_expiring",
            SmsKind.MARKETING,
            {
                "ru": "{date} на карте {card} сгорят бонусы: {amount}. Успейте потратить!",
                "en": "{amount} bonus points on card {card} expire on {date}. Spend them in time!",
            },
        ),
        Template(
            "fill_profile",
            SmsKind.MARKETING,
            {
                "ru": "На карте {card} бонусов: {balance}. Заполните анкету в личном кабинете, чтобы ими "
                "расплачиваться.",
                "en": "Card {card} holds {balance} bonus points. Fill in your profile in the personal "
                "cabinet to spend them.",
            },
        ),
    )
}
