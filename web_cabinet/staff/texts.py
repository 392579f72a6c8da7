"""The staff pages' texts in ru and en (same scheme as ``web_cabinet.i18n``)."""

from __future__ import annotations

import re
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
    "plans_title": {"ru": "Планы миграции", "en": "Migration plans"},
    "plans_none": {
        "ru": "В папке планов ({folder}) нет ни одного плана с отчётом.",
        "en": "The plans folder ({folder}) holds no plan with a report.",
    },
    "col_plan_folder": {"ru": "Папка плана", "en": "Plan folder"},
    "col_plan_state": {"ru": "Состояние", "en": "State"},
    "col_report": {"ru": "Отчёт", "en": "Report"},
    "plan_complete": {"ru": "полный", "en": "complete"},
    "plan_incomplete": {"ru": "неполный: файл не прочитан", "en": "incomplete: a file was not read"},
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
    "undelivered_title": {
        "ru": "Изменения, которые не дошли до 1С",
        "en": "Changes that did not reach 1C",
    },
    "undelivered_intro": {
        "ru": "Сообщения синхронизации, от которых 1С отказалась или которые нельзя передать, с причиной. "
        "Покупатель видит в кабинете, что его изменения пока не дошли до магазинов.",
        "en": "Sync messages 1C refused or that cannot be sent, with the reason. The customer's cabinet "
        "tells them their changes have not reached the stores yet.",
    },
    "unapplied_title": {
        "ru": "Изменения из 1С, которые хаб не применил",
        "en": "1C changes the hub did not apply",
    },
    "unapplied_intro": {
        "ru": "Изменение из 1С, которое нельзя применить, отложено с причиной, остальные идут дальше. "
        "Телефон, подтверждённый клиентом по SMS, остаётся у него: правка в 1С, отдающая его другому "
        "клиенту, ждёт решения. Исправьте объект в 1С (его следующая версия применится) или повторите "
        "после исправления: bonusbridge sync dlq --parked --replay N.",
        "en": "A 1C change that cannot be applied is parked with the reason; the others go on. A phone "
        "a customer verified by SMS stays theirs: a 1C edit giving it to another customer waits for "
        "a decision. Correct the object in 1C (its next version applies) or replay it after the fix: "
        "bonusbridge sync dlq --parked --replay N.",
    },
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
    # --- back office: a customer's points (backoffice.py) ---
    "nav_customers": {"ru": "Клиенты", "en": "Customers"},
    "customers_title": {"ru": "Поиск клиента", "en": "Find a customer"},
    "search_phone": {"ru": "Телефон", "en": "Phone"},
    "search_card": {"ru": "Номер карты", "en": "Card number"},
    "search_button": {"ru": "Найти", "en": "Find"},
    "search_hint": {
        "ru": "Телефон или номер карты (пробелы и дефисы не важны).",
        "en": "A phone or a card number (spaces and dashes do not matter).",
    },
    "search_empty": {"ru": "Укажите телефон или номер карты.", "en": "Give a phone or a card number."},
    "search_bad_phone": {"ru": "Это не номер телефона.", "en": "This is not a phone number."},
    "search_bad_card": {"ru": "Это не номер карты.", "en": "This is not a card number."},
    "search_none": {"ru": "Никого не нашли.", "en": "Nobody found."},
    "search_results": {"ru": "Найдено", "en": "Found"},
    "customer_title": {"ru": "Клиент №{id}", "en": "Customer #{id}"},
    "card_title": {"ru": "Карта №{id} (без клиента)", "en": "Card #{id} (no customer)"},
    "col_customer": {"ru": "Клиент", "en": "Customer"},
    "col_name": {"ru": "Имя", "en": "Name"},
    "col_phone": {"ru": "Телефон", "en": "Phone"},
    "col_status": {"ru": "Статус", "en": "Status"},
    "col_status_reason": {"ru": "Почему", "en": "Why"},
    "col_available": {"ru": "Доступно", "en": "Available"},
    "col_pending": {"ru": "Ожидает", "en": "Pending"},
    "col_held": {"ru": "Зарезервировано", "en": "Held"},
    "col_expired_unswept": {"ru": "Истекло (не списано)", "en": "Expired (not swept)"},
    "col_total": {"ru": "Всего", "en": "Total"},
    "col_missing": {"ru": "Не хватает до порога", "en": "Missing to the threshold"},
    "col_amount": {"ru": "Баллы", "en": "Points"},
    "col_remaining": {"ru": "Осталось", "en": "Remaining"},
    "col_available_from": {"ru": "Доступны с", "en": "Usable from"},
    "col_expires_at": {"ru": "Сгорают", "en": "Expire"},
    "col_when": {"ru": "Когда", "en": "When"},
    "col_operation": {"ru": "Операция", "en": "Operation"},
    "col_document": {"ru": "Документ", "en": "Document"},
    "col_origin": {"ru": "Откуда", "en": "Origin"},
    "col_actor": {"ru": "Кто", "en": "Who"},
    "col_reason": {"ru": "Причина", "en": "Reason"},
    "never": {"ru": "не сгорают", "en": "never"},
    "verified": {"ru": "подтверждён", "en": "verified"},
    "not_verified": {"ru": "не подтверждён", "en": "not verified"},
    "threshold_note": {
        "ru": "Порог списания: {threshold} баллов; 1 балл = {value}.",
        "en": "Spend threshold: {threshold} points; 1 point = {value}.",
    },
    "cards_heading": {"ru": "Карты и баланс", "en": "Cards and balance"},
    "lots_heading": {"ru": "Действующие начисления", "en": "Active points"},
    "used_heading": {"ru": "Использованные баллы", "en": "Used points"},
    "history_heading": {"ru": "Вся история", "en": "Full history"},
    "adjustments_heading": {"ru": "Ручные корректировки", "en": "Manual adjustments"},
    "adjust_heading": {"ru": "Скорректировать баланс", "en": "Adjust the balance"},
    "adjust_only_admin": {
        "ru": "Корректировать баланс может только роль admin.",
        "en": "Only the admin role may adjust a balance.",
    },
    "adjust_amount": {
        "ru": "Баллы (+ начислить, − списать)",
        "en": "Points (+ to add, − to remove)",
    },
    "adjust_button": {"ru": "Провести корректировку", "en": "Record the adjustment"},
    "adjusted": {
        "ru": "Корректировка {amount} по карте {card} проведена.",
        "en": "Adjustment of {amount} on card {card} recorded.",
    },
    "adjust_replayed": {
        "ru": "Эта форма уже была отправлена: корректировка проведена один раз.",
        "en": "This form was already sent: the adjustment was recorded once.",
    },
    "adjust_bad_expiry": {
        "ru": "Срок действия — дата не раньше сегодняшней (ГГГГ-ММ-ДД), или оставьте пустым: срок программы.",
        "en": "The expiry is a date from today on (YYYY-MM-DD), or leave it empty: the program's.",
    },
    "adjust_expires_on": {"ru": "Сгорают (необязательно)", "en": "Expire on (optional)"},
    "adjust_expires_hint": {
        "ru": "Пусто — по сроку действия программы, как баллы за покупку.",
        "en": "Empty: after the program's validity, like points for a purchase.",
    },
    "adjust_bad_amount": {
        "ru": "Укажите число баллов, не ноль, не больше двух знаков после запятой.",
        "en": "Give a number of points: not zero, at most two decimals.",
    },
    "adjust_bad_card": {"ru": "Выберите карту этого клиента.", "en": "Choose one of this customer's cards."},
    "adjust_insufficient": {
        "ru": "Столько списать нельзя: баланс стал бы отрицательным (доступно {available}).",
        "en": "Cannot remove that much: the balance would go negative ({available} available).",
    },
    "adjust_blocked": {
        "ru": "Карта заблокирована: корректировки по ней невозможны.",
        "en": "The card is blocked: it takes no adjustment.",
    },
    "adjust_conflict": {
        "ru": "Эта форма уже использована для другой корректировки. Обновите страницу.",
        "en": "This form was already used for another adjustment. Reload the page.",
    },
    "adjust_failed": {"ru": "Корректировка не проведена: {error}", "en": "Not recorded: {error}"},
    "kind_accrual": {"ru": "начисление", "en": "accrual"},
    "kind_redemption": {"ru": "списание", "en": "redemption"},
    "kind_expiry": {"ru": "сгорание", "en": "expiry"},
    "kind_transfer_in": {"ru": "перенос на карту", "en": "transfer in"},
    "kind_transfer_out": {"ru": "перенос с карты", "en": "transfer out"},
    "kind_adjustment": {"ru": "корректировка", "en": "adjustment"},
    "kind_reversal": {"ru": "сторно", "en": "reversal"},
    "status_active": {"ru": "активна", "en": "active"},
    "status_accumulation_only": {"ru": "только накопление", "en": "accumulation only"},
    "status_blocked": {"ru": "заблокирована", "en": "blocked"},
    "origin_website": {"ru": "сайт", "en": "website"},
    "origin_onec": {"ru": "1С (магазин)", "en": "1C (store)"},
    "origin_migration": {"ru": "миграция", "en": "migration"},
    "origin_admin": {"ru": "сотрудник", "en": "staff"},
    "origin_reconciliation": {"ru": "сверка с 1С", "en": "reconciliation"},
    "origin_system": {"ru": "система", "en": "system"},
    # --- the points program: rules versions and campaigns (program.py, program_forms.py) ---
    "nav_program": {"ru": "Программа", "en": "Program"},
    "program_title": {
        "ru": "Программа лояльности: правила и акции",
        "en": "Loyalty program: rules and campaigns",
    },
    "program_read_only": {
        "ru": "Только просмотр: изменять правила и акции могут роли marketing и admin.",
        "en": "Read only: the marketing and admin roles may change the rules and campaigns.",
    },
    "program_add_version": {"ru": "Новая версия правил", "en": "New rules version"},
    "program_add_campaign": {"ru": "Новая акция", "en": "New campaign"},
    "program_current": {"ru": "Настройки, действующие сейчас", "en": "Settings in force now"},
    "program_default_version": {
        "ru": "Версий ещё нет: действует программа по умолчанию из настроек хаба.",
        "en": "No version is stored yet: the default program from the hub's settings is in force.",
    },
    "program_none_in_force": {
        "ru": "Сейчас не действует ни одна версия: первая вступит в силу позже.",
        "en": "No version is in force now: the first one takes effect later.",
    },
    "program_versions": {"ru": "Версии правил", "en": "Rules versions"},
    "program_first_version": {"ru": "первая версия", "en": "first version"},
    "program_no_changes": {"ru": "без изменений", "en": "no changes"},
    "program_campaigns": {"ru": "Акции", "en": "Campaigns"},
    "program_every_day": {"ru": "каждый день", "en": "every day"},
    "program_all_day": {"ru": "весь день", "en": "all day"},
    "program_everything": {"ru": "все товары и клиенты", "en": "all items and customers"},
    "program_end_heading": {"ru": "Завершить досрочно", "en": "End early"},
    "program_end_now": {"ru": "Завершить сейчас", "en": "End now"},
    "program_cancel": {"ru": "Отменить акцию", "en": "Cancel the campaign"},
    "program_audit": {"ru": "Журнал изменений программы", "en": "Program audit trail"},
    "program_audit_cancelled": {"ru": "отменена до начала", "en": "cancelled before it started"},
    "program_audit_ends": {"ru": "окончание: {before} → {after}", "en": "end: {before} → {after}"},
    "program_yes": {"ru": "да", "en": "yes"},
    "program_no": {"ru": "нет", "en": "no"},
    "col_effective_from": {"ru": "Действует с", "en": "Effective from"},
    "col_changes": {"ru": "Что изменилось", "en": "What changed"},
    "col_setting": {"ru": "Настройка", "en": "Setting"},
    "col_value": {"ru": "Значение", "en": "Value"},
    "col_code": {"ru": "Код", "en": "Code"},
    "col_multiplier": {"ru": "Множитель", "en": "Multiplier"},
    "col_period": {"ru": "Период", "en": "Period"},
    "col_days_hours": {"ru": "Дни и часы", "en": "Days and hours"},
    "col_criteria": {"ru": "Условия", "en": "Criteria"},
    "col_state": {"ru": "Состояние", "en": "State"},
    "col_action": {"ru": "Действие", "en": "Action"},
    "col_subject": {"ru": "Объект", "en": "Subject"},
    "state_scheduled": {"ru": "запланирована", "en": "scheduled"},
    "state_running": {"ru": "идёт", "en": "running"},
    "state_ended": {"ru": "завершена", "en": "ended"},
    "action_program_version_add": {"ru": "новая версия правил", "en": "new rules version"},
    "action_program_campaign_add": {"ru": "новая акция", "en": "new campaign"},
    "action_program_campaign_end": {"ru": "акция завершена досрочно", "en": "campaign ended early"},
    "wd_mon": {"ru": "пн", "en": "Mon"},
    "wd_tue": {"ru": "вт", "en": "Tue"},
    "wd_wed": {"ru": "ср", "en": "Wed"},
    "wd_thu": {"ru": "чт", "en": "Thu"},
    "wd_fri": {"ru": "пт", "en": "Fri"},
    "wd_sat": {"ru": "сб", "en": "Sat"},
    "wd_sun": {"ru": "вс", "en": "Sun"},
    "crit_categories": {"ru": "Категории", "en": "Categories"},
    "crit_brands": {"ru": "Бренды", "en": "Brands"},
    "crit_skus": {"ru": "Артикулы", "en": "SKUs"},
    "crit_cities": {"ru": "Города", "en": "Cities"},
    "crit_regions": {"ru": "Регионы", "en": "Regions"},
    "crit_tiers": {"ru": "Уровни карт", "en": "Card tiers"},
    "crit_programs": {"ru": "Программы", "en": "Programs"},
    "program_version_added": {"ru": "Версия №{id} сохранена.", "en": "Version #{id} saved."},
    "program_campaign_added": {"ru": "Акция {code} сохранена.", "en": "Campaign {code} saved."},
    "program_campaign_ended": {"ru": "Акция {code} завершена.", "en": "Campaign {code} ended."},
    "program_campaign_cancelled": {"ru": "Акция {code} отменена.", "en": "Campaign {code} cancelled."},
    "program_replayed": {
        "ru": "Эта форма уже была отправлена: изменение записано один раз.",
        "en": "This form was already sent: the change was recorded once.",
    },
    "program_form_reused": {
        "ru": "Эта форма уже использована для другого изменения. Обновите страницу.",
        "en": "This form was already used for another change. Reload the page.",
    },
    "program_unknown_campaign": {"ru": "Такой акции нет.", "en": "There is no such campaign."},
    "program_already_ended": {
        "ru": "Акция уже завершилась: прошлое не меняется.",
        "en": "The campaign has already ended: the past is not changed.",
    },
    "program_form_errors": {
        "ru": "Ничего не сохранено. Исправьте:",
        "en": "Nothing was saved. Please fix:",
    },
    "program_version_title": {"ru": "Новая версия правил", "en": "New rules version"},
    "program_version_intro": {
        "ru": "Поля заполнены значениями последней версии. Измените нужные, укажите, с какого момента "
        "версия действует (не в прошлом), и причину.",
        "en": "The fields hold the latest version's values. Change what you need, say from when the "
        "version takes effect (not in the past) and why.",
    },
    "program_first_version_note": {
        "ru": "Это первая версия: как только она сохранена, правила по умолчанию из настроек хаба больше "
        "не действуют, и до её вступления в силу правил нет. Оставьте «Действует с» пустым, чтобы "
        "она действовала сразу.",
        "en": "This is the first version: once it is saved the default rules from the hub's settings no "
        "longer apply, and until it takes effect there are no rules. Leave “Effective from” empty to "
        "make it effective at once.",
    },
    "program_campaign_title": {"ru": "Новая акция", "en": "New campaign"},
    "program_campaign_intro": {
        "ru": "Баллы умножаются в период акции, в выбранные дни и часы, на товары и клиентов по условиям. "
        "Сохранённую акцию можно только завершить досрочно.",
        "en": "Points are multiplied during the campaign, on the chosen days and hours, for the items and "
        "customers matching its criteria. A saved campaign can only be ended early.",
    },
    "program_save_version": {"ru": "Сохранить версию", "en": "Save the version"},
    "program_save_campaign": {"ru": "Сохранить акцию", "en": "Save the campaign"},
    "field_effective_from": {
        "ru": "Действует с (время {zone}; пусто — с момента сохранения)",
        "en": "Effective from ({zone} time; empty: from the moment it is saved)",
    },
    "field_code": {"ru": "Код (до 64 символов)", "en": "Code (up to 64 characters)"},
    "field_name": {"ru": "Название (необязательно)", "en": "Name (optional)"},
    "field_multiplier": {"ru": "Множитель баллов", "en": "Points multiplier"},
    "field_starts_at": {
        "ru": "Начало (время {zone}; пусто — с момента сохранения)",
        "en": "Starts ({zone} time; empty: from the moment it is saved)",
    },
    "field_ends_at": {"ru": "Окончание (время {zone})", "en": "Ends ({zone} time)"},
    "field_weekdays": {
        "ru": "Дни недели (ни одного — каждый день)",
        "en": "Weekdays (none: every day)",
    },
    "field_hours": {
        "ru": "Часы по времени программы (пусто — весь день)",
        "en": "Hours in the program's time zone (empty: all day)",
    },
    "field_hours_from": {"ru": "с", "en": "from"},
    "field_hours_to": {"ru": "до", "en": "to"},
    "hint_optional": {"ru": "пусто — без ограничения", "en": "empty: no limit"},
    "hint_names": {"ru": "через запятую", "en": "comma-separated"},
    "hint_tiers": {
        "ru": "По строке на уровень: название; траты за 12 месяцев от; баллов за единицу валюты.",
        "en": "One line per tier: name; 12-month spend from; points per currency unit.",
    },
    "hint_criteria": {
        "ru": "Условия через запятую; пустое условие — подходит всё.",
        "en": "Criteria comma-separated; an empty criterion matches everything.",
    },
    "err_required": {"ru": "Заполните это поле.", "en": "This field is required."},
    "err_number": {
        "ru": "Введите число, например 0,01.",
        "en": "Enter a number such as 0.01.",
    },
    "err_whole": {"ru": "Введите целое число.", "en": "Enter a whole number."},
    "err_choice": {"ru": "Выберите одно из значений.", "en": "Choose one of the values."},
    "err_datetime": {"ru": "Укажите дату и время.", "en": "Enter a date and time."},
    "err_hours": {
        "ru": "Укажите оба времени, ЧЧ:ММ.",
        "en": "Give both times as HH:MM.",
    },
    "err_tiers": {
        "ru": "Строка {line}: название; порог; ставка — числа.",
        "en": "Line {line}: name; threshold; rate — numbers.",
    },
    "err_past": {
        "ru": "Этот момент уже прошёл: прошлое — закрытый период, изменения действуют с текущего момента.",
        "en": "That moment has passed: the past is a closed period; changes take effect from now on.",
    },
    "err_taken": {
        "ru": "В этот момент уже вступает в силу другая версия.",
        "en": "Another version takes effect at that moment.",
    },
    "err_code_taken": {
        "ru": "Акция с таким кодом уже есть (акции не редактируются).",
        "en": "A campaign with this code exists (campaigns are not edited).",
    },
    "err_contradiction": {
        "ru": "Акция противоречит существующей: {detail}",
        "en": "The campaign contradicts an existing one: {detail}",
    },
    "err_refused": {"ru": "Не принято: {detail}", "en": "Refused: {detail}"},
    "setting_currency": {"ru": "Валюта (ISO 4217)", "en": "Currency (ISO 4217)"},
    "setting_time_zone": {
        "ru": "Часовой пояс (дни, часы, дни рождения)",
        "en": "Time zone (weekdays, hours, birthdays)",
    },
    "setting_earn_base": {"ru": "База начисления", "en": "Earn base"},
    "setting_earn_rate": {"ru": "Баллов за единицу валюты", "en": "Points per currency unit"},
    "setting_point_value": {"ru": "Стоимость балла", "en": "Value of one point"},
    "setting_spend_threshold": {"ru": "Порог списания, баллов", "en": "Spend threshold, points"},
    "setting_max_spend_points": {"ru": "Не больше баллов на заказ", "en": "At most points per order"},
    "setting_max_spend_share": {
        "ru": "Не больше доли заказа баллами (0–1)",
        "en": "At most this share of an order in points (0–1)",
    },
    "setting_min_order_amount": {
        "ru": "Минимальная сумма заказа для списания",
        "en": "Smallest order points may pay for",
    },
    "setting_partial_spending": {"ru": "Частичное списание", "en": "Partial spending"},
    "setting_validity_months": {"ru": "Баллы сгорают через, месяцев", "en": "Points expire after, months"},
    "setting_pending_days": {"ru": "Баллы доступны через, дней", "en": "Points usable after, days"},
    "setting_excluded_categories": {"ru": "Категории без начисления", "en": "Categories earning nothing"},
    "setting_excluded_brands": {"ru": "Бренды без начисления", "en": "Brands earning nothing"},
    "setting_exclude_discounted": {
        "ru": "Не начислять на товары со скидкой",
        "en": "Discounted lines earn nothing",
    },
    "setting_credit_notes_reduce_points": {
        "ru": "Возврат забирает начисленные баллы",
        "en": "A return takes back its points",
    },
    "setting_advantages_reduce_base": {
        "ru": "Сертификаты и списанные баллы не дают баллов",
        "en": "Vouchers, gift cards and points spent earn nothing",
    },
    "setting_birthday": {"ru": "День рождения", "en": "Birthday"},
    "setting_birthday_multiplier": {"ru": "Множитель в день рождения", "en": "Birthday multiplier"},
    "setting_first_purchase_multiplier": {
        "ru": "Множитель первой покупки",
        "en": "First purchase multiplier",
    },
    "setting_multiplier_policy": {"ru": "Несколько множителей", "en": "Several multipliers"},
    "setting_multiplier_cap": {"ru": "Предел множителя", "en": "Multiplier cap"},
    "setting_tiers": {"ru": "Уровни карт", "en": "Card tiers"},
    "setting_tier_downgrade": {"ru": "Понижение уровня", "en": "Tier downgrade"},
    "setting_tier_grace_months": {
        "ru": "Отсрочка понижения, месяцев",
        "en": "Downgrade grace, months",
    },
    "setting_reminder_period_months": {
        "ru": "Напоминать каждые, месяцев",
        "en": "Remind every, months",
    },
    "setting_reminder_horizon_months": {
        "ru": "…о баллах, сгорающих в течение, месяцев",
        "en": "…of points expiring within, months",
    },
    "choice_gross": {"ru": "цены с НДС", "en": "prices with VAT"},
    "choice_net_of_vat": {"ru": "цены без НДС", "en": "prices net of VAT"},
    "choice_off": {"ru": "не учитывать", "en": "off"},
    "choice_day": {"ru": "в сам день", "en": "on the day"},
    "choice_month": {"ru": "весь месяц", "en": "the whole month"},
    "choice_highest": {"ru": "берётся наибольший", "en": "the highest applies"},
    "choice_multiply": {"ru": "перемножаются", "en": "they multiply"},
    "choice_immediate": {"ru": "сразу", "en": "at once"},
    "choice_grace": {"ru": "после отсрочки", "en": "after the grace"},
    "choice_one_step": {"ru": "на одну ступень после отсрочки", "en": "one step after the grace"},
    # --- end of the points program section ---
    # --- members: the members screen and file (members.py) ---
    "nav_members": {"ru": "Участники", "en": "Members"},
    "members_title": {"ru": "Участники программы лояльности", "en": "Loyalty program members"},
    "members_summary": {
        "ru": "В программе лояльности {members} из {customers} клиентов.",
        "en": "{members} of {customers} customers are in the loyalty program.",
    },
    "members_file_title": {"ru": "Файл участников", "en": "The members file"},
    "members_file_hint": {
        "ru": "Скачайте файл, поставьте 1 в колонке member, чтобы включить клиента в программу (0 — "
        "исключить), сохраните как CSV UTF-8 и загрузите обратно. Читается только колонка member.",
        "en": "Download the file, put 1 in the member column to enrol a customer (0 to end their "
        "membership), save it as CSV UTF-8 and upload it back. Only the member column is read.",
    },
    "members_download": {"ru": "Скачать файл (через «;»)", "en": 'Download the file (";"-separated)'},
    "members_download_comma": {"ru": "через запятую", "en": "comma-separated"},
    "members_upload_label": {"ru": "Изменённый файл", "en": "The edited file"},
    "members_upload": {"ru": "Проверить файл", "en": "Check the file"},
    "members_need_role": {
        "ru": "Скачивать и загружать файл участников могут роли admin и marketing.",
        "en": "The admin and marketing roles may download and upload the members file.",
    },
    "members_accounts": {"ru": "Клиенты", "en": "Accounts"},
    "members_col_member": {"ru": "Участник", "en": "Member"},
    "members_col_cards": {"ru": "Карт", "en": "Cards"},
    "members_col_points": {"ru": "Баллы (доступно)", "en": "Point(s) available"},
    "members_col_joined": {"ru": "Вступили", "en": "Joined"},
    "members_col_left": {"ru": "Исключены", "en": "Left"},
    "members_yes": {"ru": "да", "en": "yes"},
    "members_no": {"ru": "нет", "en": "no"},
    "members_imports": {"ru": "Загрузки файла участников", "en": "Members file imports"},
    "members_plan_title": {"ru": "Что изменит файл", "en": "What the file changes"},
    "members_plan_rows": {"ru": "Строк с клиентами", "en": "Customer rows"},
    "members_plan_join": {"ru": "Вступят в программу", "en": "Will join"},
    "members_plan_leave": {"ru": "Выйдут из программы", "en": "Will leave"},
    "members_plan_unchanged": {"ru": "Без изменений", "en": "Unchanged"},
    "members_warnings": {"ru": "Замечания ({count})", "en": "Warnings ({count})"},
    "members_refused": {
        "ru": "Файл не загружен: ошибок — {count}. Исправьте строки и загрузите файл снова; ничего "
        "не изменено.",
        "en": "The file was not imported: {count} problem(s). Fix the rows and upload it again; nothing "
        "was changed.",
    },
    "members_apply": {
        "ru": "Применить: вступят {join}, выйдут {leave}",
        "en": "Apply: {join} join, {leave} leave",
    },
    "members_nothing_to_change": {
        "ru": "Файл ничего не меняет.",
        "en": "The file changes nothing.",
    },
    "members_file_missing": {"ru": "Выберите файл.", "en": "Choose a file."},
    "members_file_too_large": {
        "ru": "Файл слишком большой (больше 50 МБ).",
        "en": "The file is too large (over 50 MB).",
    },
    "members_plan_expired": {
        "ru": "Проверка файла устарела: загрузите его снова.",
        "en": "The check of the file has expired: upload it again.",
    },
    "members_plan_invalid": {
        "ru": "Форма повреждена: загрузите файл снова.",
        "en": "The form is damaged: upload the file again.",
    },
    "members_applied": {
        "ru": "Файл применён: вступили {joined}, вышли {left}.",
        "en": "The file was applied: {joined} joined, {left} left.",
    },
    "members_replayed": {
        "ru": "Эта форма уже была отправлена: файл применён один раз.",
        "en": "This form was already sent: the file was applied once.",
    },
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
    "at": {"ru": "Когда", "en": "When"},
    "topic": {"ru": "Что", "en": "What"},
    "entity_id": {"ru": "Id в хабе", "en": "Hub id"},
    "state": {"ru": "Состояние", "en": "State"},
    "attempts": {"ru": "Попыток", "en": "Attempts"},
    "onec_object": {"ru": "Объект 1С", "en": "1C object"},
    "inbox_id": {"ru": "№", "en": "No."},
    "topic_customer": {"ru": "Анкета клиента", "en": "Customer profile"},
    "topic_card": {"ru": "Карта", "en": "Card"},
    "topic_movement": {"ru": "Движение баллов", "en": "Points movement"},
    "state_dead": {"ru": "Отказ (не будет повторено)", "en": "Dead letter (not retried)"},
    "state_parked": {"ru": "Отложено до исправления", "en": "Parked until fixed"},
}


