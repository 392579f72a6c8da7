"""HTTP Basic credentials the way 1C's web server extension decodes them: UTF-8.

httpx and requests encode Basic credentials as latin-1, which cannot carry a Cyrillic login
("Сайт"); 1C answers 401. Every client builds the header here instead.
"""

from __future__ import annotations

import base64


def basic_auth(username: str, password: str) -> str:
    """The ``Authorization`` value: ``Basic <base64(UTF-8 "user:password")>``."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
