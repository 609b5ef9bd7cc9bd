"""The signing key and verifier keys, as ``checkpoint``, ``verify`` and ``bundle`` take them.

One place for ``--key-file``/``--origin`` and for reading a published
verifier key given as text or ``@FILE``: a key that cannot be read or used
is a usage error (exit 2), as for any unusable input.
"""

from __future__ import annotations

from pathlib import Path

import click

from ledger.integrity.checkpoint import CheckpointError, Signer, parse_verifier_key
from ledger.integrity.signing import (
    LOG_ORIGIN,
    SIGNING_KEY_FILE,
    created_message,
    existing_verifier,
    key_file,
    load_signer,
    log_origin,
)

key_file_option = click.option(
    "--key-file",
    envvar=SIGNING_KEY_FILE,
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"Checkpoint signing key file (env {SIGNING_KEY_FILE}); default: beside a SQLite "
    "database, <name>-signing.key, else ./qp-ledger-signing.key. Created on first use.",
)
origin_option = click.option(
    "--origin",
    envvar=LOG_ORIGIN,
    default=None,
    help=f"The log's name, first line of every checkpoint (env {LOG_ORIGIN}); "
    "default: qp-ledger/log.",
)


def signer_for(database_url: str, path: Path | None, origin: str | None) -> Signer:
    """The configured signer, made (and announced on stderr) on first use."""
    path = path or key_file(database_url)
    try:
        signer, created = load_signer(path, origin or log_origin())
    except CheckpointError as e:
        raise click.UsageError(str(e)) from None
    if created:
        click.echo(created_message(path, signer), err=True)
    return signer


def configured_verifier(database_url: str, path: Path | None, origin: str | None) -> str:
    """The public half of the configured signing key (which must exist already)."""
    try:
        return str(
            existing_verifier(path or key_file(database_url), origin or log_origin()).verifier
        )
    except CheckpointError as e:
        raise click.UsageError(str(e)) from None


def given_verifier(key: str, unreadable: str = "cannot read") -> str:
    """A ``--key`` value: the verifier key itself, or ``@FILE`` holding it."""
    if key.startswith("@"):
        try:
            key = Path(key[1:]).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as e:
            raise click.UsageError(f"--key: {unreadable} {key[1:]}: {e}") from None
    try:
        return str(parse_verifier_key(key))
    except CheckpointError as e:
        raise click.UsageError(f"--key: {e}") from None
