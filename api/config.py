"""API settings: every one a ``QP_LEDGER_*`` environment variable (docs/configuration.md).

``create_app(config)`` reads these from the environment and lets a mapping with
the same keys override them, so tests and embedders never touch ``os.environ``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# The serve settings live with the CLI that reads them (ledger.config): one
# place, and no import from ledger/ up into api/.
from ledger.config import (
    DATABASE_URL,
    DEFAULT_DATABASE_URL,
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_THREADS,
    DEFAULT_WORKERS,
    HOST,
    PORT,
    READ_DATABASE_URL,
    THREADS,
    WORKERS,
)
from ledger.integrity.signing import DEFAULT_ORIGIN, LOG_ORIGIN, SIGNING_KEY_FILE

#: Command bodies are a few hundred bytes; anything near this is a mistake or an attack.
DEFAULT_MAX_BODY_BYTES = 64 * 1024

MAX_BODY_BYTES = "QP_LEDGER_MAX_BODY_BYTES"
REPORTS_WAIT_SECONDS = "QP_LEDGER_REPORTS_WAIT_SECONDS"
DEFAULT_REPORTS_WAIT_SECONDS = 2.0


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    kind: type
    description: str


#: Every setting the API process reads (the serve-only ones are click options too).
SETTINGS: tuple[Setting, ...] = (
    Setting(
        DATABASE_URL,
        DEFAULT_DATABASE_URL,
        str,
        "Where the ledger, its indexes and the API tokens are stored.",
    ),
    Setting(
        READ_DATABASE_URL,
        None,
        str,
        "Where the reports and the console's report pages read the read models "
        "(e.g. a streaming replica); unset: the database URL.",
    ),
    Setting(
        MAX_BODY_BYTES,
        DEFAULT_MAX_BODY_BYTES,
        int,
        "Largest request body accepted; larger ones get 413 before parsing.",
    ),
    Setting(HOST, DEFAULT_HOST, str, "Interface `qp-ledger serve` binds."),
    Setting(PORT, DEFAULT_PORT, int, "Port `qp-ledger serve` listens on."),
    Setting(WORKERS, DEFAULT_WORKERS, int, "gunicorn worker processes for `qp-ledger serve`."),
    Setting(THREADS, DEFAULT_THREADS, int, "Threads per gunicorn worker (`gthread`)."),
    Setting(
        REPORTS_WAIT_SECONDS,
        DEFAULT_REPORTS_WAIT_SECONDS,
        float,
        "How long a report request with min_position waits for the read models.",
    ),
    Setting(
        SIGNING_KEY_FILE,
        None,
        str,
        "Checkpoint signing key file (created on first use); unset: beside a SQLite "
        "database (<name>-signing.key), else ./qp-ledger-signing.key.",
    ),
    Setting(LOG_ORIGIN, DEFAULT_ORIGIN, str, "The log's name, first line of every checkpoint."),
)


def config_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The settings from the environment (blank means unset), with defaults filled in."""
    env = os.environ if environ is None else environ
    out: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = env.get(setting.name, "").strip()
        if not raw:
            out[setting.name] = setting.default
            continue
        try:
            out[setting.name] = setting.kind(raw)
        except ValueError:
            raise ValueError(
                f"{setting.name}: {raw!r} is not a valid {setting.kind.__name__}"
            ) from None
    return out
