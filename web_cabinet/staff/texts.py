"""The staff pages' texts in ru and en (same scheme as ``web_cabinet.i18n``)."""

from __future__ import annotations

from collections.abc import Callable

STAFF_TEXTS: dict[str, dict[str, str]] = {
    "brand": {"ru": "Добрострой — сотрудники", "en": "Dobrostroy — staff"},
    "skip": {"ru": "Перейти к содержимому", "en": "Skip to content"},
    "language": {"ru": "Язык", "en": "Language"},
    "logout": {"ru": "Выйти", "en": "Log out"},
    "nav": {"ru": "Разделы", "en": "Sections"},
    "nav_progress": {"ru": "Прогресс", "en": "Progress"},
    "nav_imports": {"ru": "Импорт", "en": "Imports"},
    "nav_drift": {"ru": "Расхождения с 1С", "en": "Drift against 1C"},
    "nav_merges": {"ru": "Объединения карт", "en": "Card merges"},
    "signed_in_as": {"ru": "Вы вошли как {login} ({roles})", "en": "Signed in as {login} ({roles})"},
    "login_title": {"ru": "Вход для сотрудников", "en": "Staff login"},
    "login_label": {"ru": "Логин", "en": "Login"},
    "password_label": {"ru": "Пароль", "en": "Password"},
    "login_button": {"ru": "Войти", "en": "Log in"},
    "login_refused": {"ru": "Неверный логин или пароль.", "en": "Wrong login or password."},
    "login_throttled": {
        "ru": "Слишком много неудачных попыток. Попробуйте позже.",
        "en": "Too many failed attempts. Please try again later.",
    },
    "session_expired": {
        "ru": "Сеанс истёк. Войдите снова — ничего не изменилось.",
        "en": "Your session has expired. Please log in again; nothing was changed.",
    },
    "logged_out": {"ru": "Вы вышли.", "en": "You have logged out."},
    "forbidden_title": {"ru": "Нет доступа", "en": "Not allowed"},
    "forbidden": {"ru": "Вашей роли это действие недоступно.", "en": "Your role may not do this."},
    "form_expired_title": {"ru": "Форма устарела", "en": "The form has expired"},
    "form_expired": {
        "ru": "Обновите страницу и отправьте форму ещё раз.",
        "en": "Please reload the page and submit the form again.",
    },
    "not_found_title": {"ru": "Не найдено", "en": "Not found"},
    "not_found": {"ru": "Такой страницы нет.", "en": "There is no such page."},
    # progress
    "progress_title": {
        "ru": "Карты, привязанные к подтверждённой анкете",
        "en": "Cards bound to a verified profile",
    },
    "progress_intro": {
        "ru": "Доля активных карт (действует или только накопление), владелец которых подтвердил телефон.",
        "en": "Share of active cards (active or accumulation only) whose owner verified the phone.",
    },
    "progress_summary": {
        "ru": "Сегодня {share}% ({bound} из {active}); дней на графике: {days}.",
        "en": "Today {share}% ({bound} of {active}); days on the chart: {days}.",
    },
    "progress_days": {"ru": "Показать дней", "en": "Days shown"},
    "show": {"ru": "Показать", "en": "Show"},
    "col_day": {"ru": "День", "en": "Day"},
    "col_active": {"ru": "Активных карт", "en": "Active cards"},
    "col_bound": {"ru": "Привязаны к подтверждённой анкете", "en": "Bound to a verified profile"},
    "col_share": {"ru": "Доля, %", "en": "Share, %"},
    "today_live": {"ru": "сегодня", "en": "today"},
    "no_data": {"ru": "Данных пока нет.", "en": "No data yet."},
    # imports
    "imports_title": {"ru": "Импорт старых программ", "en": "Legacy program imports"},
    "col_plan": {"ru": "План", "en": "Plan"},
    "col_started": {"ru": "Начат", "en": "Started"},
    "col_finished": {"ru": "Завершён", "en": "Finished"},
    "col_cards": {"ru": "Карт в плане", "en": "Cards planned"},
    "col_batches": {"ru": "Пакетов (готово/всего)", "en": "Batches (done/all)"},
    "col_created": {"ru": "Создано", "en": "Created"},
    "col_skipped": {"ru": "Пропущено", "en": "Left alone"},
    "col_issues": {"ru": "Замечаний", "en": "Issues"},
    "not_finished": {"ru": "не завершён", "en": "not finished"},
    "sources": {"ru": "Файлы", "en": "Files"},
    "col_file": {"ru": "Файл", "en": "File"},
    "col_program": {"ru": "Программа", "en": "Program"},
    "issues_by_kind": {"ru": "Замечания по видам", "en": "Issues by kind"},
    "col_kind": {"ru": "Вид", "en": "Kind"},
    "col_count": {"ru": "Количество", "en": "Count"},
    "issues_list": {"ru": "Замечания", "en": "Issues"},
    "col_card": {"ru": "Карта", "en": "Card"},
    "col_line": {"ru": "Строка", "en": "Line"},
    "col_detail": {"ru": "Подробности", "en": "Detail"},
    "issues_need_role": {
        "ru": "Подробности замечаний видны ролям migration и admin.",
        "en": "Issue details are shown to the migration and admin roles.",
    },
    "report_not_recorded": {
        "ru": "Путь к HTML-отчёту плана не записан при импорте: отчёт лежит в папке плана.",
        "en": "The plan's HTML report path is not recorded by the import: it is in the plan folder.",
    },
    "back": {"ru": "Назад", "en": "Back"},
    # drift and merges
    "drift_title": {"ru": "Расхождения балансов с 1С", "en": "Balance drift against 1C"},
    "drift_report_title": {"ru": "Отчёт о расхождениях", "en": "Drift report"},
    "merges_title": {"ru": "Журнал объединений карт", "en": "Card merge log"},
    "not_available": {
        "ru": "Этот раздел ещё не подключён (модуль сверки не установлен).",
        "en": "This section is not available yet (the reconciliation module is missing).",
    },
    "open": {"ru": "Открыть", "en": "Open"},
    "unmerge": {"ru": "Отменить объединение", "en": "Unmerge"},
    "unmerge_title": {"ru": "Отмена объединения №{id}", "en": "Unmerge #{id}"},
    "unmerge_warning": {
        "ru": "Баллы вернутся на исходные карты, карты будут разблокированы. Укажите причину.",
        "en": "Points go back to the original cards and the cards are unblocked. Give a reason.",
    },
    "reason_label": {"ru": "Причина", "en": "Reason"},
    "reason_required": {"ru": "Укажите причину.", "en": "Please give a reason."},
    "allow_partial": {
        "ru": "Вернуть то, что осталось, если часть перенесённых баллов уже потрачена",
        "en": "Give back what is left if some of the moved points were spent since",
    },
    "confirm_unmerge": {"ru": "Подтвердить отмену", "en": "Confirm the unmerge"},
    "unmerged": {"ru": "Объединение №{id} отменено.", "en": "Merge #{id} was undone."},
    "unmerge_failed": {"ru": "Отмена не выполнена: {error}", "en": "Not undone: {error}"},
    "nothing": {"ru": "Записей нет.", "en": "Nothing here."},
}


