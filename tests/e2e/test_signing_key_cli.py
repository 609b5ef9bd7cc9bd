"""The signing key as an operator meets it: on stderr from the CLI, in the server log.

A new key is announced with its full path (starting from another directory
makes one without anything else looking different), and an existing key file
that group or others can read is used only with a warning that names it and
says how to fix it. Both backends: the database decides where the default
key lives (beside a SQLite file, else the working directory).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask

from api import create_app
from ledger.adapters.tokens import TokenStore
from ledger.integrity.signing import default_key_file

SCRIPT = shutil.which("qp-ledger", path=str(Path(sys.executable).parent)) or "qp-ledger"

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")


def qp(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QP_LEDGER_")}
    return subprocess.run(
        [SCRIPT, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=300
    )


def test_the_cli_announces_a_new_key_and_warns_about_an_exposed_one(
    database_url: str, tmp_path: Path
) -> None:
    cwd = tmp_path / "operator"
    cwd.mkdir()
    key = (cwd / default_key_file(database_url)).resolve()
    first = qp(cwd, "checkpoint", "--database-url", database_url)
    assert first.returncode == 0, first.stderr
    assert "WARNING: created a new checkpoint signing key in" in first.stderr
    assert str(key) in first.stderr
    assert oct(key.stat().st_mode & 0o777) == "0o600"

    key.chmod(0o644)
    kept = key.read_bytes()
    second = qp(cwd, "checkpoint", "--database-url", database_url)
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout  # same log, same key: the same checkpoint body
    assert f"WARNING: the checkpoint signing key {key} has mode 0644" in second.stderr
    assert f"chmod 600 {key}" in second.stderr
    assert "created" not in second.stderr
    assert key.read_bytes() == kept


def test_starting_in_another_directory_makes_a_new_key_and_says_where(tmp_path: Path) -> None:
    """The default database (a SQLite file here) and its key follow the directory."""
    first_dir, second_dir = tmp_path / "monday", tmp_path / "tuesday"
    first_dir.mkdir()
    second_dir.mkdir()
    assert qp(first_dir, "checkpoint").returncode == 0
    moved = qp(second_dir, "checkpoint")
    assert moved.returncode == 0, moved.stderr
    new_key = second_dir.resolve() / "qp-ledger-signing.key"
    assert f"created a new checkpoint signing key in qp-ledger-signing.key (that is {new_key})" in (
        moved.stderr
    )
    assert "you are using another database or directory than before" in moved.stderr
    assert (first_dir / "qp-ledger-signing.key").read_bytes() != new_key.read_bytes()


def _get_log_key(
    database_url: str, key: Path, caplog: pytest.LogCaptureFixture
) -> tuple[int, str, list[logging.LogRecord]]:
    """Start the server on ``key`` and GET /log/key as an auditor: the status, the
    body, and what was logged by then (warnings and above while serving)."""
    app: Flask = create_app(
        {
            "QP_LEDGER_DATABASE_URL": database_url,
            "TESTING": True,
            "QP_LEDGER_SIGNING_KEY_FILE": str(key),
        }
    )
    try:
        _, token = TokenStore(engine=app.extensions["qp_ledger"].store.datastore.engine).create(
            "auditor", None
        )
        headers = {"Authorization": f"Bearer {token}"}
        with caplog.at_level(logging.WARNING):
            response = app.test_client().get("/log/key", headers=headers)
        return response.status_code, response.get_data(as_text=True), list(caplog.records)
    finally:
        app.extensions["qp_ledger"].close()


def test_the_server_logs_an_exposed_key_and_still_serves_the_log(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key = tmp_path / "signing.key"
    status, _, records = _get_log_key(database_url, key, caplog)
    assert status == 200
    assert any(f"created a new checkpoint signing key in {key}" in r.getMessage() for r in records)

    key.chmod(0o640)
    caplog.clear()
    status, text, records = _get_log_key(database_url, key, caplog)
    assert status == 200
    warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert any(f"{key.resolve()} has mode 0640" in w for w in warnings), warnings
    assert str(key) not in text  # paths stay in the log
