"""Reading a command's JSON text strictly: one bad line is one rejection, never a crash.

Import lines and request bodies come from spreadsheets, scripts and strangers.
JSON lets through things the ledger can neither store nor show exactly, and
Python's parser crashes on some of them, so each is refused here with a message
saying what was wrong and where (docs/contract.md: a line that is not UTF-8, not one
JSON object, nested too deeply, holds a duplicate key or a lone surrogate is
one rejected line, never a crash that loses the valid lines around it):

* bytes that are not UTF-8, and lone surrogate escapes (``"\\udc80"``): they
  are not Unicode text, so no UTF-8 database column, file or terminal can take
  them; the first one found used to abort the whole import;
* the NUL character: PostgreSQL text cannot hold it, so a read model would
  stall on the event that carried it;
* a key given twice: which value was meant would be a guess, and an audit
  ledger does not guess (the last one silently won before);
* nesting deeper than any command needs: Python's parser recurses, and a few
  thousand brackets exhaust the stack;
* number literals longer than any figure the ledger keeps: Python refuses
  integers of more than 4,300 digits, and ``Decimal`` exponents beyond its
  range, with errors that are not ``ValueError``.

Numbers are parsed as ``Decimal`` (never float). Which range and precision a
field accepts is the command parser's business (ledger/domain/commands/), where the
message can name the field and the limits.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from ledger.domain.errors import MalformedJSON

#: The deepest command is 3 levels (object > ``measures`` list > object); this
#: leaves room for any future shape and stays far below Python's recursion limit.
MAX_DEPTH = 32
#: Characters in one number literal. A figure the ledger keeps has at most 15
#: significant digits; 100 characters allows any sensible way of writing one.
MAX_NUMBER_CHARS = 100

#: A JSON string (escapes included; an unclosed one runs to the end, so the scan
#: stays linear whatever the text) or a bracket, scanned left to right.
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.DOTALL)
_SURROGATE = re.compile("[\ud800-\udfff]")


class _Refused:
    """A number the parser could not take, reported later with the field it sits in."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _number(text: str, convert: type[int] | type[Decimal]) -> Any:
    if len(text) > MAX_NUMBER_CHARS:
        return _Refused(
            f"a number {len(text)} characters long ({text[:12]}…); the ledger keeps at most "
            "15 significant digits"
        )
    try:
        return convert(text)
    except (ValueError, InvalidOperation):
        return _Refused(f"{text} is beyond the range of numbers the ledger can keep")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise MalformedJSON(
                f"duplicate key {_quoted(key)}: each field may appear only once in a command",
                field=_printable(key),
            )
        out[key] = value
    return out


def _printable(text: str) -> str:
    """Text safe to echo back in a message: lone surrogates and NUL shown as escapes."""
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text).replace("\x00", "\\u0000")


def _quoted(text: str) -> str:
    return repr(_printable(text))


def _depth(text: str) -> int:
    depth = deepest = 0
    for token in _TOKENS.finditer(text):
        char = token.group()[0]
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def text_problem(text: str) -> str | None:
    """Why the ledger cannot store this text, or None when it can."""
    found = _SURROGATE.search(text)
    if found:
        return (
            f"holds a lone surrogate (\\u{ord(found.group()):04x}), which is not a Unicode "
            "character; send text as valid UTF-8"
        )
    if "\x00" in text:
        return "holds the NUL character (\\u0000), which the ledger cannot store"
    return None


def _check_text(text: str, where: str, field: str | None) -> None:
    problem = text_problem(text)
    if problem:
        raise MalformedJSON(f"{where} {problem}", field=field)


def _check(value: Any, path: str) -> None:
    """Refuse what the parser let through but the ledger cannot keep, naming where it is."""
    if isinstance(value, str):
        _check_text(value, f"{path or 'the value'}:", path or None)
    elif isinstance(value, _Refused):
        raise MalformedJSON(f"{path or 'the value'}: {value.reason}", field=path or None)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, f"{path + ': ' if path else ''}a field name", path or None)
            _check(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check(item, f"{path}[{i}]")


def loads_strict(data: str | bytes, *, constants: bool = True) -> Any:
    """Parse one JSON text exactly, or raise :class:`MalformedJSON` saying what is wrong.

    With ``constants`` (the importer), ``NaN`` and ``Infinity`` become
    ``Decimal`` so the command parser refuses them naming the field; without,
    they are refused here (the HTTP API's malformed-body answer).
    """
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise MalformedJSON(
                f"not UTF-8 text: byte 0x{data[e.start]:02x} at column {e.start + 1} ({e.reason})"
            ) from None
    else:
        text = data
    deepest = _depth(text)
    if deepest > MAX_DEPTH:
        raise MalformedJSON(
            f"JSON nested {deepest} levels deep; the ledger reads at most {MAX_DEPTH} "
            "(a command needs 3)"
        )

    def constant(name: str) -> Any:
        return Decimal(name) if constants else _Refused(f"{name} is not a number")

    try:
        value = json.loads(
            text,
            parse_float=lambda s: _number(s, Decimal),
            parse_int=lambda s: _number(s, int),
            parse_constant=constant,
            object_pairs_hook=_no_duplicates,
        )
    except MalformedJSON:
        raise
    except RecursionError:  # the depth scan should make this unreachable
        raise MalformedJSON("JSON nested too deeply") from None
    except ValueError as e:  # JSONDecodeError
        raise MalformedJSON(f"not valid JSON: {_printable(str(e))}") from None
    _check(value, "")
    return value
