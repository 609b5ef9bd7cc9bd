"""``qp-ledger witness``: an auditor cosigns checkpoints on their own machine (issue 11 item 2).

Real processes and files throughout: the operator's ``qp-ledger
checkpoint`` / ``proof consistency`` on a SQLite ledger; the auditor's
``qp-ledger witness keygen|cosign`` with their own key and state file,
from those files or from URLs; readers' ``verify --checkpoint
--witness-key`` and the offline verifier. The attack the witness exists
for: an operator who rewrites the log, removes the signer's memory and
signs the rewrite gets no cosignature for it. Exit codes (docs/cli.md): 0
cosigned / verified, 1 refused naming why, 2 usage.
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.integrity.checkpoint import Signer, sign_checkpoint
from ledger.integrity.signing import load_signer
from ledger.integrity.witness import create_witness_key
from ledger.service.application import QPLedger
from tests.integration.bundlekit import ORIGIN as BUNDLE_ORIGIN
from tests.integration.bundlekit import export, issued_records, verifier_key
from tests.ledgerkit import population, rewrite_event, small_log

ORIGIN = "qp-ledger.test/witnessed"
BIN = Path(sys.executable).parent


class Site:
    """One ledger (operator side) and one auditor directory, each driven by real commands."""

    def __init__(self, root: Path, database_url: str) -> None:
        self.operator = root / "operator"
        self.auditor = root / "auditor"
        self.operator.mkdir()
        self.auditor.mkdir()
        self.database_url = database_url
        self.key = self.operator / "signing.key"

    def run(self, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("QP_LEDGER_")}
        base.update(
            QP_LEDGER_DATABASE_URL=self.database_url,
            QP_LEDGER_SIGNING_KEY_FILE=str(self.key),
            QP_LEDGER_LOG_ORIGIN=ORIGIN,
        )
        command = [str(BIN / "qp-ledger"), *args]
        if args[0] == "-m":
            command = [sys.executable, *args]
        return subprocess.run(
            command, cwd=cwd, capture_output=True, text=True, env={**base, **env}, timeout=300
        )

    def operate(self, *args: str) -> str:
        return ok(self.run(self.operator, *args))

    def audit(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return self.run(self.auditor, *args, **env)

    def hand_over(self, name: str, text: str) -> str:
        """Give the auditor a file (as they would download it)."""
        (self.auditor / name).write_text(text)
        return name

    def checkpoint(self, name: str) -> tuple[str, int]:
        note = self.operate("checkpoint")
        return self.hand_over(name, note), int(note.split("\n")[1])

    def proof(self, old: int, new: int) -> str:
        return self.hand_over(
            f"proof-{old}-{new}.json", self.operate("proof", "consistency", str(old), str(new))
        )

    def cosign(
        self, witness: str, checkpoint: str, *proofs: str, log_key: str = "@log.vkey", **env: str
    ) -> subprocess.CompletedProcess[str]:
        args = ["witness", "cosign", "--key-file", f"{witness}.key", "--state", f"{witness}.state"]
        args += ["--log-key", log_key, "--checkpoint", checkpoint]
        for proof in proofs:
            args += ["--proof", proof]
        return self.audit(*args, **env)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def refused(result: subprocess.CompletedProcess[str], reason: str, code: int = 1) -> str:
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert reason in result.stderr, result.stderr
    return result.stderr


@pytest.fixture
def ledger(sqlite_url: str) -> Iterator[QPLedger]:
    app = small_log(sqlite_url)
    yield app
    app.close()


@pytest.fixture
def site(tmp_path: Path, sqlite_url: str, ledger: QPLedger) -> Site:
    site = Site(tmp_path, sqlite_url)
    # Keys made in-process (the commands that make them have their own test).
    site.hand_over("log.vkey", f"{load_signer(site.key, ORIGIN)[0].verifier}\n")
    for witness in ("w1", "w2"):
        made = create_witness_key(site.auditor / f"{witness}.key", f"auditor.example/{witness}")
        site.hand_over(f"{witness}.vkey", f"{made.key}\n")
    return site


def test_keygen_makes_a_private_key_once_and_prints_the_key_to_trust(site: Site) -> None:
    args = ("witness", "keygen", "--key-file", "w3.key", "--name", "auditor.example/w3")
    vkey = ok(site.audit(*args)).strip()
    key = site.auditor / "w3.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_text().startswith("PRIVATE+KEY+auditor.example/w3+")
    assert vkey.startswith("auditor.example/w3+")
    assert ok(site.audit("witness", "verifier-key", "--key-file", "w3.key")).strip() == vkey
    before = key.read_bytes()
    refused(site.audit(*args), "exists already", 2)
    assert key.read_bytes() == before


def test_the_witness_follows_the_log_and_readers_require_its_cosignature(
    site: Site, ledger: QPLedger
) -> None:
    first, size_a = site.checkpoint("cp-a.txt")
    cosigned = ok(site.cosign("w1", first))  # the first checkpoint of a log needs no proof
    assert cosigned.startswith((site.auditor / first).read_text())
    assert cosigned.splitlines()[-1].startswith("\u2014 auditor.example/w1 ")
    state = site.auditor / "w1.state"
    assert stat.S_IMODE(state.stat().st_mode) == 0o600

    ledger.execute(population("00F", 5))
    second, size_b = site.checkpoint("cp-b.txt")
    # Several proofs may be given; the one from the size last cosigned is used.
    proofs = site.proof(0, size_b), site.proof(size_a, size_b)
    out = site.cosign("w1", second, *proofs)
    assert ok(out).count("\u2014 ") == 2
    site.hand_over("cos-b.txt", out.stdout)
    assert json.loads(state.read_text())["logs"][ORIGIN]["checkpoint"] == out.stdout

    # Readers: with the witness listed, only the cosigned checkpoint passes.
    report = ok(
        site.audit(
            "verify", "--checkpoint", "cos-b.txt", "--key", "@log.vkey", "--witness-key", "@w1.vkey"
        )
    )
    assert "cosigned by 1 of the witnesses given (1 required): auditor.example/w1+" in report
    w1 = (site.auditor / "w1.vkey").read_text().strip()
    stderr = refused(
        site.audit(
            "verify", "--checkpoint", "cp-b.txt", "--key", "@log.vkey", "--witness-key", "@w1.vkey"
        ),
        "NOT VERIFIED",
    )
    assert f"missing {w1}" in stderr
    offline = ("-m", "ledger.integrity.verifier", "checkpoint", "--key", "@log.vkey")
    ok(site.audit(*offline, "--witness-key", "@w1.vkey", "cos-b.txt"))
    refused(site.audit(*offline, "--witness-key", "@w1.vkey", "cp-b.txt"), f"missing {w1}")

    # Two witnesses required: w2 must cosign too; it starts from this checkpoint.
    two = ["--witness-key", "@w1.vkey", "--witness-key", "@w2.vkey", "--require-cosignatures", "2"]
    w2 = (site.auditor / "w2.vkey").read_text().strip()
    stderr = refused(
        site.audit("verify", "--checkpoint", "cos-b.txt", "--key", "@log.vkey", *two),
        "1 of the 2 required",
    )
    assert f"missing {w2}" in stderr and f"missing {w1}" not in stderr
    both = ok(site.cosign("w2", "cos-b.txt"))
    site.hand_over("cos-b2.txt", both)
    ok(site.audit("verify", "--checkpoint", "cos-b2.txt", "--key", "@log.vkey", *two))
    ok(
        site.audit(
            "verify",
            "--checkpoint",
            "cos-b2.txt",
            "--key",
            "@log.vkey",
            *two[:4],
            "--require-cosignatures",
            "1",
        )
    )


def test_an_old_checkpoint_is_refused_as_stale(site: Site, ledger: QPLedger) -> None:
    first, _size_a = site.checkpoint("cp-a.txt")
    ledger.execute(population("00F", 5))
    second, _size_b = site.checkpoint("cp-b.txt")
    ok(site.cosign("w1", second))
    state = (site.auditor / "w1.state").read_bytes()
    refused(site.cosign("w1", first), "NOT COSIGNED (stale)")
    assert (site.auditor / "w1.state").read_bytes() == state


def test_a_signed_rewrite_of_the_log_gets_no_cosignature(site: Site, ledger: QPLedger) -> None:
    first, size_a = site.checkpoint("cp-a.txt")
    ok(site.cosign("w1", first))
    state = (site.auditor / "w1.state").read_bytes()

    # The operator rewrites an event and rebuilds every hash: the signer refuses...
    rewrite_event(ledger, 3)
    assert site.run(site.operator, "checkpoint").returncode == 1
    # ...so they remove its memory and sign the rewrite after all.
    (site.operator / "signing.key.last-signed").unlink()
    forged, size = site.checkpoint("cp-forged.txt")
    assert size == size_a and forged != first
    stderr = refused(site.cosign("w1", forged), "NOT COSIGNED (fork)")
    assert (site.auditor / "w1.state").read_bytes() == state
    # Both notes the log signed for that size are kept: a fork anyone can check.
    assert "both signed checkpoints are kept in w1.state.evidence" in stderr
    evidence = (site.auditor / "w1.state.evidence").read_text()
    assert (site.auditor / forged).read_text() in evidence
    assert (site.auditor / first).read_text().rstrip("\n") in evidence

    # Grown past the cosigned size, with the rewritten log's own proof: still a fork.
    ledger.execute(population("00F", 5))
    grown, size_c = site.checkpoint("cp-grown.txt")
    stderr = refused(site.cosign("w1", grown, site.proof(size_a, size_c)), "NOT COSIGNED (fork)")
    assert "does not verify" in stderr
    assert (site.auditor / "w1.state").read_bytes() == state


def test_bad_signatures_proofs_and_origins_are_refused_by_name(
    site: Site, ledger: QPLedger
) -> None:
    first, size_a = site.checkpoint("cp-a.txt")
    ok(site.cosign("w1", first))
    ledger.execute(population("00F", 5))
    second, size_b = site.checkpoint("cp-b.txt")
    note = (site.auditor / second).read_text()
    proof = json.loads((site.auditor / site.proof(size_a, size_b)).read_text())

    lines = note.split("\n")
    root = base64.b64decode(lines[2])
    edited = "\n".join(
        [lines[0], lines[1], base64.b64encode(bytes([root[0] ^ 1]) + root[1:]).decode(), *lines[3:]]
    )
    refused(site.cosign("w1", site.hand_over("edited.txt", edited)), "NOT COSIGNED (bad-signature)")

    garbage = {
        **proof,
        "consistency_path": [base64.b64encode(bytes(32)).decode()] * len(proof["consistency_path"]),
    }
    refused(
        site.cosign("w1", second, site.hand_over("garbage.json", json.dumps(garbage))),
        "NOT COSIGNED (fork)",
    )
    short = {**proof, "consistency_path": proof["consistency_path"][:-1]}
    refused(
        site.cosign("w1", second, site.hand_over("short.json", json.dumps(short))),
        "NOT COSIGNED (bad-proof)",
    )
    refused(
        site.cosign("w1", second, site.hand_over("junk.json", "not a proof")),
        "NOT COSIGNED (bad-proof)",
    )
    refused(site.cosign("w1", second), "NOT COSIGNED (wrong-proof)")

    other = Signer.generate("other.example/log")
    site.hand_over("other.vkey", str(other.verifier))
    foreign = sign_checkpoint("other.example/log", 3, bytes(32), other)
    refused(
        site.cosign("w1", site.hand_over("foreign.txt", foreign)), "NOT COSIGNED (unknown-origin)"
    )
    # The same origin under another key is not the log this witness follows.
    impostor = Signer.generate(ORIGIN)
    site.hand_over("impostor.vkey", str(impostor.verifier))
    fake = sign_checkpoint(ORIGIN, size_b, bytes(32), impostor)
    result = site.cosign("w1", site.hand_over("fake.txt", fake), log_key="@impostor.vkey")
    refused(result, "NOT COSIGNED (unknown-origin)")
    # After all that, the honest proof still works.
    ok(site.cosign("w1", second, f"proof-{size_a}-{size_b}.json"))


def test_a_state_file_edited_without_the_witness_key_is_not_believed(
    site: Site, ledger: QPLedger
) -> None:
    first, _size_a = site.checkpoint("cp-a.txt")
    ok(site.cosign("w1", first))
    ledger.execute(population("00F", 5))
    second, _size_b = site.checkpoint("cp-b.txt")
    state = site.auditor / "w1.state"
    document = json.loads(state.read_text())
    # Roll the state back to "never seen": put the bare, uncosigned checkpoint in it.
    document["logs"][ORIGIN]["checkpoint"] = (site.auditor / first).read_text()
    state.write_text(json.dumps(document))
    refused(site.cosign("w1", second), "NOT COSIGNED (state)")
    state.write_text("{")
    refused(site.cosign("w1", second), "NOT COSIGNED (state)")
    # Another witness's state is not this witness's.
    ok(site.cosign("w2", first))
    (site.auditor / "w2.state").replace(state)
    refused(site.cosign("w1", first), "belongs to witness auditor.example/w2")


def test_one_byte_changed_in_the_cosignature_and_readers_refuse_it(site: Site) -> None:
    first, _ = site.checkpoint("cp-a.txt")
    cosigned = ok(site.cosign("w1", first))
    body, line = cosigned.rstrip("\n").rsplit("\n", 1)
    prefix, encoded = line.rsplit(" ", 1)
    raw = bytearray(base64.b64decode(encoded))
    raw[40] ^= 0x01
    site.hand_over("forged.txt", f"{body}\n{prefix} {base64.b64encode(raw).decode()}\n")
    stderr = refused(
        site.audit(
            "verify",
            "--checkpoint",
            "forged.txt",
            "--key",
            "@log.vkey",
            "--witness-key",
            "@w1.vkey",
        ),
        "does not verify",
    )
    assert "auditor.example/w1+" in stderr


def test_usage_errors_exit_2(site: Site) -> None:
    first, _ = site.checkpoint("cp-a.txt")
    for key_file, log_key, checkpoint, reason in (
        ("none.key", "@log.vkey", first, "no witness key file"),
        ("w1.key", "junk", first, "--log-key"),
        ("w1.key", "@log.vkey", "missing.txt", "cannot read missing.txt"),
        ("log.vkey", "@log.vkey", first, "--key-file"),
    ):
        cosign = ("--key-file", key_file, "--state", "s", "--log-key", log_key)
        refused(site.audit("witness", "cosign", *cosign, "--checkpoint", checkpoint), reason, 2)
    refused(
        site.audit(
            "verify", "--checkpoint", first, "--key", "@log.vkey", "--witness-key", "@log.vkey"
        ),
        "--witness-key",
        2,
    )
    refused(
        site.audit(
            "verify",
            "--checkpoint",
            first,
            "--key",
            "@log.vkey",
            "--witness-key",
            "@w1.vkey",
            "--require-cosignatures",
            "2",
        ),
        "only 1 distinct",
        2,
    )
    refused(site.audit("verify", "--witness-key", "@w1.vkey"), "--checkpoint", 2)


class _LogServer(http.server.BaseHTTPRequestHandler):
    """The API's /log/checkpoint and /log/consistency, answered from the operator's CLI."""

    site: Site
    token = "qpl_test-token"
    asked: list[str] = []

    def do_GET(self) -> None:
        self.asked.append(self.path)
        if self.headers.get("Authorization") != f"Bearer {self.token}":
            self.send_response(401)
            self.end_headers()
            return
        if self.path == "/log/checkpoint":
            body = self.site.operate("checkpoint")
        else:
            query = dict(q.split("=") for q in self.path.split("?", 1)[1].split("&"))
            body = self.site.operate("proof", "consistency", query["first"], query["second"])
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


def test_the_witness_fetches_the_checkpoint_and_the_proof_it_needs_from_urls(
    site: Site, ledger: QPLedger
) -> None:
    first, size_a = site.checkpoint("cp-a.txt")
    ok(site.cosign("w1", first))
    ledger.execute(population("00F", 5))
    handler = type("Handler", (_LogServer,), {"site": site, "asked": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        urls = f"{base}/log/checkpoint", f"{base}/log/consistency"
        refused(site.cosign("w1", *urls), "cannot fetch", 2)  # no token
        out = ok(site.cosign("w1", *urls, QP_LEDGER_API_TOKEN=_LogServer.token))
    finally:
        server.shutdown()
        server.server_close()
    size_b = int(out.split("\n")[1])
    assert size_b == size_a + 2
    assert f"/log/consistency?first={size_a}&second={size_b}" in handler.asked


def test_a_bundle_carries_its_checkpoints_cosignatures_to_bundle_verify(
    tmp_path: Path, sqlite_url: str
) -> None:
    ((ccg, issue_id),) = issued_records(sqlite_url, ccgs=1, later=False)
    key = tmp_path / "signing.key"
    (tmp_path / "bundle.json").write_text(json.dumps(export(sqlite_url, key, ccg, issue_id)))
    (tmp_path / "log.vkey").write_text(verifier_key(key) + "\n")
    witness = create_witness_key(tmp_path / "w1.key", "auditor.example/w1")
    (tmp_path / "w1.vkey").write_text(f"{witness.key}\n")
    site = Site(tmp_path, sqlite_url)
    site.auditor = tmp_path  # only the auditor's commands run here

    cosign = ("witness", "cosign", "--key-file", "w1.key", "--state", "w1.state")
    cosign += ("--log-key", "@log.vkey", "--checkpoint", "bundle.json", "--out", "cosigned.json")
    assert "wrote the bundle with its cosigned checkpoint" in ok(site.audit(*cosign))
    original = json.loads((tmp_path / "bundle.json").read_text())
    cosigned = json.loads((tmp_path / "cosigned.json").read_text())
    note = cosigned["checkpoint"]["note"]
    assert note.startswith(original["checkpoint"]["note"]) and note.count("\u2014 ") == 2
    assert {**cosigned, "checkpoint": original["checkpoint"]} == original  # nothing else changed
    assert note.split("\n")[0] == BUNDLE_ORIGIN

    check = ("bundle", "verify", "--key", "@log.vkey", "--witness-key", "@w1.vkey")
    report = ok(site.audit(*check, "cosigned.json"))
    assert f"checkpoint: cosigned by 1 witness(es): {witness.key}" in report
    stderr = refused(site.audit(*check, "bundle.json"), "NOT VERIFIED")
    assert f"missing {witness.key}" in stderr
