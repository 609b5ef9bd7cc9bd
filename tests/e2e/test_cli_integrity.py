"""``qp-ledger checkpoint|verify|proof|leaf``, run as an operator and an auditor would.

The operator signs checkpoints (the key is made on first use, and the
command says where and what to publish); the auditor takes the JSON and
files these commands write and checks them with nothing but the pure
verifier (``python -m ledger.integrity.verifier``) and the published key.
Forged input — proofs with attacker-chosen, empty or oversized paths, wrong
sizes, forged checkpoints, junk files — is refused with a clear message and
a non-zero exit, never a traceback. Exit codes (docs/cli.md): 0 ok; 1 not
verified, or nothing in the log to prove; 2 a usage error.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ledger.integrity.verifier import main as verifier_main
from tests.ledgerkit import consistency_check, inclusion_check

SCRIPT = shutil.which("qp-ledger", path=str(Path(sys.executable).parent)) or "qp-ledger"
SCHEME = "qp-2013-14"


def run(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("QP_LEDGER_")}
    return subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, env={**base, **(env or {})}, timeout=300
    )


def qp(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The console script in ``cwd``, on the default database there (qp-ledger.db)."""
    return run([SCRIPT, *args], cwd, env)


def verifier(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "ledger.integrity.verifier", *args], cwd)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def refused(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with a small log (the demo year of 3 CCGs) and nothing else."""
    cwd = tmp_path_factory.mktemp("auditor")
    ok(qp(cwd, "demo", "--ccgs", "3"))
    return cwd


def test_the_operator_signs_and_the_auditor_verifies_from_files(workdir: Path) -> None:
    cwd = workdir
    # First use: the key is made beside the default database, and the command says so.
    first = qp(cwd, "checkpoint", "--out", "old.txt")
    ok(first)
    key_file = cwd / "qp-ledger-signing.key"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert f"created a new checkpoint signing key in {key_file.name}" in first.stderr
    published = ok(qp(cwd, "checkpoint", "--verifier-key")).strip()
    assert published.startswith("qp-ledger/log+") and published in first.stderr
    (cwd / "verifier.key").write_text(published + "\n")
    assert "created" not in qp(cwd, "checkpoint").stderr  # made once
    # The log grows; a new checkpoint; the proofs an auditor asks for.
    lines = "".join(
        json.dumps(
            {
                "type": "population_recorded",
                "ccg": "06F",
                "scheme": SCHEME,
                "population": 449_953 + n,
                "source": "ONS",
            }
        )
        + "\n"
        for n in range(5)
    )
    (cwd / "more.jsonl").write_text(lines)
    ok(qp(cwd, "import", "more.jsonl"))
    ok(qp(cwd, "checkpoint", "--out", "new.txt"))
    old_size = int((cwd / "old.txt").read_text().splitlines()[1])
    new_size = int((cwd / "new.txt").read_text().splitlines()[1])
    assert new_size == old_size + 6  # five populations and 06F's record opened
    (cwd / "consistency.json").write_text(
        ok(qp(cwd, "proof", "consistency", str(old_size), str(new_size)))
    )
    leaf = json.loads(ok(qp(cwd, "leaf", "10", "--out", "event-10.leaf")))
    assert base64.b64decode(leaf["leaf"]) == (cwd / "event-10.leaf").read_bytes()
    assert leaf["position"] == leaf["fields"]["position"] == 10
    assert json.loads(ok(qp(cwd, "leaf", "10", "--encoding", "hex")))["leaf"] == (
        (cwd / "event-10.leaf").read_bytes().hex()
    )
    (cwd / "inclusion.json").write_text(ok(qp(cwd, "proof", "inclusion", "10")))
    (cwd / "inclusion-old.json").write_text(
        ok(qp(cwd, "proof", "inclusion", "10", "--size", str(old_size)))
    )
    key = "@verifier.key"
    out = ok(verifier(cwd, "checkpoint", "--key", key, "new.txt"))
    assert f"tree size {new_size}" in out
    out = ok(verifier(cwd, *inclusion_check(key, "event-10.leaf", "inclusion.json", "new.txt")))
    assert "VERIFIED" in out
    ok(verifier(cwd, *inclusion_check(key, "event-10.leaf", "inclusion-old.json", "old.txt")))
    out = ok(verifier(cwd, *consistency_check(key, "old.txt", "consistency.json", "new.txt")))
    assert f"consistency {old_size} -> {new_size}: VERIFIED" in out
    # The operator's own check, against the checkpoint the auditor kept.
    out = ok(qp(cwd, "verify", "--checkpoint", "old.txt", "--key", key))
    assert f"consistency proof {old_size} -> {new_size}: verified" in out
    assert "OK: every event, hash chain and Merkle node matches" in out
    document = json.loads(ok(qp(cwd, "checkpoint", "--json")))
    assert document["tree_size"] == new_size
    assert document["checkpoint"] == (cwd / "new.txt").read_text()


def forged_proofs(proof: dict[str, Any]) -> dict[str, Any]:
    """Attacker-chosen variants of an inclusion proof document, by name."""
    path = proof["inclusion_path"]
    junk = base64.b64encode(b"\x42" * 32).decode()
    return {
        "attacker-chosen path": {**proof, "inclusion_path": [junk] * len(path)},
        "empty path": {**proof, "inclusion_path": []},
        "oversized path": {**proof, "inclusion_path": path * 500},
        "one hash too many": {**proof, "inclusion_path": [*path, junk]},
        "short hash": {**proof, "inclusion_path": [base64.b64encode(b"x").decode(), *path[1:]]},
        "not base64": {**proof, "inclusion_path": ["%%%", *path[1:]]},
        "wrong index": {**proof, "leaf_index": proof["leaf_index"] + 1},
        "index beyond size": {**proof, "leaf_index": proof["tree_size"]},
        "wrong size": {**proof, "tree_size": proof["tree_size"] - 1},
        "negative size": {**proof, "tree_size": -1},
        "huge size": {**proof, "tree_size": 2**70},
        "size as text": {**proof, "tree_size": str(proof["tree_size"])},
        "no path": {k: v for k, v in proof.items() if k != "inclusion_path"},
        "path not a list": {**proof, "inclusion_path": "AAAA"},
        "a list": [proof],
    }


def test_forged_proofs_and_checkpoints_are_refused_clearly(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cwd = workdir
    ok(qp(cwd, "checkpoint", "--out", "now.txt"))
    (cwd / "verifier.key").write_text(ok(qp(cwd, "checkpoint", "--verifier-key")))
    (cwd / "event-5.leaf").write_bytes(
        base64.b64decode(json.loads(ok(qp(cwd, "leaf", "5")))["leaf"])
    )
    proof = json.loads(ok(qp(cwd, "proof", "inclusion", "5")))
    common = ["--key", f"@{cwd / 'verifier.key'}", "--leaf", str(cwd / "event-5.leaf")]
    (cwd / "proof.json").write_text(json.dumps(proof))
    assert (
        verifier_main(
            ["inclusion", *common, "--proof", str(cwd / "proof.json"), str(cwd / "now.txt")]
        )
        == 0
    )
    for name, forged in forged_proofs(proof).items():
        (cwd / "forged.json").write_text(json.dumps(forged))
        capsys.readouterr()
        code = verifier_main(
            ["inclusion", *common, "--proof", str(cwd / "forged.json"), str(cwd / "now.txt")]
        )
        output = capsys.readouterr()
        assert code == 1, name
        assert "FAILED" in output.out or "NOT VERIFIED:" in output.err, name
    (cwd / "forged.json").write_text("{not json")
    assert (
        verifier_main(
            ["inclusion", *common, "--proof", str(cwd / "forged.json"), str(cwd / "now.txt")]
        )
        == 1
    )
    # A forged proof file through the real command line: one line, exit 1, no traceback.
    (cwd / "forged.json").write_text(json.dumps(forged_proofs(proof)["oversized path"]))
    result = verifier(cwd, "inclusion", *common, "--proof", "forged.json", "now.txt")
    assert "NOT VERIFIED: inclusion path has" in refused(result)

    # Forged checkpoints handed to `qp-ledger verify`.
    note = (cwd / "now.txt").read_text()
    origin, size, root = note.split("\n")[:3]
    other = cwd / "other"
    other.mkdir()
    ok(qp(other, "checkpoint", "--out", "theirs.txt"))  # another log's key
    forged_notes: dict[str, str | bytes] = {
        "bigger size": note.replace(f"\n{size}\n", f"\n{int(size) + 1}\n"),
        "other root": note.replace(root, base64.b64encode(b"\x00" * 32).decode()),
        "other key": (other / "theirs.txt").read_text(),
        "no signature": f"{origin}\n{size}\n{root}\n",
        "empty": "",
        "garbage": "hello\nworld\n",
        "binary": b"\xff\xfe\x00\x01" * 10,
    }
    for name, forged in forged_notes.items():
        path = cwd / "forged.txt"
        path.write_bytes(forged if isinstance(forged, bytes) else forged.encode())
        error = refused(qp(cwd, "verify", "--checkpoint", "forged.txt"))
        assert "checkpoint forged.txt: NOT VERIFIED:" in error, name
    assert "no such file" in refused(qp(cwd, "verify", "--checkpoint", "missing.txt"), 2)
    # Checked with someone else's key, the real checkpoint is refused too.
    theirs = ok(qp(other, "checkpoint", "--verifier-key")).strip()
    error = refused(qp(cwd, "verify", "--checkpoint", "now.txt", "--key", theirs))
    assert "is not signed by" in error
    assert "--key:" in refused(qp(cwd, "verify", "--checkpoint", "now.txt", "--key", "junk"), 2)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["proof", "inclusion", "0"], "not a log position"),
        (["proof", "inclusion", "100000"], "position 100000 is not in the Merkle log"),
        (["proof", "inclusion", "5", "--size", "3"], "in trees of size 5 and more, not 3"),
        (["proof", "inclusion", "5", "--size", "100000"], "tree_size: tree size 100000 is not"),
        (["proof", "inclusion", "5", "--size", "-1"], "tree_size: tree size -1 is not"),
        (["proof", "consistency", "5", "2"], "first: tree size 5 is larger than second, 2"),
        (["proof", "consistency", "100000"], "first: tree size 100000 is not"),
        (["leaf", "99999999999999999999999"], "is not in the Merkle log"),
        (["leaf", "--", "-3"], "not a log position"),
    ],
)
def test_requests_the_log_cannot_answer_are_refused(
    workdir: Path, args: list[str], message: str
) -> None:
    # The log was asked and has no such position or tree size: refused (1), as
    # `decision --position` beyond the log is; not a malformed command line (2).
    error = refused(qp(workdir, *args), 1)
    assert error.startswith("error: ") and message in error


def test_a_key_file_made_for_another_log_is_refused(workdir: Path, tmp_path: Path) -> None:
    key = tmp_path / "k.key"
    ok(qp(workdir, "checkpoint", QP_LEDGER_SIGNING_KEY_FILE=str(key)))
    error = refused(
        qp(workdir, "checkpoint", QP_LEDGER_SIGNING_KEY_FILE=str(key), QP_LEDGER_LOG_ORIGIN="x/y"),
        2,
    )
    assert f"{key} holds the key for 'qp-ledger/log', not 'x/y'" in error
    # Verifying never makes a key: without one it asks for the published key.
    ok(qp(workdir, "checkpoint", "--out", "mine.txt"))
    none = str(tmp_path / "none.key")
    error = refused(
        qp(workdir, "verify", "--checkpoint", "mine.txt", QP_LEDGER_SIGNING_KEY_FILE=none), 2
    )
    assert "give the published verifier key with --key" in error
    assert not (tmp_path / "none.key").exists()
