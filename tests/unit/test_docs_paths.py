"""The docs name files a reader will open: each must exist.

A moved module leaves a stale path in the README or docs/ that no other test
reads; a newcomer following docs/architecture.md would hit it first.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PATH = re.compile(r"(?<![\w/.-])((?:ledger|api|tests|bench)/[\w/.-]*\w)")
#: ``ledger.service.application.QPLedger``; not a stored topic (``ledger.cases:HCAICase``,
#: kept on purpose after a move), a host (``qp-ledger.invalid``) or a file (``ledger.db``).
DOTTED = re.compile(r"(?<![\w.-])((?:ledger|api)(?:\.[A-Za-z_]\w*)+)(?![\w:])")
NOT_CODE = {"db", "md", "key", "invalid", "example", "uk", "json", "csv"}


def _named_paths(text: str) -> set[str]:
    return {m for m in PATH.findall(text) if not m.endswith((".db", ".key"))}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_file_the_docs_name_exists(doc: Path) -> None:
    missing = sorted(p for p in _named_paths(doc.read_text()) if not (ROOT / p).exists())
    assert not missing, f"{doc.name} names files that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_module_the_docs_name_exists(doc: Path) -> None:
    named = {d for d in DOTTED.findall(doc.read_text()) if not NOT_CODE & set(d.split("."))}
    missing = sorted(d for d in named if not _resolves(d))
    assert not missing, f"{doc.name} names modules that do not exist: {missing}"


def _resolves(dotted: str) -> bool:
    """The longest importable prefix, then attributes of it (``module.Class.method``)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(found, attribute):
                return False
            found = getattr(found, attribute)
        return True
    return False


def test_the_path_pattern_finds_what_a_reader_would_open() -> None:
    text = "see `ledger/engine/decide.py` and ledger/nowhere.py, not qp-ledger.db"
    assert _named_paths(text) == {"ledger/engine/decide.py", "ledger/nowhere.py"}


def test_a_module_that_is_not_there_does_not_resolve() -> None:
    assert _resolves("ledger.engine.decide.decide")
    assert not _resolves("ledger.nowhere")
    assert not _resolves("ledger.application.QPLedger")
