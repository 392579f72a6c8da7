"""The ``/api/v1`` endpoints, thin HTTP shells over ``lookups``, ``checkout``, ``orders`` and
``engine`` (the points engine).

Each declares the scope it needs and every problem it can answer with, so the OpenAPI document is
the contract (schemathesis holds the implementation to it).
"""

from __future__ import annotations

from fastapi import APIRouter

from web_cabinet.api.routes import checkout, orders, points, reading, shop

router = APIRouter()
for module in (reading, checkout, orders, points, shop):
    router.include_router(module.router)
