"""Where the API finds the hub and the settings: on the application it is mounted in.

The API is its own ASGI app mounted at ``/api/v1`` (so its OpenAPI and error handling stay its
own); the hub lives on the cabinet's app, which ``mount_api`` records as the API's parent.
"""

from __future__ import annotations

from fastapi import Request

from bonusbridge.app import Hub
from bonusbridge.settings import Settings


def _states(request: Request) -> list[object]:
    api_state = request.app.state
    parent = getattr(api_state, "parent", None)
    return [parent.state, api_state] if parent is not None else [api_state]


def hub_of(request: Request) -> Hub:
    for state in _states(request):
        hub = getattr(state, "hub", None)
        if isinstance(hub, Hub):
            return hub
    raise RuntimeError("the shop API needs app.state.hub (a bonusbridge.app.Hub) on its parent app")


def settings_of(request: Request) -> Settings:
    for state in _states(request):
        settings = getattr(state, "settings", None)
        if isinstance(settings, Settings):
            return settings
    return hub_of(request).settings


def id_secret(request: Request) -> bytes:
    return settings_of(request).api_id_secret.get_secret_value().encode()
