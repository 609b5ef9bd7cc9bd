"""A decision's JSON, serialised once per record version and re-stamped per position.

A decision document is a function of the CCG's record at one stream version
and of the engine, except three fields that name the point it was read at:
``as_of``, ``position`` and ``log`` (ledger/service/decision_cache.py). Every
write anywhere moves the head, so every record's "now" document changes in
those three fields only. Instead of copying the kept document and
serialising all of it again, its JSON is kept with those three values cut
out, and a read at a new position joins the pieces with the new values:
byte for byte what serialising the whole document gives (same provider, same
separators), at a fraction of the cost.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

#: The fields cut out, in the order their values are joined back.
MOMENT_FIELDS = ("as_of", "position", "log")
#: A string no document contains: a per-process nonce.
_MARK = f"\u0000moment-{secrets.token_hex(8)}"

Template = tuple[str, ...]


def template(document: dict[str, Any], dumps: Callable[[Any], str]) -> Template | None:
    """The document's JSON in pieces around its moment fields (None: not cut cleanly)."""
    marked = dict(document)
    for name in MOMENT_FIELDS:
        if name not in marked:
            return None
        marked[name] = _MARK
    pieces = tuple(dumps(marked).split(dumps(_MARK)))
    return pieces if len(pieces) == len(MOMENT_FIELDS) + 1 else None


def fill(
    pieces: Template, values: tuple[str | None, int, dict[str, Any]], dumps: Callable[[Any], str]
) -> bytes:
    """The pieces joined around (as_of, position, log), as the whole document would dump."""
    out = [pieces[0]]
    for value, piece in zip(values, pieces[1:], strict=True):
        out += (dumps(value), piece)
    return "".join(out).encode("utf-8")
