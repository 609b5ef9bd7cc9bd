"""The app's collaborators, as views see them (set once by ``create_app``)."""

from __future__ import annotations

from flask import current_app

from ledger.service.application import QPLedger


def ledger() -> QPLedger:
    app: QPLedger = current_app.extensions["qp_ledger"]
    return app
