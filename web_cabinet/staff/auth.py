"""Staff users: scrypt password hashes, roles, and the login check with its rate limits.

Roles (decision): ``viewer`` sees the reports (imports, drift, merges) and the progress chart with
personal data masked; ``migration`` also sees each import issue (the card number in full, file and
line: what it takes to fix the export); ``admin`` sees what ``migration`` sees and may unmerge.
Every role may open every page; a role only adds details and actions. The exception is the points
program (``program.py``): ``marketing`` and ``admin`` edit its versions and campaigns, ``viewer``
reads them, and ``migration`` alone is not shown it (rules and campaigns are not its business).

Login answers are the same for an unknown login, a wrong password and a disabled user, and take the
same time (an unknown login still costs one scrypt). Failures are counted in
``staff_login_attempts`` per login and per IP: past ``staff_login_max_failures`` (per login) or
``staff_login_max_failures_per_ip`` within ``staff_login_window_seconds`` every attempt is refused
unchecked until the window moves on, whether or not the password is right.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from bonusbridge.models import StaffLoginAttempt, StaffUser
from bonusbridge.settings import Settings
from web_cabinet.session_store import STAFF, DatabaseSessionStore, SessionStore


class Role(enum.StrEnum):
    VIEWER = "viewer"
    MIGRATION = "migration"
    ADMIN = "admin"
    MARKETING = "marketing"  # edits the points program: versions and campaigns (issue 8, item 1)


class StaffError(Exception):
    """A staff command refused: unknown user, existing login, bad role or password."""


# scrypt: N=2**14, r=8, p=1 (16 MiB, ~50 ms): OWASP's minimum for scrypt.
_N, _R, _P, _LEN = 2**14, 8, 1, 32
_DUMMY = "scrypt$16384$8$1$" + "00" * 16 + "$" + "00" * 32


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=_LEN)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        found = hashlib.scrypt(
            password.encode(),
            salt=bytes.fromhex(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(bytes.fromhex(digest)),
        )
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(found, bytes.fromhex(digest))


def parse_roles(values: Iterable[str]) -> list[Role]:
    roles: list[Role] = []
    for value in values:
        for part in value.split(","):
            name = part.strip().lower()
            if not name:
                continue
            try:
                role = Role(name)
            except ValueError:
                raise StaffError(f"unknown role {name!r}: use {', '.join(r.value for r in Role)}") from None
            if role not in roles:
                roles.append(role)
    if not roles:
        raise StaffError("give at least one role")
    return roles


def normalize_login(login: str) -> str:
    return login.strip().lower()[:64]


def create_user(engine: Engine, login: str, password: str, roles: list[Role]) -> StaffUser:
    login = normalize_login(login)
    if not login or not all(ch.isalnum() or ch in "._-@" for ch in login):
        raise StaffError("a login is letters, digits and . _ - @")
    if len(password) < 12:
        raise StaffError("a staff password has at least 12 characters")
    with Session(engine, expire_on_commit=False) as session:
        if session.scalar(select(StaffUser.id).where(StaffUser.login == login)) is not None:
            raise StaffError(f"staff user {login} exists")
        user = StaffUser(login=login, password_hash=hash_password(password), roles=",".join(roles))
        session.add(user)
        session.commit()
        return user


def list_users(engine: Engine) -> list[StaffUser]:
    with Session(engine) as session:
        return list(session.scalars(select(StaffUser).order_by(StaffUser.login)))


def disable_user(engine: Engine, login: str, sessions: SessionStore | None = None) -> int:
    """Disable a staff user and end every session of theirs; returns how many were open."""
    with Session(engine) as session:
        user = session.scalar(select(StaffUser).where(StaffUser.login == normalize_login(login)))
        if user is None:
            raise StaffError(f"no staff user {login}")
        user.disabled = True
        session.commit()
        user_id = user.id
    return (sessions or DatabaseSessionStore(engine)).end_all(STAFF, user_id)


def set_password(engine: Engine, login: str, password: str, sessions: SessionStore | None = None) -> int:
    """Give a staff user a new password and end every session of theirs (logged in with the old
    one); returns how many were open."""
    if len(password) < 12:
        raise StaffError("a staff password has at least 12 characters")
    with Session(engine) as session:
        user = session.scalar(select(StaffUser).where(StaffUser.login == normalize_login(login)))
        if user is None:
            raise StaffError(f"no staff user {login}")
        user.password_hash = hash_password(password)
        session.commit()
        user_id = user.id
    return (sessions or DatabaseSessionStore(engine)).end_all(STAFF, user_id)


@dataclass(frozen=True)
class Principal:
    """The staff member behind a request (re-read each time: a disabled user is out at once)."""

    id: int
    login: str
    roles: frozenset[Role]

    @property
    def sees_issue_details(self) -> bool:
        return bool(self.roles & {Role.MIGRATION, Role.ADMIN})

    @property
    def may_unmerge(self) -> bool:
        return Role.ADMIN in self.roles


def principal_of(user: StaffUser) -> Principal:
    roles = frozenset(Role(r) for r in user.roles.split(",") if r in {x.value for x in Role})
    return Principal(user.id, user.login, roles)


def load_principal(engine: Engine, user_id: int) -> Principal | None:
    with Session(engine) as session:
        user = session.get(StaffUser, user_id)
        if user is None or user.disabled:
            return None
        return principal_of(user)


class LoginOutcome(enum.Enum):
    OK = "ok"
    REFUSED = "refused"  # unknown login, wrong password, disabled user: one answer
    THROTTLED = "throttled"


def try_login(
    engine: Engine, settings: Settings, login: str, password: str, ip: str, clock: Callable[[], datetime]
) -> tuple[LoginOutcome, Principal | None]:
    now = clock()
    login = normalize_login(login)
    ip = ip[:64]
    since = now - timedelta(seconds=settings.staff_login_window_seconds)
    with Session(engine) as session:
        failures = select(func.count()).where(
            StaffLoginAttempt.succeeded.is_(False), StaffLoginAttempt.at > since
        )
        by_login = session.scalar(failures.where(StaffLoginAttempt.login == login)) or 0
        by_ip = session.scalar(failures.where(StaffLoginAttempt.ip == ip)) or 0
        if by_login >= settings.staff_login_max_failures or by_ip >= settings.staff_login_max_failures_per_ip:
            return LoginOutcome.THROTTLED, None
        user = session.scalar(select(StaffUser).where(StaffUser.login == login))
        good = check_password(password, user.password_hash if user is not None else _DUMMY)
        ok = user is not None and good and not user.disabled
        session.add(StaffLoginAttempt(login=login, ip=ip, at=now, succeeded=ok))
        if not ok or user is None:
            session.commit()
            return LoginOutcome.REFUSED, None
        user.last_login_at = now
        principal = principal_of(user)
        session.commit()
        return LoginOutcome.OK, principal
