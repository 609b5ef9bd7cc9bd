"""Helpers shared by the console tests: the data set, signing in, the CSRF field."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from ledger.demo.year import demo_commands

SCHEME = "qp-2013-14"
CCG = "06F"  # NHS Bedfordshire, area team E39000015
OTHER_CCG = "00C"  # NHS Darlington, area team E39000002
CCGS = (CCG, OTHER_CCG, "00D")
Token = Callable[..., str]


@cache
def demo_lines() -> tuple[str, ...]:
    """The demo year's commands for three CCGs (the same seed as ``qp-ledger demo``)."""
    return tuple(json.dumps(c) for c in demo_commands() if c["ccg"] in CCGS)


def apikit_helpers() -> tuple[Any, Any, Any, Any]:
    """tests/api/apikit.py's build, ledger_of, project and tokens_of (one way to build an app)."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "api"))
    import apikit

    return apikit.build, apikit.ledger_of, apikit.project, apikit.tokens_of


CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf(client: FlaskClient, path: str = "/console/sign-in") -> str:
    """The CSRF token a page's forms carry (read from the page, as a browser would)."""
    page = client.get(path).get_data(as_text=True)
    found = CSRF_FIELD.search(page)
    assert found, f"no CSRF field on {path}"
    return found.group(1)


def sign_in(client: FlaskClient, plaintext: str) -> Any:
    """Sign in from a browser with no console cookie (whoever was signed in before)."""
    client.delete_cookie("qp_console", path="/console")
    return client.post("/console/sign-in", data={"token": plaintext, "csrf_token": csrf(client)})


def submit(client: FlaskClient, action: str, **fields: str) -> Any:
    """Post one of 06F's determinations-page forms with the CSRF token that page carries."""
    where = f"/console/ccgs/{CCG}/{SCHEME}"
    return client.post(
        f"{where}/{action}", data={"csrf_token": csrf(client, f"{where}/determinations"), **fields}
    )
