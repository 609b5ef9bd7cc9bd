"""The shell examples of the README and docs/, run as a newcomer would paste them.

Issue 9's acceptance: a README that drifts from the code fails CI.

``tests/e2e/transcript.py`` runs every ``$ `` command of the page in order in
a fresh directory — ``qp-ledger demo``, decisions, history, the import of the
``corrections.jsonl`` the page shows, then a real ``qp-ledger serve --demo``
on a free port with the tokens and curl commands against it — and compares
what each prints with the page, times, ids and tokens aside. A README that
drifts from the code fails here.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from tests.e2e.transcript import check_page

ROOT = Path(__file__).resolve().parents[2]


def require_tools(*names: str) -> None:
    """The pages' examples use these programs; without them, skip (fail under CI=true)."""
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        reason = f"the examples need {', '.join(missing)} (apt-get install {' '.join(missing)})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)


@pytest.mark.slow
def test_the_readme_examples_print_what_the_readme_shows(tmp_path: Path) -> None:
    require_tools("bash", "curl", "awk")
    failures = check_page(ROOT / "README.md", tmp_path)
    assert not failures, "\n\n".join(failures)


#: The log's documents are full of base64 hashes, signatures and key ids that
#: depend on recorded times and on the key made for the run.
LOG_DOCUMENTS = [
    (re.compile(r"[A-Za-z0-9+/]{40,}={0,2}"), "<BASE64>"),
    (re.compile(r"(?<=\+)[0-9a-f]{8}(?=\+)|(?<=\"key_id\":\")[0-9a-f]{8}"), "<KEY-ID>"),
]


@pytest.mark.slow
def test_the_api_walkthroughs_print_what_docs_api_shows(tmp_path: Path) -> None:
    require_tools("bash", "curl")
    failures = check_page(ROOT / "docs" / "api.md", tmp_path, extra=LOG_DOCUMENTS)
    assert not failures, "\n\n".join(failures)


@pytest.mark.slow
def test_the_integrity_walkthroughs_print_what_docs_integrity_shows(tmp_path: Path) -> None:
    require_tools("bash", "sqlite3", "sed")
    failures = check_page(ROOT / "docs" / "integrity.md", tmp_path, extra=LOG_DOCUMENTS)
    assert not failures, "\n\n".join(failures)


PAGE = """
Intro.

    $ printf 'one\\ntwo\\nthree\\n'
    one
    ...
    three
    $ NAME=$(printf 'kept'; echo ' on stderr' >&2)
     on stderr
    $ echo "$NAME at 2026-11-23T08:05:23.473214Z, id 14b3e526-3e65-5264-a8d6-73fea82c5ad5"
    kept at 2001-01-01T00:00:00Z, id 00000000-0000-0000-0000-000000000000
    $ grep -c . lines.txt; false
    2
    $ echo $?
    1

The input, `lines.txt`:

    alpha
    beta
"""


def test_the_runner_passes_a_page_that_matches(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(PAGE)
    (tmp_path / "run").mkdir()
    assert check_page(page, tmp_path / "run") == []


@pytest.mark.parametrize(
    ("shown", "drifted"),
    [
        ("    three\n", "    four\n"),  # an output line changed
        ("    2\n", "    3\n"),  # the file the page shows is the file used
        ("    $ echo $?\n    1\n", "    $ echo $?\n    0\n"),  # exit statuses carry over
        ("     on stderr\n", ""),  # stderr is part of the output
        ("    ...\n", ""),  # without the ellipsis, the skipped line is missing
    ],
)
def test_the_runner_fails_a_page_that_drifted(tmp_path: Path, shown: str, drifted: str) -> None:
    assert shown in PAGE
    page = tmp_path / "page.md"
    page.write_text(PAGE.replace(shown, drifted, 1))
    (tmp_path / "run").mkdir()
    failures = check_page(page, tmp_path / "run")
    assert len(failures) == 1, failures
