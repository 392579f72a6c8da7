"""The e-mails' texts: Jinja2 templates per language, a text and an HTML part each, and a subject.

``templates/<name>.<lang>.txt`` starts with a ``Subject:`` line; ``<name>.<lang>.html`` is the HTML
part (autoescaped). A locale without its own file falls back to ``ru``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound, select_autoescape

FOLDER = Path(__file__).parent / "templates"
NAMES = ("order_placed", "order_to_fulfil", "order_shipped", "cashback_credited")

_env = Environment(
    loader=FileSystemLoader(FOLDER),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def render(name: str, locale: str, params: dict[str, Any]) -> Rendered:
    lang = locale
    try:
        _env.get_template(f"{name}.{lang}.txt")
    except TemplateNotFound:
        lang = "ru"
    text = _env.get_template(f"{name}.{lang}.txt").render(**params)
    first, _, body = text.partition("\n")
    if not first.startswith("Subject:"):
        raise ValueError(f"template {name}.{lang}.txt must start with a Subject: line")
    html = _env.get_template(f"{name}.{lang}.html").render(**params)
    return Rendered(first.removeprefix("Subject:").strip(), body.lstrip("\n"), html)
