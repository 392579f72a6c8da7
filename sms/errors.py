"""Typed SMS and one-time-code errors, each with a message a customer can read, in ru and en.

None of them says whether a phone belongs to a customer: the cabinet answers "code sent" or one of
these the same way for every phone. ``http_status`` is what the web layer answers with;
``retry_after`` (seconds), when set, goes into a ``Retry-After`` header.
"""

from __future__ import annotations

from typing import ClassVar

from bonusbridge.errors import BonusBridgeError

LOCALES = ("ru", "en")


class SmsError(BonusBridgeError):
    """Base of the errors a customer may see while proving a phone or receiving SMS."""

    code = "sms_error"
    http_status = 400
    messages: ClassVar[dict[str, str]] = {
        "ru": "Не удалось отправить СМС. Попробуйте позже.",
        "en": "We could not send the SMS. Please try again later.",
    }

    def __init__(self, detail: str | None = None, *, retry_after: int | None = None) -> None:
        super().__init__(detail or self.messages["en"])
        self.retry_after = retry_after

    def user_message(self, locale: str = "ru") -> str:
        text = self.messages.get(locale, self.messages["ru"])
        if self.retry_after is not None and "{seconds}" in text:
            return text.format(seconds=self.retry_after)
        return text.replace(" {seconds}", "").replace("{seconds}", "")


class InvalidPhone(SmsError):
    code = "invalid_phone"
    messages: ClassVar[dict[str, str]] = {
        "ru": "Проверьте номер телефона: в нём ошибка.",
        "en": "Please check the phone number: it is not valid.",
    }


class NotMobilePhone(SmsError):
    code = "not_mobile"
    messages: ClassVar[dict[str, str]] = {
        "ru": "На этот номер нельзя отправить СМС: укажите мобильный телефон.",
        "en": "This number cannot receive SMS: please give a mobile number.",
    }


class LandlinePhone(NotMobilePhone):
    code = "landline_phone"
    messages: ClassVar[dict[str, str]] = {
        "ru": "Это городской номер: укажите мобильный телефон.",
        "en": "This is a landline number: please give a mobile number.",
    }


class TollFreePhone(NotMobilePhone):
    code = "toll_free_phone"
    messages: ClassVar[dict[str, str]] = {
        "ru": "Это бесплатный номер для звонков: укажите мобильный телефон.",
        "en": "This is a toll-free number: please give a mobile number.",
    }


class UnsupportedCountry(SmsError):
    code = "unsupported_country"
    messages: ClassVar[dict[str, str]] = {
        "ru": "Мы не отправляем СМС на номера этой страны.",
        "en": "We do not send SMS to numbers of this country.",
    }


class CodeExpired(SmsError):
    code = "code_expired"
    http_status = 410
    messages: ClassVar[dict[str, str]] = {
        "ru": "Срок действия кода истёк. Запросите новый код.",
        "en": "The code has expired. Please ask for a new one.",
    }


class WrongCode(SmsError):
    code = "wrong_code"
    messages: ClassVar[dict[str, str]] = {
        "ru": "Неверный код. Проверьте СМС и попробуйте ещё раз.",
        "en": "Wrong code. Please check the SMS and try again.",
    }

    def __init__(self, detail: str | None = None, *, attempts_left: int = 0) -> None:
        super().__init__(detail)
        self.attempts_left = attempts_left


class TooManyAttempts(SmsError):
    code = "too_many_attempts"
    http_status = 429
    messages: ClassVar[dict[str, str]] = {
        "ru": "Слишком много неверных попыток. Запросите новый код позже.",
        "en": "Too many wrong attempts. Please ask for a new code later.",
    }


class TooManySends(SmsError):
    code = "too_many_sends"
    http_status = 429
    messages: ClassVar[dict[str, str]] = {
        "ru": "Слишком много запросов кода. Попробуйте снова через {seconds} с.",
        "en": "Too many codes requested. Please try again in {seconds} s.",
    }


class ResendTooSoon(TooManySends):
    code = "resend_too_soon"
    messages: ClassVar[dict[str, str]] = {
        "ru": "Новый код можно запросить через {seconds} с.",
        "en": "You can ask for a new code in {seconds} s.",
    }


class SendingSuspended(SmsError):
    """The global hourly cap was reached (SMS pumping suspected): nobody gets a code for a while."""

    code = "sending_suspended"
    http_status = 503
    messages: ClassVar[dict[str, str]] = {
        "ru": "Отправка СМС временно приостановлена. Попробуйте позже.",
        "en": "Sending SMS is paused for a while. Please try again later.",
    }
