"""1C's OData error bodies and the codes observed on real bases.

A handler raises ``ODataError``; the app turns it into
``{"odata.error": {"code": "9", "message": {"lang": "ru", "value": "..."}}}`` with the HTTP status.
"""

from __future__ import annotations

import json as _json
from xml.sax.saxutils import escape

from starlette.responses import Response

JSON_TYPE = "application/json;charset=utf-8"
XML_TYPE = "application/xml;charset=utf-8"
METADATA_NS = "http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"


class ODataError(Exception):
    """An error 1C reports in an OData body: HTTP ``status`` plus 1C's numeric ``code`` (a string)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def response(self, *, json: bool = True) -> Response:
        return error_response(self.status, self.code, self.message, json=json)


def error_response(status: int, code: str, message: str, *, json: bool = True) -> Response:
    """1C's error body: JSON with ``$format=json`` (or a JSON ``Accept``), otherwise ``<m:error>``
    XML — like every other answer of 1C's OData, errors follow the requested format."""
    if not json:
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<m:error xmlns:m="{METADATA_NS}"><m:code>{escape(code)}</m:code>'
            f'<m:message xml:lang="ru">{escape(message)}</m:message></m:error>'
        )
        return Response(xml, status_code=status, media_type=XML_TYPE)
    body = {"odata.error": {"code": code, "message": {"lang": "ru", "value": message}}}
    return Response(_json.dumps(body, ensure_ascii=False), status_code=status, media_type=JSON_TYPE)


def bad_body_literal(message: str) -> ODataError:
    """400/1: a value in a request body that is not a valid literal of the field's type."""
    return ODataError(400, "1", message)


def unknown_member(name: str) -> ODataError:
    """400/6: unknown field in ``$select``, unknown method or resource segment."""
    return ODataError(400, "6", f"Неизвестное имя поля или метода: {name}")


def not_found() -> ODataError:
    """404/9: the entity instance does not exist."""
    return ODataError(404, "9", "Экземпляр сущности не найден")


def query_error(message: str) -> ODataError:
    """400/14: a query option (``$filter``, ``$orderby`` ...) failed to parse."""
    return ODataError(400, "14", f"Ошибка разбора параметра запроса: {message}")


def key_exists(key: str) -> ODataError:
    """400/15: an object or register record with this key already exists."""
    return ODataError(400, "15", f"Запись с ключом {key} уже существует")


def control_character(key: str) -> ODataError:
    """400: an object to be sent by SelectChanges holds a character XML cannot carry; the whole batch
    fails (observed on real bases; the numeric code here is the emulator's choice, -1)."""
    return ODataError(400, "-1", f"Ошибка при записи XML: недопустимый символ в данных объекта {key}")


def access_denied() -> ODataError:
    """403/20: the user lacks the right for this operation."""
    return ODataError(403, "20", "Нарушение прав доступа!")


def handler_failed(message: str) -> ODataError:
    """500/-1: a configuration handler failed, or the request body is broken."""
    return ODataError(500, "-1", message)


def precondition_failed() -> ODataError:
    """412 (strict mode only; real 1C does not enforce DataVersion)."""
    return ODataError(
        412, "-1", "Версия данных объекта изменилась (DataVersion): объект изменен другим сеансом"
    )
