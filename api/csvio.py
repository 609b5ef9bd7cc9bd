"""Report rows as RFC 4180 CSV, for the reporting API and the console's download.

Rows are flat, so a report's row schema gives the columns (in declaration
order) and the same values as its JSON.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import marshmallow as ma
from flask import Response, request

CSV_MIMETYPE = "text/csv"


def wants_csv() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", CSV_MIMETYPE])
    return best == CSV_MIMETYPE


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    # A cell a spreadsheet would run as a formula is quoted as text (OWASP CSV injection).
    if isinstance(value, str) and text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def to_csv(rows: list[dict[str, Any]], schema: ma.Schema) -> str:
    """RFC 4180 CSV: a header row, then one line per row, CRLF line ends."""
    columns = list(schema.fields)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return out.getvalue()


def csv_response(rows: list[dict[str, Any]], schema: ma.Schema, disposition: str) -> Response:
    """The rows, dumped through ``schema``, as a CSV document (``disposition``: inline or
    attachment, with its file name)."""
    response = Response(to_csv(schema.dump(rows, many=True), schema), mimetype=CSV_MIMETYPE)
    response.headers["Content-Type"] = "text/csv; charset=utf-8; header=present"
    response.headers["Content-Disposition"] = disposition
    return response
