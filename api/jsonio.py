"""JSON in and out with exact numbers.

Thresholds and values are decimals and money is integer pence (CONTRACT.md), so
a request's numbers are parsed as ``Decimal`` (never float) and ``Decimal``
values go back out as JSON numbers with exactly their digits. Duplicate keys
and NaN/Infinity are refused: an audit ledger must not guess what was meant.
"""

from __future__ import annotations

import json
import re
import secrets
from decimal import Decimal
from typing import Any, NoReturn

import flask_smorest
from flask.json.provider import DefaultJSONProvider
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request

from api.problems import Problem

#: Decimals are written as a marked string first, then unquoted; the per-process
#: nonce means no client-supplied string can ever be mistaken for one.
_MARK = f"\u0000dec-{secrets.token_hex(8)}:"
_MARKED = re.compile(re.escape(json.dumps(_MARK)[:-1]) + r'([-+0-9.eE]+)"')


class MalformedJSON(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise MalformedJSON(f"the key {key!r} appears twice in one object")
        out[key] = value
    return out


def _no_constants(name: str) -> NoReturn:
    raise MalformedJSON(f"{name} is not a number the ledger accepts")


def loads_exact(data: str | bytes) -> Any:
    """Parse JSON keeping every number exact; raise MalformedJSON if it isn't valid JSON."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return json.loads(
            text,
            parse_float=Decimal,
            parse_constant=_no_constants,
            object_pairs_hook=_no_duplicates,
        )
    except MalformedJSON:
        raise
    except UnicodeDecodeError as e:
        raise MalformedJSON(f"the body is not UTF-8: {e.reason}") from None
    except ValueError as e:  # JSONDecodeError, or an integer too long to convert
        raise MalformedJSON(str(e)) from None


def _default(o: Any) -> Any:
    if isinstance(o, Decimal):
        if not o.is_finite():
            raise TypeError(f"{o} is not a JSON number")
        return f"{_MARK}{o}"
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def dumps_exact(obj: Any, **kwargs: Any) -> str:
    text = json.dumps(obj, default=_default, ensure_ascii=False, **kwargs)
    return _MARKED.sub(r"\1", text) if _MARK[1:] in text else text


class ExactJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider with exact decimals both ways."""

    sort_keys = False

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        kwargs.setdefault("sort_keys", self.sort_keys)
        kwargs.setdefault("separators", (",", ":"))
        return dumps_exact(obj, **kwargs)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads_exact(s)


class ExactParser(FlaskParser):
    """webargs parser whose JSON bodies keep numbers exact and report bad JSON as problems."""

    def _raw_load_json(self, req: Any) -> Any:
        if not is_json_request(req):
            return core.missing
        try:
            return loads_exact(req.get_data(cache=True))
        except MalformedJSON as e:
            raise Problem(400, "malformed-json", f"The body is not valid JSON: {e}") from None


class Blueprint(flask_smorest.Blueprint):  # type: ignore[misc]
    """flask-smorest's Blueprint, parsing bodies with exact numbers."""

    ARGUMENTS_PARSER = ExactParser()
