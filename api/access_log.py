"""gunicorn's access log, without credentials that clients put in the URL.

The API takes tokens only in the ``Authorization`` header, but clients
still send ``?access_token=…`` (OAuth habits, copied links); gunicorn would
write the whole request line to the log, where the token outlives its
revocation in every log archive. Any query parameter whose name says it
carries a secret is written as ``[redacted]``; the rest of the line is kept
so the log still says which resource was asked for.
"""

from __future__ import annotations

import re
from typing import Any

from gunicorn.glogging import Logger  # type: ignore[import-untyped]

#: Query parameter names that carry secrets (access_token, api_key, password, …).
SECRET_PARAM = re.compile(
    r"(?i)(?P<name>[^&?=\s\"]*(?:token|key|secret|password|passwd|auth)[^&=\s\"]*)=[^&\s\"#]*"
)
#: The atoms that hold the URL or the referring URL.
URL_ATOMS = ("r", "q", "U", "f")


def redact(text: str) -> str:
    """``/x?access_token=abc&position=3`` -> ``/x?access_token=[redacted]&position=3``."""
    return SECRET_PARAM.sub(lambda m: f"{m.group('name')}=[redacted]", text)


class RedactingLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger; ``serve`` selects it with ``logger_class``."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for name in URL_ATOMS:
            value = atoms.get(name)
            if isinstance(value, str):
                atoms[name] = redact(value)
        return atoms