def column_label(name: str, lang: str) -> str:
    return COLUMN_LABELS.get(name, {}).get(lang, name)


#: Codes that staff pages show as values (origins, roles, states, program choices, yes/no): in the
#: page's language, never raw. A value not listed is shown as it is.
VALUE_LABELS: dict[str, dict[str, str]] = {
    "True": {"ru": "да", "en": "yes"},
    "False": {"ru": "нет", "en": "no"},
    "customer": {"ru": "клиент", "en": "customer"},
    "card": {"ru": "карта", "en": "card"},
    "movement": {"ru": "движение", "en": "movement"},
    "website": {"ru": "сайт", "en": "website"},
    "onec": {"ru": "1С", "en": "1C"},
    "admin": {"ru": "сотрудник", "en": "staff"},
    "system": {"ru": "система", "en": "system"},
    "migration": {"ru": "перенос из старой программы", "en": "legacy migration"},
    "reconciliation": {"ru": "сверка", "en": "reconciliation"},
    "merge": {"ru": "объединение", "en": "merge"},
    "auto": {"ru": "автоматически", "en": "automatic"},
    "manual": {"ru": "вручную", "en": "manual"},
    "cabinet": {"ru": "личный кабинет", "en": "personal cabinet"},
    "gross": {"ru": "цены с НДС", "en": "prices with VAT"},
    "net_of_vat": {"ru": "цены без НДС", "en": "prices without VAT"},
    "highest": {"ru": "берётся наибольший", "en": "the highest applies"},
    "multiply": {"ru": "перемножаются", "en": "multiplied"},
    "immediate": {"ru": "сразу", "en": "at once"},
    "grace": {"ru": "после льготного периода", "en": "after a grace period"},
    "one_step": {"ru": "на одну ступень", "en": "one step down"},
    "active": {"ru": "действует", "en": "active"},
    "blocked": {"ru": "заблокирована", "en": "blocked"},
    "accumulation_only": {"ru": "только накопление", "en": "earning only"},
    "pending": {"ru": "ожидает", "en": "pending"},
    "done": {"ru": "выполнено", "en": "done"},
    "dead": {"ru": "отказ", "en": "dead letter"},
    "parked": {"ru": "отложено", "en": "parked"},
}

