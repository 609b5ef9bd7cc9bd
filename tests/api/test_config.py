"""Settings: read from QP_LEDGER_* variables, overridable by create_app, documented in one table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from api.config import DEFAULT_MAX_BODY_BYTES, DEFAULT_PORT, SETTINGS, config_from_env

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_and_environment() -> None:
    defaults = config_from_env({})
    assert defaults["QP_LEDGER_MAX_BODY_BYTES"] == DEFAULT_MAX_BODY_BYTES
    assert defaults["QP_LEDGER_PORT"] == DEFAULT_PORT == 8000
    assert defaults["QP_LEDGER_DATABASE_URL"] == "sqlite:///qp-ledger.db"
    env = config_from_env({"QP_LEDGER_MAX_BODY_BYTES": "1024", "QP_LEDGER_PORT": " "})
    assert env["QP_LEDGER_MAX_BODY_BYTES"] == 1024 and env["QP_LEDGER_PORT"] == DEFAULT_PORT
    with pytest.raises(ValueError, match="QP_LEDGER_MAX_BODY_BYTES"):
        config_from_env({"QP_LEDGER_MAX_BODY_BYTES": "lots"})


def test_create_app_reads_the_environment(sqlite_url, monkeypatch) -> None:
    from api import create_app

    monkeypatch.setenv("QP_LEDGER_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("QP_LEDGER_MAX_BODY_BYTES", "2048")
    app = create_app()
    assert app.config["MAX_CONTENT_LENGTH"] == 2048
    assert app.extensions["qp_ledger"].database_url == sqlite_url
    app.extensions["qp_ledger"].close()


def test_every_setting_is_in_the_one_table() -> None:
    """docs/configuration.md lists every QP_LEDGER_* variable the code reads."""
    doc = (ROOT / "docs" / "configuration.md").read_text()
    documented = set(re.findall(r"^\| `(QP_LEDGER_[A-Z_]+)`", doc, re.MULTILINE))
    used = set()
    for folder in ("api", "ledger", "bench"):
        for path in (ROOT / folder).rglob("*.py"):
            used |= set(re.findall(r"QP_LEDGER_[A-Z_]+", path.read_text()))
    used |= set(re.findall(r"QP_LEDGER_[A-Z_]+", (ROOT / "tests" / "conftest.py").read_text()))
    used.discard("QP_LEDGER_")  # the prefix itself, in prose
    assert {s.name for s in SETTINGS} <= documented
    assert used <= documented, f"undocumented: {sorted(used - documented)}"
