"""Configuration: every setting is a ``QP_LEDGER_*`` environment variable.

docs/configuration.md lists them all in one table; keep the two in step.
"""

from __future__ import annotations

import os

#: The embedded default: a SQLite file in the working directory, zero set-up.
DEFAULT_DATABASE_URL = "sqlite:///qp-ledger.db"
DATABASE_URL = "QP_LEDGER_DATABASE_URL"


def database_url_from_env() -> str | None:
    value = os.environ.get(DATABASE_URL, "").strip()
    return value or None
