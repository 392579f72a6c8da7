"""What every visitor may read without logging in: the program's rules (linked in each page's
footer, ``program_rules_url``) and the text of the consent to personal-data processing the profile
form asks for (``personal_data_consent_url``). The built-in consent text is of the default version
of ``personal_data_consent_version``; a chain that words its own publishes it and sets both."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from web_cabinet.context import cabinet
from web_cabinet.rendering import render

router = APIRouter(include_in_schema=False)


@router.get("/consent")
def consent_text(request: Request) -> Response:
    settings = cabinet(request).settings
    return render(request, "consent.html", {"version": settings.personal_data_consent_version})


@router.get("/rules")
def program_rules(request: Request) -> Response:
    settings = cabinet(request).settings
    context = {
        "expiring_days": settings.expiring_soon_days,
        "required": settings.profile_required_fields,
        "consent_url": settings.personal_data_consent_url,
    }
    return render(request, "rules.html", context)
