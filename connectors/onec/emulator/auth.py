"""HTTP Basic authentication as the 1C web server extension does it: credentials are UTF-8.

A Cyrillic login sent in latin-1/cp1251 (what many HTTP clients do by default) does not decode as
UTF-8 or does not match, and gets 401 — the emulator reproduces that, so clients are tested on it.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.responses import Response

from .schema import User


@dataclass(frozen=True)
class Identity:
    user: str
    read_only: bool


class Authenticator:
    def __init__(self, users: list[User], passwords: Mapping[str, str] | None = None) -> None:
        """``users`` from the configuration; ``passwords`` (login → password) replaces that list's
        logins and passwords when given, keeping the configured node and rights of a known login."""
        known = {u.name: u for u in users}
        if passwords is not None:
            users = [
                User(name, password, known[name].node, known[name].read_only)
                if name in known
                else User(name, password)
                for name, password in passwords.items()
            ]
        self.users = {u.name: u for u in users}

    def authenticate(self, header: str | None) -> Identity | None:
        if not header or not header.startswith("Basic "):
            return None
        try:
            raw = base64.b64decode(header[6:].strip(), validate=True)
            login, _, password = raw.decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user = self.users.get(login)
        if user is None or not hmac.compare_digest(user.password.encode(), password.encode()):
            return None
        return Identity(user.name, user.read_only)


def unauthorized() -> Response:
    """1C's 401: a challenge for Basic credentials and no OData body."""
    return Response(
        "Unauthorized",
        status_code=401,
        headers={"WWW-Authenticate": 'Basic realm="1C:Enterprise"'},
        media_type="text/plain",
    )
