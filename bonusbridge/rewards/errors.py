"""Typed refusals of the rewards shop, each with a message for the member (or staff) in ru and en.

A refusal writes nothing: every operation validates and reserves inside one transaction, and a
refusal raised anywhere in it rolls the whole transaction back (holds, stock, codes, order rows).
``http_status`` is what the API and the pages answer with.
"""

from __future__ import annotations

from typing import Any, ClassVar

from bonusbridge.errors import BonusBridgeError


class RewardsError(BonusBridgeError):
    code = "rewards_error"
    http_status = 409
    messages: ClassVar[dict[str, str]] = {"ru": "Операция невозможна.", "en": "The operation is refused."}

    def __init__(self, **params: Any) -> None:
        self.params = params
        super().__init__(self.user_message("en"))

    def user_message(self, locale: str = "ru") -> str:
        text = self.messages.get(locale, self.messages["en"])
        return text.format(**self.params)


class UnknownReward(RewardsError):
    code = "unknown_reward"
    http_status = 404
    messages: ClassVar[dict[str, str]] = {"ru": "Такого подарка нет.", "en": "No such reward."}


class RewardNotVisible(RewardsError):
    code = "reward_not_visible"
    http_status = 409
    messages: ClassVar[dict[str, str]] = {
        "ru": "«{name}» больше не показывается в каталоге.",
        "en": "“{name}” is no longer shown in the catalog.",
    }


class RewardNotActive(RewardsError):
    code = "reward_not_active"
    http_status = 409
    messages: ClassVar[dict[str, str]] = {
        "ru": "«{name}» сейчас нельзя заказать.",
        "en": "“{name}” cannot be ordered at the moment.",
    }


class OutOfStock(RewardsError):
    code = "out_of_stock"
    http_status = 409
    messages: ClassVar[dict[str, str]] = {
        "ru": "«{name}»: осталось {left} шт., заказано {wanted}.",
        "en": "“{name}”: {left} left, {wanted} ordered.",
    }


class MemberLimitReached(RewardsError):
    code = "member_limit_reached"
    http_status = 409
    messages: ClassVar[dict[str, str]] = {
        "ru": "«{name}»: не больше {limit} шт. на участника, вы уже заказали {already}.",
        "en": "“{name}”: at most {limit} per member, you already ordered {already}.",
    }


class GlobalLimitReached(RewardsError):
    code = "global_limit_reached"
    http_status = 409
    messages: ClassVar[dict[str, str]] = {
        "ru": "«{name}»: все подарки этой акции уже разобраны.",
        "en": "“{name}”: every unit of this offer is taken.",
    }


class NotEligible(RewardsError):
    """Gating: ``reason`` is one of below_tier, below_balance, below_lifetime, country, language."""

    code = "not_eligible"
    http_status = 409
    messages: ClassVar[dict[str, str]] = {
        "ru": "«{name}» вам пока недоступен: {why_ru}.",
        "en": "“{name}” is not available to you yet: {why_en}.",
    }


class PriceChanged(RewardsError):
    code = "price_changed"
    http_status = 409
    messages: ClassVar[dict[str, str]] = {
        "ru": "Цена «{name}» изменилась: теперь {points} баллов{cash_ru}. "
        "Проверьте корзину и подтвердите снова.",
        "en": "The price of “{name}” changed: now {points} points{cash_en}. "
        "Check the cart and confirm again.",
    }


class EmptyCart(RewardsError):
    code = "empty_cart"
    http_status = 422
    messages: ClassVar[dict[str, str]] = {"ru": "Корзина пуста.", "en": "The cart is empty."}


class CartTooLarge(RewardsError):
    code = "cart_too_large"
    http_status = 422
    messages: ClassVar[dict[str, str]] = {
        "ru": "В корзине может быть не больше {lines} позиций и {quantity} шт. каждой.",
        "en": "A cart holds at most {lines} lines and {quantity} of each.",
    }


class NoCardToPay(RewardsError):
    code = "no_card"
    http_status = 409
    messages: ClassVar[dict[str, str]] = {
        "ru": "У вас нет активной карты, с которой можно списать баллы.",
        "en": "You have no active card to pay with points.",
    }


class NotEnoughPoints(RewardsError):
    code = "insufficient_balance"
    http_status = 409
    messages: ClassVar[dict[str, str]] = {
        "ru": "Не хватает баллов: нужно {needed}, доступно {available}.",
        "en": "Not enough points: {needed} needed, {available} available.",
    }


