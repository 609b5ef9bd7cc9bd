"""``--database-url`` where users put it: before the command name as well as after.

``qp-ledger --database-url X decision …`` used to be refused ("no such
option"); it now reaches every command, below the command's own option and
above the environment variable. A test that could pass by accident on the
default database would prove nothing, so each run happens in a directory
where the default database must *not* appear.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

SCRIPT = shutil.which("qp-ledger", path=str(Path(sys.executable).parent)) or "qp-ledger"


def qp(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("QP_LEDGER_")}
    return subprocess.run(
        [SCRIPT, *args], cwd=cwd, capture_output=True, text=True, env={**base, **env}, timeout=300
    )


def test_the_option_before_the_command_reaches_it(database_url: str, tmp_path: Path) -> None:
    loaded = qp(tmp_path, "--database-url", database_url, "demo", "--ccgs", "1")
    assert loaded.returncode == 0, loaded.stderr
    stored = json.loads(loaded.stdout.splitlines()[-1])["stored"]
    assert stored > 0

    decided = qp(
        tmp_path, "--database-url", database_url, "decision", "00C", "--scheme", "qp-2013-14",
        "--json",
    )  # fmt: skip
    assert decided.returncode == 0, decided.stderr
    assert json.loads(decided.stdout)["position"] == json.loads(loaded.stdout)["last_position"]
    history = qp(
        tmp_path, "--database-url", database_url, "history", "00C", "--scheme", "qp-2013-14"
    )
    assert history.returncode == 0 and "record_opened" in history.stdout
    assert not (tmp_path / "qp-ledger.db").exists()  # nothing went to the default database


def test_the_commands_own_option_wins_then_the_group_then_the_environment(
    database_url: str, tmp_path: Path
) -> None:
    assert qp(tmp_path, "demo", "--ccgs", "1", "--database-url", database_url).returncode == 0
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    elsewhere = {"QP_LEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'env.db'}"}

    def events(*args: str, **env: str) -> int:
        result = qp(tmp_path, *args, "00C", "--scheme", "qp-2013-14", **env)
        assert result.returncode in (0, 1), result.stderr
        return sum(1 for line in result.stdout.splitlines() if line.strip())

    full = events("history", "--database-url", database_url)
    assert full > 0
    # The group's option beats the environment ...
    assert events("--database-url", database_url, "history", **elsewhere) == full
    # ... and the command's own option beats the group's.
    assert events("--database-url", empty, "history", "--database-url", database_url) == full
    assert events("--database-url", database_url, "history", "--database-url", empty) == 0
    assert not (tmp_path / "env.db").exists()
