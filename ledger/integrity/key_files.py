"""The log's signer key on disk: made once, mode 0600, never replaced.

The key's text is the signed-note ``PRIVATE+KEY+…`` string of
:mod:`ledger.integrity.checkpoint`; this is the one place that reads or
writes it as a file, so everything in that module stays pure.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from ledger.integrity.checkpoint import CheckpointError, Signer


def load_or_create_signer(path: str | os.PathLike[str], name: str) -> tuple[Signer, bool]:
    """The signer stored at ``path``, creating it (mode 0600) if there is none.

    Returns ``(signer, created)`` so the caller can tell the operator a new
    key was made (and which verifier key to publish). The file is written to
    a temporary name and linked into place, so a concurrent first use or a
    crash never leaves a half-written key, and an existing key is never
    replaced. A key stored under another name is refused, not silently used.
    """
    target = Path(path)
    created = False
    if not target.exists():
        signer = Signer.generate(name)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(signer.signer_key() + "\n")
                f.flush()
                os.fsync(f.fileno())
            with contextlib.suppress(FileExistsError):  # lost a race: use the winner's key
                os.link(temporary, target)
                created = True
        finally:
            temporary.unlink(missing_ok=True)
    try:
        signer = Signer.from_signer_key(target.read_text())
    except CheckpointError as e:
        raise CheckpointError(f"{target}: {e}") from None
    if signer.name != name:
        raise CheckpointError(f"{target} holds the key for {signer.name!r}, not {name!r}")
    return signer, created
