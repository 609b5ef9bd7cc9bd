"""JSON in and out with exact numbers.

Thresholds and values are decimals and money is integer pence (docs/contract.md), so
a request's numbers are parsed as ``Decimal`` (never float) and ``Decimal``
values go back out as JSON numbers with exactly their digits. Duplicate keys,
NaN/Infinity, lone surrogates and absurd nesting are refused (400): an audit
ledger must not guess what was meant, nor fail on what it was sent.
"""

from __future__ import annotations

import json
import re
import secrets
from decimal import Decimal
from typing import Any

import flask_smorest
import marshmallow as ma
from flask.json.provider import DefaultJSONProvider
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request

from api.problems import Problem
from ledger.domain.errors import MalformedJSON as LedgerMalformedJSON
from ledger.domain.jsontext import loads_strict

#: Decimals are written as a marked string first, then unquoted; the per-process
#: nonce means no client-supplied string can ever be mistaken for one.
_MARK = f"\u0000dec-{secrets.token_hex(8)}:"
_MARKED = re.compile(re.escape(json.dumps(_MARK)[:-1]) + r'([-+0-9.eE]+)"')


class MalformedJSON(ValueError):
    pass


def loads_exact(data: str | bytes) -> Any:
    """Parse JSON keeping every number exact; raise MalformedJSON if it isn't valid JSON.

    The same strict reader as ``qp-ledger import`` (ledger/domain/jsontext.py), so a body
    and an import line are refused for the same reasons: not UTF-8, a duplicate
    key, a lone surrogate, nesting too deep, a number no figure could need.
    """
    try:
        return loads_strict(data, constants=False)
    except LedgerMalformedJSON as e:
        raise MalformedJSON(e.message) from None


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


class KeptSchemas(FlaskParser):
    """webargs' parser, with one instance of each schema class for all requests.

    webargs instantiates a schema class on every request; building a schema
    (deep-copying its declared fields) cost more than parsing the query of a
    read the server already had the answer to. The API's schemas keep no
    per-request state (their hooks only check and reshape what they are
    given), so one instance serves every thread.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._kept: dict[type[ma.Schema], ma.Schema] = {}

    def _get_schema(self, argmap: Any, req: Any) -> ma.Schema:
        if isinstance(argmap, type) and issubclass(argmap, ma.Schema):
            schema = self._kept.get(argmap)
            if schema is None:  # two threads may both build one: either will do
                schema = self._kept.setdefault(argmap, argmap())
            return schema
        found: ma.Schema = super()._get_schema(argmap, req)
        return found


class ExactParser(KeptSchemas):
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