def staff_translator(lang: str) -> Callable[..., str]:
    def translate(key: str, **params: object) -> str:
        text = STAFF_TEXTS[key][lang]
        return text.format(**params) if params else text

    return translate


#: Column headings of the merge log and drift reports (fields of the engines' views); a field not
#: listed is shown by its name.
COLUMN_LABELS: dict[str, dict[str, str]] = {
    "id": {"ru": "№", "en": "#"},
    "customer_id": {"ru": "Клиент", "en": "Customer"},
    "customer_masked": {"ru": "ФИО", "en": "Name"},
    "primary_card_id": {"ru": "Основная карта (id)", "en": "Primary card (id)"},
    "primary_card_masked": {"ru": "Основная карта", "en": "Primary card"},
    "absorbed": {"ru": "Объединённые карты и баллы", "en": "Absorbed cards and points"},
    "points_moved": {"ru": "Перенесено баллов", "en": "Points moved"},
    "actor": {"ru": "Кто", "en": "By"},
    "origin": {"ru": "Откуда", "en": "Origin"},
    "reason": {"ru": "Причина", "en": "Reason"},
    "decided_at": {"ru": "Когда", "en": "When"},
    "unmerged": {"ru": "Отменено", "en": "Undone"},
    "unmerged_at": {"ru": "Когда отменено", "en": "Undone at"},
    "unmerged_by": {"ru": "Кем отменено", "en": "Undone by"},
    "unmerge_reason": {"ru": "Причина отмены", "en": "Why undone"},
    "started_at": {"ru": "Начало", "en": "Started"},
    "finished_at": {"ru": "Конец", "en": "Finished"},
    "trigger": {"ru": "Запуск", "en": "Trigger"},
    "profile": {"ru": "Профиль 1С", "en": "1C profile"},
    "checked_cards": {"ru": "Проверено карт", "en": "Cards checked"},
    "checked_customers": {"ru": "Проверено клиентов", "en": "Customers checked"},
    "differences": {"ru": "Расхождений", "en": "Differences"},
    "missing_in_onec": {"ru": "Нет в 1С", "en": "Missing in 1C"},
    "errors": {"ru": "Ошибки", "en": "Errors"},
    "summary": {"ru": "Итог", "en": "Summary"},
    "repaired_at": {"ru": "Исправлено", "en": "Repaired at"},
    "repaired_by": {"ru": "Кем исправлено", "en": "Repaired by"},
    "repaired_items": {"ru": "Исправлено строк", "en": "Items repaired"},
    "items": {"ru": "Расхождения", "en": "Differences"},
    "kind": {"ru": "Вид", "en": "Kind"},
    "entity": {"ru": "Объект", "en": "Entity"},
    "hub_id": {"ru": "Id в хабе", "en": "Hub id"},
    "onec_ref": {"ru": "Ссылка 1С", "en": "1C ref"},
    "field": {"ru": "Поле", "en": "Field"},
    "hub_value": {"ru": "В хабе", "en": "Hub"},
    "onec_value": {"ru": "В 1С", "en": "1C"},
    "repair_movement_id": {"ru": "Исправляющее движение", "en": "Repair movement"},
}


def column_label(name: str, lang: str) -> str:
    return COLUMN_LABELS.get(name, {}).get(lang, name)