#: The hub's own English reasons (``status_reason``, movement reasons), as staff read them.
_REASONS: tuple[tuple[re.Pattern[str], dict[str, str]], ...] = (
    (re.compile(r"^merged into (?P<x>\S+)$"), {"ru": "объединена с картой {x}", "en": "merged into {x}"}),
    (
        re.compile(r"^profile incomplete, missing: (?P<x>.+)$"),
        {"ru": "анкета не заполнена, нет: {x}", "en": "profile incomplete, missing: {x}"},
    ),
    (
        re.compile(r"^opening balance from 1C$"),
        {"ru": "начальный остаток из 1С", "en": "opening balance from 1C"},
    ),
    (
        re.compile(r"^points expired as of (?P<x>\S+)$"),
        {"ru": "баллы сгорели на {x}", "en": "points expired as of {x}"},
    ),
    (
        re.compile(
            r"^PhoneOfAnotherCustomer: the new phone of customer \d+ is verified by customer (?P<x>\d+):"
        ),
        {
            "ru": "телефон подтверждён клиентом {x} и остаётся у него; правка из 1С не применена",
            "en": "the phone is verified by customer {x} and stays theirs; the 1C edit is not applied",
        },
    ),
    (
        re.compile(r"^IntegrityError: the database refused the change \((?P<x>.*)\)$"),
        {"ru": "база данных отклонила изменение ({x})", "en": "the database refused the change ({x})"},
    ),
    (
        re.compile(r"^unmerge of merge (?P<x>.+)$"),
        {"ru": "отмена объединения {x}", "en": "unmerge of merge {x}"},
    ),
)

