"""Where the checkpoint signing key lives and what the log is called: two settings.

* ``QP_LEDGER_SIGNING_KEY_FILE`` — the Ed25519 signer key file (the
  ``PRIVATE+KEY+…`` string of :mod:`ledger.integrity.checkpoint`). Default:
  beside a SQLite database file, named after it (``qp-ledger-signing.key``
  for the default ``qp-ledger.db``); for any other database,
  ``qp-ledger-signing.key`` in the working directory. It is created, mode
  0600, the first time a checkpoint is signed. Because the default follows
  the database, starting in another directory means a new database *and* a
  new key: creating one is therefore announced loudly, naming its full path,
  and an existing key file that group or others may read or write is used
  only with a warning (whoever reads it can sign checkpoints as the ledger).
* ``QP_LEDGER_LOG_ORIGIN`` — the log's name: the first line of every
  checkpoint and the key's name (C2SP tlog-checkpoint "origin"). Default
  ``qp-ledger/log``; a deployment should set its own, e.g.
  ``qp-ledger.example.nhs.uk/2013-14``, *before* the first checkpoint: a key
  file is refused under another origin.

Used by ``qp-ledger checkpoint``/``verify`` and the API alike (docs/integrity.md,
docs/configuration.md).
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ledger.integrity.checkpoint import CheckpointError, Signer
from ledger.integrity.key_files import load_or_create_signer

SIGNING_KEY_FILE = "QP_LEDGER_SIGNING_KEY_FILE"
LOG_ORIGIN = "QP_LEDGER_LOG_ORIGIN"
DEFAULT_ORIGIN = "qp-ledger/log"
DEFAULT_KEY_NAME = "qp-ledger-signing.key"

log = logging.getLogger(__name__)


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
    """The signer in ``path`` (created if missing); CheckpointError says what is wrong.

    An existing key that others can read is still used (a deployment may mount
    it read-only from a secret store) but never silently: the warning goes to
    the log, which the CLI shows on stderr.
    """
    try:
        signer, created = load_or_create_signer(path, origin)
    except OSError as e:
        raise CheckpointError(f"cannot use signing key file {path}: {e.strerror or e}") from None
    signer.key_file = path  # the last signed head lives beside it (signed_head.py)
    if not created:
        exposed = exposure_warning(path)
        if exposed:
            log.warning("%s", exposed)
    return signer, created


def exposure_warning(path: Path) -> str | None:
    """Why the key file at ``path`` is readable or writable beyond its owner, or None.

    POSIX permission bits only: on Windows they do not describe who can read
    the file, so nothing is said there.
    """
    if os.name == "nt":
        return None
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    if not mode & 0o077:
        return None
    return (
        f"WARNING: the checkpoint signing key {path.resolve()} has mode {mode:04o}: "
        f"group or others can read or change it, and whoever can read it can sign "
        f"checkpoints as this ledger. Run: chmod 600 {path.resolve()}"
    )


def created_message(path: Path, signer: Signer) -> str:
    """What to tell the operator when a new key was made (CLI stderr, API log).

    Loud on purpose: a new key usually means a new ledger, but it also appears
    when the ledger is started from another directory than before (the
    default key lives beside the default database), and checkpoints signed
    with the old key cannot be verified with the new one.
    """
    where = str(path) if path.is_absolute() else f"{path} (that is {path.resolve()})"
    return (
        f"WARNING: created a new checkpoint signing key in {where}, mode 0600, "
        f"because there was no key file there. If this ledger already had a key, you are using "
        f"another database or directory than before: stop, and set "
        f"{SIGNING_KEY_FILE} (or --key-file) to the existing key. Keep the key secret "
        f"and back it up: checkpoints can only be verified with its public key. "
        f"Publish this verifier key: {signer.verifier}"
    )


def existing_verifier(path: Path, origin: str) -> Signer:
    """The signer in an *existing* key file (verifying must never create a key)."""
    if not path.exists():
        raise CheckpointError(
            f"no signing key file at {path}: give the published verifier key with --key"
        )
    return load_signer(path, origin)[0]
