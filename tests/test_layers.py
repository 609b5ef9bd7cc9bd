"""The import-linter contracts catch what they promise to catch.

CI runs ``lint-imports`` on the tree as it is; this checks the contracts are
not vacuous: in a copy of the packages, one upward import (the engine
reaching into the service) and one database import in the pure core must
each break the build, naming the import.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not LINT_IMPORTS.exists():
        pytest.skip("lint-imports is not installed (pip install -e '.[test]')")
    where = tmp_path_factory.mktemp("layers")
    for package in ("ledger", "api"):
        shutil.copytree(ROOT / package, where / package, ignore=shutil.ignore_patterns("vendor"))
    shutil.copy(ROOT / "pyproject.toml", where / "pyproject.toml")
    return where


def _lint_with_line(tree: Path, module: str, line: str) -> subprocess.CompletedProcess[str]:
    """Lint the copy with ``line`` added to ``module``, then put the module back."""
    path = tree / module
    text = path.read_text()
    anchor = "from __future__ import annotations\n"
    assert anchor in text, f"{module} has no __future__ import to anchor the edit"
    path.write_text(text.replace(anchor, anchor + line + "\n", 1))
    try:
        return _lint(tree)
    finally:
        shutil.copy(ROOT / module, path)


def test_the_copy_passes_as_the_repository_does(tree: Path) -> None:
    result = _lint(tree)
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_upward_import_breaks_the_layers_and_makes_a_cycle(tree: Path) -> None:
    result = _lint_with_line(
        tree, "ledger/engine/diff.py", "import ledger.service.application  # noqa"
    )
    assert result.returncode != 0
    assert "ledger.engine is not allowed to import ledger.service" in result.stdout
    assert "ledger.engine.diff -> ledger.service.application" in result.stdout
    assert "No cycles are allowed in ledger." in result.stdout


def test_a_database_import_in_the_engine_breaks_the_pure_core(tree: Path) -> None:
    result = _lint_with_line(tree, "ledger/engine/decide.py", "import sqlalchemy  # noqa")
    assert result.returncode != 0
    assert "ledger.engine.decide -> sqlalchemy" in result.stdout
