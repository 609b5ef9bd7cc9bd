"""Real Chromium for the browser tests, and a guard that keeps pages on 127.0.0.1.

The docs page and the console both promise to work offline and to tell no
third party who reads them, so both tests drive Debian's ``chromium``
through Playwright with other hosts unresolvable, and record every request
a page makes: a request to any host but 127.0.0.1 is aborted and kept in
``Guard.left`` for the test to fail on.

Without Playwright or a ``chromium`` on PATH the tests skip — except under
``CI=true``, where a skip is a failure (.ci/run installs chromium).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # The network is off: no host but our own resolves.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


def unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


@contextmanager
def chromium() -> Iterator[Any]:
    """A launched headless Chromium; Playwright's event loop (and its thread) ends with it."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright for Python is not installed (pip install -e '.[test]')")
    executable = shutil.which("chromium")
    if executable is None:
        unavailable("no chromium on PATH (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


class Guard:
    """A route handler for ``**/*``: records every URL, lets only 127.0.0.1 through."""

    def __init__(self) -> None:
        self.requested: list[str] = []
        self.left: list[str] = []

    def __call__(self, route: Any, request: Any) -> None:
        self.requested.append(request.url)
        parts = urlsplit(request.url)
        if parts.scheme in ("data", "blob") or parts.hostname == "127.0.0.1":
            route.fallback()
        else:
            self.left.append(request.url)
            route.abort()