_FIELD_WORDS: dict[str, dict[str, str]] = {
    "last_name": {"ru": "фамилия", "en": "last name"},
    "first_name": {"ru": "имя", "en": "first name"},
    "middle_name": {"ru": "отчество", "en": "middle name"},
    "birth_date": {"ru": "дата рождения", "en": "date of birth"},
    "gender": {"ru": "пол", "en": "gender"},
    "city": {"ru": "город", "en": "city"},
    "email": {"ru": "эл. почта", "en": "e-mail"},
}


def value_label(value: object, lang: str) -> str:
    """A raw code as staff read it in ``lang`` ("False" → "нет", "website" → "сайт" …)."""
    text = "" if value is None else str(getattr(value, "value", value))
    return VALUE_LABELS.get(text, {}).get(lang, text)


def reason_label(text: str | None, lang: str) -> str:
    """One of the hub's English reasons in ``lang``; any other text as it is (a person wrote it)."""
    if not text:
        return ""
    for pattern, words in _REASONS:
        found = pattern.match(text)
        if found:
            detail = found.groupdict().get("x", "")
            if pattern.pattern.startswith("^profile"):
                detail = ", ".join(
                    _FIELD_WORDS.get(name.strip(), {}).get(lang, name.strip()) for name in detail.split(",")
                )
            return words[lang].format(x=detail)
    return text
