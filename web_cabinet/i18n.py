"""The cabinet's two languages: choosing one per request and the texts of the pages.

A chosen language (the switcher's cookie) beats the browser's ``Accept-Language``; Russian is the
default, as for SMS. Texts live in one table rather than gettext catalogues: two languages and a
few dozen strings do not need a toolchain, and a missing translation fails a test, not a customer.
"""

from __future__ import annotations

from collections.abc import Callable

LOCALES = ("ru", "en")
DEFAULT_LOCALE = "ru"
LANG_COOKIE = "bb_lang"

Translate = Callable[[str], str]


def choose_locale(cookie: str | None, accept_language: str | None) -> str:
    """The switcher's choice, else the first of ours the browser prefers (by q), else Russian."""
    if cookie in LOCALES:
        return cookie
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        language = tag.strip().lower().split("-")[0]
        if language in LOCALES and quality > 0:
            ranked.append((-quality, position, language))
    return min(ranked)[2] if ranked else DEFAULT_LOCALE


def translator(locale: str) -> Translate:
    def translate(key: str) -> str:
        return TEXTS[key][locale]

    return translate


TEXTS: dict[str, dict[str, str]] = {
    # chrome
    "brand": {"ru": "Бонусы «Добрострой»", "en": "Dobrostroy bonuses"},
    "skip": {"ru": "Перейти к содержимому", "en": "Skip to content"},
    "language": {"ru": "Язык", "en": "Language"},
    "logout": {"ru": "Выйти", "en": "Log out"},
    "nav_home": {"ru": "Мои бонусы", "en": "My bonuses"},
    "nav_profile": {"ru": "Анкета", "en": "Profile"},
    "nav_add_card": {"ru": "Добавить карту", "en": "Add a card"},
    "nav_shop": {"ru": "Подарки", "en": "Rewards"},
    # login
    "login_title": {"ru": "Вход в личный кабинет", "en": "Log in to your account"},
    "login_intro": {
        "ru": "Введите номер мобильного телефона — мы отправим СМС с кодом.",
        "en": "Enter your mobile phone number and we will text you a code.",
    },
    "phone_label": {"ru": "Номер телефона", "en": "Phone number"},
    "phone_hint": {"ru": "Например, +7 916 123-45-67", "en": "For example, +7 916 123-45-67"},
    "send_code": {"ru": "Получить код", "en": "Send the code"},
    "code_title": {"ru": "Код из СМС", "en": "Code from the SMS"},
    "code_sent_to": {"ru": "Мы отправили код на номер", "en": "We sent a code to"},
    "code_label": {"ru": "Код из СМС (6 цифр)", "en": "Code from the SMS (6 digits)"},
    "verify_code": {"ru": "Войти", "en": "Log in"},
    "resend_code": {"ru": "Отправить код ещё раз", "en": "Send a new code"},
    "resend_wait": {
        "ru": "Новый код можно запросить через {seconds} с.",
        "en": "You can ask for a new code in {seconds} s.",
    },
    "code_resent": {"ru": "Мы отправили новый код.", "en": "We have sent a new code."},
    "change_phone": {"ru": "Указать другой номер", "en": "Use another number"},
    "attempts_left": {"ru": "Осталось попыток: {n}.", "en": "Attempts left: {n}."},
    "code_required": {"ru": "Введите код из СМС.", "en": "Please enter the code from the SMS."},
    "phone_required": {"ru": "Введите номер телефона.", "en": "Please enter your phone number."},
    "session_expired": {
        "ru": "Сеанс истёк. Войдите снова — ничего не изменилось.",
        "en": "Your session has expired. Please log in again; nothing was changed.",
    },
    "login_first": {"ru": "Сначала запросите код.", "en": "Please ask for a code first."},
    "logged_out": {"ru": "Вы вышли из кабинета.", "en": "You have logged out."},
    "form_expired_title": {"ru": "Форма устарела", "en": "This form has expired"},
    "form_expired": {
        "ru": "Форма устарела или отправлена не с нашего сайта. Обновите страницу и попробуйте ещё раз.",
        "en": "This form has expired or was not sent from our site. Please reload the page and try again.",
    },
    "back": {"ru": "Вернуться", "en": "Go back"},
    "not_found_title": {"ru": "Страница не найдена", "en": "Page not found"},
    "not_found": {"ru": "Такой страницы нет.", "en": "There is no such page."},
    # choosing the primary card
    "choose_title": {"ru": "Выберите основную карту", "en": "Choose your main card"},
    "choose_intro": {
        "ru": "К вашему номеру привязано несколько карт. Выберите основную: остальные будут "
        "заблокированы, а их бонусы перейдут на основную карту с прежними сроками сгорания.",
        "en": "Several cards carry your phone number. Choose the main one: the others will be "
        "blocked and their points moved to it, each keeping its expiry date.",
    },
    "confirm_single_intro": {
        "ru": "Мы нашли карту с вашим номером телефона. Подтвердите, что это ваша карта.",
        "en": "We found a card with your phone number. Please confirm it is yours.",
    },
    "program": {"ru": "Программа", "en": "Program"},
    "card_number": {"ru": "Номер карты", "en": "Card number"},
    "balance": {"ru": "Баланс", "en": "Balance"},
    "last_use": {"ru": "Последняя покупка", "en": "Last purchase"},
    "never": {"ru": "нет", "en": "never"},
    "confirm_primary": {"ru": "Сделать основной", "en": "Make it my main card"},
    "or_other_card": {
        "ru": "Моей карты здесь нет — ввести номер",
        "en": "My card is not here: enter its number",
    },
    "choose_a_card": {"ru": "Выберите одну из карт.", "en": "Please choose one of the cards."},
    "card_not_yours": {
        "ru": "Эту карту нельзя выбрать: выберите одну из карт в списке.",
        "en": "This card cannot be chosen: please choose one of the cards listed.",
    },
    "hold_pending": {
        "ru": "По одной из карт идёт оплата бонусами. Попробуйте через несколько минут.",
        "en": "A payment with points is in progress on one of the cards. Please try again in a few minutes.",
    },
    "primary_chosen": {
        "ru": "Основная карта выбрана. Перенесено бонусов: {points}.",
        "en": "Your main card is chosen. Points moved to it: {points}.",
    },
    # adding a card
    "add_title": {"ru": "Добавить карту", "en": "Add a card"},
    "add_intro": {
        "ru": "Введите номер карты и число бонусов, начисленных или списанных при одной из трёх "
        "последних покупок по ней (указано в чеке). Так мы убедимся, что карта ваша.",
        "en": "Enter the card number and the points earned or spent on one of its last three "
        "purchases (printed on the receipt). This shows us the card is yours.",
    },
    "card_number_hint": {
        "ru": "Цифры и буквы с карты, пробелы и дефисы можно не убирать.",
        "en": "The digits and letters on the card; spaces and dashes are fine.",
    },
    "receipt_points": {"ru": "Бонусы по чеку", "en": "Points on the receipt"},
    "receipt_points_hint": {"ru": "Например, 45,60", "en": "For example, 45.60"},
    "add_card": {"ru": "Добавить карту", "en": "Add the card"},
    "card_number_required": {"ru": "Введите номер карты.", "en": "Please enter the card number."},
    "points_invalid": {
        "ru": "Введите число бонусов больше нуля, не более двух знаков после запятой.",
        "en": "Please enter a number of points above zero with at most two decimals.",
    },
    "claim_mismatch": {
        "ru": "Номер карты или число бонусов не совпадают. Проверьте чек.",
        "en": "The card number or the points do not match. Please check the receipt.",
    },
    "claim_taken": {
        "ru": "Эта карта привязана к другому номеру телефона, её нельзя добавить в кабинете. "
        "Войдите с тем номером или обратитесь на сервисную стойку магазина.",
        "en": "This card belongs to another phone number and cannot be added here. Log in with that "
        "number or ask at a store's service desk.",
    },
    "claim_blocked": {
        "ru": "Эта карта заблокирована. Обратитесь на сервисную стойку магазина.",
        "en": "This card is blocked. Please ask at a store's service desk.",
    },
    "claim_limited": {
        "ru": "Слишком много неудачных попыток. Попробуйте через {hours} ч "
        "или обратитесь на сервисную стойку.",
        "en": "Too many failed attempts. Please try again in {hours} h or ask at a store's service desk.",
    },
    "claim_already_yours": {"ru": "Эта карта уже ваша.", "en": "This card is already yours."},
    "card_added": {"ru": "Карта добавлена.", "en": "The card has been added."},
    # profile
    "profile_title": {"ru": "Анкета", "en": "Your profile"},
    "profile_intro": {
        "ru": "Поля, отмеченные «нужно для списания», обязательны, чтобы тратить бонусы. "
        "Данные попадут и в магазины.",
        "en": "Fields marked \u201cneeded to spend points\u201d must be filled before you can spend "
        "points. The stores will see the same data.",
    },
    "needed": {"ru": "нужно для списания", "en": "needed to spend points"},
    "last_name": {"ru": "Фамилия", "en": "Last name"},
    "first_name": {"ru": "Имя", "en": "First name"},
    "middle_name": {"ru": "Отчество", "en": "Middle name"},
    "birth_date": {"ru": "Дата рождения", "en": "Date of birth"},
    "lost_to_onec": {
        "ru": "Ваше изменение не сохранилось: в магазине эти данные изменили позже. Проверьте и при "
        "необходимости исправьте:",
        "en": "Your change was not kept: the store changed these details later. Please check them and "
        "correct them if needed:",
    },
    "email": {"ru": "Эл. почта", "en": "E-mail"},
    "gender": {"ru": "Пол", "en": "Gender"},
    "gender_none": {"ru": "Не указан", "en": "Not given"},
    "gender_female": {"ru": "Женский", "en": "Female"},
    "gender_male": {"ru": "Мужской", "en": "Male"},
    "city": {"ru": "Город", "en": "City"},
    "marketing_consent": {
        "ru": "Согласен получать предложения по СМС",
        "en": "I agree to receive offers by SMS",
    },
    "save_profile": {"ru": "Сохранить", "en": "Save"},
    "profile_saved": {"ru": "Анкета сохранена.", "en": "Your profile has been saved."},
    "profile_saved_not_delivered": {
        "ru": "Анкета сохранена на сайте, но магазины пока не получили ваши изменения: мы уже "
        "разбираемся. В магазине до тех пор видны прежние данные.",
        "en": "Your profile is saved on the website, but our stores have not received the changes "
        "yet: we are looking into it. Until then the stores see your previous details.",
    },
    "profile_undelivered": {
        "ru": "Ваши последние изменения анкеты пока не дошли до магазинов: мы уже разбираемся.",
        "en": "Your latest profile changes have not reached our stores yet: we are looking into it.",
    },
    "name_invalid": {
        "ru": "Только буквы, пробел, дефис, апостроф и точка.",
        "en": "Letters, spaces, hyphens, apostrophes and dots only.",
    },
    "field_required": {"ru": "Это поле нельзя оставить пустым.", "en": "This field cannot be left empty."},
    "name_needs_last": {
        "ru": "Укажите и фамилию: без неё имя не сохранится в магазине.",
        "en": "Please give your last name too: without it the stores cannot keep your first name.",
    },
    "name_needs_first": {
        "ru": "Укажите и имя: без него отчество не сохранится в магазине.",
        "en": "Please give your first name too: without it the stores cannot keep your middle name.",
    },
    "name_not_for_store": {
        "ru": "Такое сочетание фамилии, имени и отчества магазин не сохранит. Проверьте их.",
        "en": "The stores cannot keep this combination of names. Please check them.",
    },
    "field_invalid": {"ru": "Проверьте это поле.", "en": "Please check this field."},
    "birth_date_invalid": {
        "ru": "Введите дату рождения не раньше 1900 года и не позже сегодняшнего дня.",
        "en": "Please enter a date of birth from 1900 to today.",
    },
    "email_invalid": {"ru": "Проверьте адрес эл. почты.", "en": "Please check the e-mail address."},
    "text_too_long": {"ru": "Не длиннее 100 символов.", "en": "At most 100 characters."},
    "profile_stale": {
        "ru": "Пока вы заполняли анкету, данные изменились (например, в магазине). Ваши правки не "
        "сохранены. Ниже — актуальные данные; проверьте их и сохраните снова.",
        "en": "Your data changed while you were editing (at a store, for example). Your edits were "
        "not saved. The current data are below: please check them and save again.",
    },
    "your_edits": {"ru": "Ваши несохранённые правки", "en": "Your unsaved edits"},
    "profile_for_spending": {
        "ru": "Заполните анкету, чтобы тратить бонусы: {fields}.",
        "en": "Fill in your profile to spend points: {fields}.",
    },
    "fill_profile": {"ru": "Заполнить анкету", "en": "Fill in the profile"},
    # home
    "home_title": {"ru": "Мои бонусы", "en": "My bonuses"},
    "available": {"ru": "Можно потратить", "en": "Available"},
    "accumulated": {"ru": "Накоплено", "en": "Accumulated"},
    "accumulated_note": {
        "ru": "Потратить бонусы можно будет, когда анкета будет заполнена.",
        "en": "You can spend them once your profile is complete.",
    },
    "pending": {"ru": "Ещё не доступны", "en": "Pending"},
    "held": {"ru": "Зарезервированы", "en": "Reserved"},
    "expiring_title": {"ru": "Скоро сгорят", "en": "Expiring soon"},
    "expiring_none": {"ru": "В ближайшие дни ничего не сгорает.", "en": "Nothing expires soon."},
    "expires_on": {"ru": "сгорят", "en": "expire on"},
    "history_title": {"ru": "История начислений и списаний", "en": "History"},
    "history_none": {"ru": "Пока ничего.", "en": "Nothing yet."},
    "date": {"ru": "Дата", "en": "Date"},
    "operation": {"ru": "Операция", "en": "Operation"},
    "source": {"ru": "Откуда", "en": "Source"},
    "points": {"ru": "Бонусы", "en": "Points"},
    "card": {"ru": "Карта", "en": "Card"},
    "status": {"ru": "Статус", "en": "Status"},
    "your_cards": {"ru": "Ваши карты", "en": "Your cards"},
    "primary": {"ru": "основная", "en": "main"},
    "details": {"ru": "Подробнее", "en": "Details"},
    "other_cards_found": {
        "ru": "Найдены ещё карты с вашим номером телефона.",
        "en": "More cards with your phone number were found.",
    },
    "choose_now": {"ru": "Выбрать основную карту", "en": "Choose the main card"},
    "status_active": {"ru": "Действует", "en": "Active"},
    "status_accumulation_only": {
        "ru": "Только накопление: списание недоступно",
        "en": "Earning only: spending is not available",
    },
    "status_blocked": {"ru": "Заблокирована", "en": "Blocked"},
    "merged_into": {"ru": "бонусы перенесены на карту {number}", "en": "points moved to card {number}"},
    "kind_accrual": {"ru": "Начисление", "en": "Earned"},
    "kind_redemption": {"ru": "Списание", "en": "Spent"},
    "kind_expiry": {"ru": "Сгорание", "en": "Expired"},
    "kind_transfer_in": {"ru": "Перенос на карту", "en": "Moved in"},
    "kind_transfer_out": {"ru": "Перенос с карты", "en": "Moved out"},
    "kind_adjustment": {"ru": "Корректировка", "en": "Adjustment"},
    "kind_reversal": {"ru": "Отмена", "en": "Reversal"},
    "origin_onec": {"ru": "Магазин", "en": "Store"},
    "origin_website": {"ru": "Сайт", "en": "Website"},
    "origin_merge": {"ru": "Объединение карт", "en": "Card merge"},
    "origin_migration": {"ru": "Перенос из старой программы", "en": "Legacy program"},
    "origin_admin": {"ru": "Служба поддержки", "en": "Support"},
    "origin_reconciliation": {"ru": "Сверка", "en": "Reconciliation"},
    "origin_system": {"ru": "Система", "en": "System"},
    "card_title": {"ru": "Карта {number}", "en": "Card {number}"},
    "show_at_till": {"ru": "Покажите на кассе", "en": "Show at the till"},
    "barcode_of": {"ru": "Штрихкод карты {number}", "en": "Barcode of card {number}"},
    "qr_of": {"ru": "QR-код карты {number}", "en": "QR code of card {number}"},
    # home: joining the loyalty program (seed 001's opt-in)
    "program_title": {"ru": "Программа лояльности", "en": "Loyalty program"},
    "program_join_text": {
        "ru": "Вы не участвуете в программе лояльности, поэтому заказы на сайте не приносят бонусов. "
        "Покупки в магазинах по карте начисляют бонусы, как и раньше.",
        "en": "You are not in the loyalty program, so your orders on the website earn no points. "
        "Purchases in our stores with your card earn points as before.",
    },
    "program_join_button": {"ru": "Вступить в программу лояльности", "en": "Join the loyalty program"},
    "program_joined": {
        "ru": "Вы вступили в программу лояльности.",
        "en": "You have joined the loyalty program.",
    },
    "program_already_member": {
        "ru": "Вы уже участвуете в программе лояльности.",
        "en": "You are already in the loyalty program.",
    },
    "program_member_since": {
        "ru": "Вы участник программы лояльности с {date}.",
        "en": "Member of the loyalty program since {date}.",
    },
    "program_member_by_card": {
        "ru": "Вы участвуете в программе лояльности по своей карте.",
        "en": "You are in the loyalty program through your card.",
    },
    # issue 17 item 5: what a customer sees
    "lang_code": {"ru": "ru", "en": "en"},
    "program_current": {"ru": "Бонусная программа «Добрострой»", "en": "Dobrostroy bonus program"},
    "program_legacy": {"ru": "Прежняя программа лояльности", "en": "A former loyalty program"},
    "blocked_reason": {
        "ru": "по карте нельзя копить и тратить бонусы. Вопросы — в службу поддержки.",
        "en": "the card can neither earn nor spend points. Please contact support with questions.",
    },
    "primary_is_chosen": {"ru": "Основная карта выбрана", "en": "Your main card is chosen"},
    "primary_is_chosen_text": {
        "ru": "Все ваши бонусы копятся и тратятся по этой карте. Показывайте её на кассе.",
        "en": "All your points are earned and spent on this card. Show it at the till.",
    },
    "pd_consent": {
        "ru": "Даю согласие на обработку моих персональных данных (152-ФЗ)",
        "en": "I consent to the processing of my personal data (Federal Law 152-FZ)",
    },
    "pd_consent_text_link": {"ru": "Текст согласия", "en": "The text of the consent"},
    "pd_consent_required": {
        "ru": "Без согласия на обработку персональных данных мы не можем хранить анкету.",
        "en": "Without your consent to the processing of personal data we cannot keep your profile.",
    },
    "pd_consent_given": {
        "ru": "Согласие на обработку персональных данных (ред. {version})",
        "en": "Consent to personal data processing (version {version})",
    },
    "pd_consent_title": {
        "ru": "Согласие на обработку персональных данных",
        "en": "Consent to the processing of personal data",
    },
    "marketing_separate": {
        "ru": "Необязательно, отдельно от согласия на обработку данных.",
        "en": "Optional, separate from the consent to data processing.",
    },
    "footer_rules": {"ru": "Правила программы", "en": "Program rules"},
    "footer_support": {"ru": "Служба поддержки", "en": "Support"},
    "footer_support_desk": {
        "ru": "сервисная стойка любого магазина",
        "en": "the service desk of any of our stores",
    },
    "rules_title": {"ru": "Правила бонусной программы", "en": "Bonus program rules"},
}
