"""Configuration: every setting is a ``QP_LEDGER_*`` environment variable.

docs/configuration.md lists them all in one table; keep the two in step.
"""

from __future__ import annotations

import os

#: The embedded default: a SQLite file in the working directory, zero set-up.
DEFAULT_DATABASE_URL = "sqlite:///qp-ledger.db"
DATABASE_URL = "QP_LEDGER_DATABASE_URL"
#: Where the API's reports read the read models (unset: DATABASE_URL), so they
#: can be served by a streaming replica while writes stay on the primary.
READ_DATABASE_URL = "QP_LEDGER_READ_DATABASE_URL"


def database_url_from_env() -> str | None:
    value = os.environ.get(DATABASE_URL, "").strip()
    return value or None


def database_url(given: str | None = None) -> str:
    """The database to use: the one given, else the environment's, else the default."""
    return given or database_url_from_env() or DEFAULT_DATABASE_URL


# -- `qp-ledger serve` (the API process; api/config.py lists them with the rest) --

#: The one port the API listens on: ``qp-ledger serve``, the Dockerfile and
#: docker-compose.yml all use it (tests/test_deployment_files.py checks).
DEFAULT_PORT = 8000
DEFAULT_HOST = "127.0.0.1"
DEFAULT_WORKERS = 2
DEFAULT_THREADS = 4
HOST = "QP_LEDGER_HOST"
PORT = "QP_LEDGER_PORT"
WORKERS = "QP_LEDGER_WORKERS"
THREADS = "QP_LEDGER_THREADS"
