"""The staff pages under ``/staff``: migration reports, drift reports, the merge log with unmerge,
and seed 004's progress chart, behind a staff login with roles (see ``auth``) and a session of
their own (``session``). ``mount_staff(app)`` is the cabinet's only line about them."""

from __future__ import annotations

from fastapi import FastAPI

from web_cabinet.staff.pages import create_staff_app


def mount_staff(app: FastAPI) -> None:
    """Mount the staff sub-app at ``/staff`` on the cabinet ``app`` (after ``app.state.cabinet``)."""
    parts = app.state.cabinet
    app.mount("/staff", create_staff_app(parts.settings, parts.hub.engine, parts.clock, app.state.sessions))
