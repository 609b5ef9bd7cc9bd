"""Where the checkpoint signing key lives and what the log is called: two settings.

* ``QP_LEDGER_SIGNING_KEY_FILE`` — the Ed25519 signer key file (the
  ``PRIVATE+KEY+…`` string of :mod:`ledger.integrity.checkpoint`). Default:
  beside a SQLite database file, named after it (``qp-ledger-signing.key``
  for the default ``qp-ledger.db``); for any other database,
  ``qp-ledger-signing.key`` in the working directory. It is created, mode
  0600, the first time a checkpoint is signed.
* ``QP_LEDGER_LOG_ORIGIN`` — the log's name: the first line of every
  checkpoint and the key's name (C2SP tlog-checkpoint "origin"). Default
  ``qp-ledger/log``; a deployment should set its own, e.g.
  ``qp-ledger.example.nhs.uk/2013-14``, *before* the first checkpoint: a key
  file is refused under another origin.

Used by ``qp-ledger checkpoint``/``verify`` and the API alike (docs/integrity.md,
docs/configuration.md).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ledger.integrity.checkpoint import CheckpointError, Signer, load_or_create_signer

SIGNING_KEY_FILE = "QP_LEDGER_SIGNING_KEY_FILE"
LOG_ORIGIN = "QP_LEDGER_LOG_ORIGIN"
DEFAULT_ORIGIN = "qp-ledger/log"
DEFAULT_KEY_NAME = "qp-ledger-signing.key"


def default_key_file(database_url: str | None) -> Path:
    """``<stem>-signing.key`` beside a SQLite file; else ``qp-ledger-signing.key`` here."""
    if database_url:
        try:
            url = make_url(database_url)
        except ArgumentError:
            return Path(DEFAULT_KEY_NAME)
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            database = Path(url.database)
            return database.with_name(f"{database.stem}-signing.key")
    return Path(DEFAULT_KEY_NAME)


def key_file(database_url: str | None, environ: Mapping[str, str] | None = None) -> Path:
    """The configured key file (blank means unset: the default for this database)."""
    env = os.environ if environ is None else environ
    value = env.get(SIGNING_KEY_FILE, "").strip()
    return Path(value) if value else default_key_file(database_url)


def log_origin(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    return env.get(LOG_ORIGIN, "").strip() or DEFAULT_ORIGIN


def load_signer(path: Path, origin: str) -> tuple[Signer, bool]:
    """The signer in ``path`` (created if missing); CheckpointError says what is wrong."""
    try:
        return load_or_create_signer(path, origin)
    except OSError as e:
        raise CheckpointError(f"cannot use signing key file {path}: {e.strerror or e}") from None


def created_message(path: Path, signer: Signer) -> str:
    """What to tell the operator when a new key was made (CLI stderr, API log)."""
    return (
        f"created a new checkpoint signing key in {path} (mode 0600; keep it secret and "
        f"back it up: checkpoints can only be verified with its public key). "
        f"Publish this verifier key: {signer.verifier}"
    )


def existing_verifier(path: Path, origin: str) -> Signer:
    """The signer in an *existing* key file (verifying must never create a key)."""
    if not path.exists():
        raise CheckpointError(
            f"no signing key file at {path}: give the published verifier key with --key"
        )
    return load_signer(path, origin)[0]
