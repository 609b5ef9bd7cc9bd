"""The HTTP API: a thin Flask adapter over ``ledger.application.QPLedger``.

``create_app`` is the one composition root (CONVENTIONS.md 3): it reads the
``QP_LEDGER_*`` settings, opens the ledger and the token store, and wires the
blueprints, the OpenAPI document (``/openapi.json``, docs at ``/docs``) and the
problem+json error handlers.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

    from ledger.service.application import QPLedger


def create_app(config: Mapping[str, Any] | None = None, *, ledger: QPLedger | None = None) -> Flask:
    """Build the API. ``config`` overrides the ``QP_LEDGER_*`` environment; ``ledger``
    is an already open ledger to serve (the app then leaves closing it to the caller).

    Flask is imported here, not at package import, so ``api.config`` stays
    importable by the CLI (and type-checkable with it) without the web stack.
    """
    build_app = importlib.import_module("api.app").build_app
    app: Flask = build_app(config, ledger=ledger)
    return app
