"""The checkpoint signing key file: never exposed, never replaced, never made quietly.

Whoever can read the key can sign checkpoints as the ledger, so a key file
that group or others may read is a warning every time it is used. The
default key follows the default database, so starting from another directory
silently makes a new ledger *and* a new key: creating one must say so, naming
the full path, so the operator notices before publishing the wrong key.
(The CLI and HTTP sides, on both databases: tests/e2e/test_signing_key_cli.py.)
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from ledger.integrity.signing import created_message, exposure_warning, load_signer

ORIGIN = "qp-ledger.test/signing"

posix_only = pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")


@posix_only
@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o606, 0o666])
def test_a_key_others_can_read_or_change_is_used_with_a_warning_naming_it(
    tmp_path: Path, mode: int, caplog: pytest.LogCaptureFixture
) -> None:
    key = tmp_path / "signing.key"
    made, created = load_signer(key, ORIGIN)
    assert created
    key.chmod(mode)
    with caplog.at_level(logging.WARNING, logger="ledger.integrity.signing"):
        signer, created_again = load_signer(key, ORIGIN)
    assert not created_again
    assert str(signer.verifier) == str(made.verifier)  # still the same key, still usable
    [warning] = [r.getMessage() for r in caplog.records]
    assert f"{key.resolve()} has mode {mode:04o}" in warning
    assert f"chmod 600 {key.resolve()}" in warning
    assert oct(key.stat().st_mode & 0o777) == oct(mode)  # we warn; we do not chmod for them


@posix_only
def test_a_key_only_its_owner_can_read_is_used_silently(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key = tmp_path / "signing.key"
    load_signer(key, ORIGIN)
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    for mode in (0o600, 0o400):
        key.chmod(mode)
        with caplog.at_level(logging.WARNING, logger="ledger.integrity.signing"):
            load_signer(key, ORIGIN)
        assert exposure_warning(key) is None
    assert caplog.records == []


def test_a_new_key_is_announced_with_its_full_path_and_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    relative = Path("qp-ledger-signing.key")
    signer, created = load_signer(relative, ORIGIN)
    assert created
    message = created_message(relative, signer)
    assert message.startswith("WARNING: created a new checkpoint signing key in ")
    assert str(tmp_path / "qp-ledger-signing.key") in message  # where, whatever the cwd
    assert "QP_LEDGER_SIGNING_KEY_FILE" in message  # how to point at the old key instead
    assert str(signer.verifier) in message  # what to publish


def test_an_existing_key_is_never_replaced_by_loading(tmp_path: Path) -> None:
    key = tmp_path / "signing.key"
    first, _ = load_signer(key, ORIGIN)
    before = key.read_bytes()
    again, created = load_signer(key, ORIGIN)
    assert not created and key.read_bytes() == before
    assert str(again.verifier) == str(first.verifier)