class CardCannotSpend(RewardsError):
    code = "card_cannot_spend"
    http_status = 409
    messages: ClassVar[dict[str, str]] = {
        "ru": "С карты сейчас нельзя списывать баллы (заполните профиль или обратитесь в поддержку).",
        "en": "The card cannot spend points now (complete your profile or contact support).",
    }


class UnknownRewardOrder(RewardsError):
    code = "unknown_reward_order"
    http_status = 404
    messages: ClassVar[dict[str, str]] = {"ru": "Такого заказа нет.", "en": "No such order."}


class OrderNotCancellable(RewardsError):
    code = "order_not_cancellable"
    http_status = 409
    messages: ClassVar[dict[str, str]] = {
        "ru": "Заказ уже {state_ru}: отменить его нельзя.",
        "en": "The order is already {state_en}: it cannot be cancelled.",
    }


class UnpaidCashPart(RewardsError):
    code = "unpaid_cash_part"
    http_status = 409
    messages: ClassVar[dict[str, str]] = {
        "ru": "Доплата {cash} по счёту {invoice} ещё не оплачена: "
        "заказ будет передан поставщику после оплаты.",
        "en": "The cash part {cash} of invoice {invoice} is not paid yet: "
        "the order goes to the supplier once paid.",
    }


class OrderNotPayable(RewardsError):
    code = "order_not_payable"
    http_status = 409
    messages: ClassVar[dict[str, str]] = {
        "ru": "Этот заказ не ждёт оплаты.",
        "en": "This order is not awaiting payment.",
    }


class InvalidReward(RewardsError):
    """A staff form or upload refused; ``field`` names the field."""

    code = "invalid_reward"
    http_status = 422
    messages: ClassVar[dict[str, str]] = {"ru": "{field}: {ru}", "en": "{field}: {en}"}


class DuplicateVoucherCodes(RewardsError):
    code = "duplicate_voucher_codes"
    http_status = 422
    messages: ClassVar[dict[str, str]] = {
        "ru": "Файл кодов отклонён, ничего не загружено: повторяются коды в строках {lines}.",
        "en": "The code file is refused, nothing was loaded: codes repeat on lines {lines}.",
    }


class StaleReward(RewardsError):
    code = "stale_reward"
    http_status = 409
    messages: ClassVar[dict[str, str]] = {
        "ru": "Подарок изменили, пока вы его редактировали: откройте его снова.",
        "en": "The reward was changed while you edited it: open it again.",
    }


class NotYourOrder(RewardsError):
    code = "not_your_order"
    http_status = 404
    messages: ClassVar[dict[str, str]] = {"ru": "Такого заказа нет.", "en": "No such order."}


class LinkExpired(RewardsError):
    code = "link_expired"
    http_status = 403
    messages: ClassVar[dict[str, str]] = {
        "ru": "Ссылка устарела или неверна: запросите новую.",
        "en": "The link has expired or is not valid: ask for a new one.",
    }


class SuggestionTooLarge(RewardsError):
    code = "suggestion_too_large"
    http_status = 422
    messages: ClassVar[dict[str, str]] = {
        "ru": "Корзина слишком разнообразна для точного подбора: уберите часть позиций.",
        "en": "The cart is too varied for an exact suggestion: remove some lines.",
    }


#: The gating reasons' words.
WHY = {
    "below_tier": ("нужен статус «{value}» или выше", "tier “{value}” or higher is required"),
    "below_balance": (
        "нужно не меньше {value} баллов на счёте",
        "a balance of at least {value} points is required",
    ),
    "below_lifetime": (
        "нужно накопить за всё время не меньше {value} баллов",
        "at least {value} points earned in total are required",
    ),
    "country": ("недоступен в вашей стране", "not offered in your country"),
    "language": ("недоступен на вашем языке", "not offered in your language"),
}

STATE_WORDS = {
    "awaiting_payment": ("ожидает оплаты", "awaiting payment"),
    "paid": ("оплачен", "paid"),
    "fulfilled": ("выполнен", "fulfilled"),
    "cancelled": ("отменён", "cancelled"),
}


def not_eligible(name: str, reason: str, value: str = "") -> NotEligible:
    ru, en = WHY[reason]
    error = NotEligible(name=name, why_ru=ru.format(value=value), why_en=en.format(value=value))
    error.reason = reason  # type: ignore[attr-defined]
    return error
