"""The signer never signs a fork: it remembers the last head it signed, outside the database.

A checkpoint is only worth something if the log behind it cannot be swapped
for another one later. The Merkle log lives in the database, so someone who
can write to the database can rewrite an event, rebuild every hash and node
row (as tests/integrity_attack.py does) and get a consistent-looking log —
and, without this module, ask the ledger to sign a second root for a tree
size it has already signed. A signed fork is the one thing a transparency log must never
produce: it turns a rewrite into something the ledger vouches for.

So the last signed checkpoint note is kept **beside the signing key**
(``<key file>.last-signed``: the database cannot reach it, and whoever can
change it could take the key anyway), and a new head is signed only if it
is the same head, or a consistency proof from the last one verifies
(RFC 9162 §2.1.4, with the pure verifier). Anything else — a smaller tree,
another root at the same size, a proof that fails — is refused with
:class:`SigningRefused`, logged at CRITICAL, and reported by :func:`health`
(the API's ``/health``), until an operator looks.

The state file is written like the key (a temporary name, fsync, rename;
mode 0600) under an exclusive lock on the key file, so concurrent signers —
threads or processes — never both sign from the same last head. A signer
made in memory (tests, tools) keeps its state in memory. Nothing here
imports database code: the caller passes the head and a way to get a proof.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ledger.domain.errors import LedgerError
from ledger.integrity.checkpoint import (
    Checkpoint,
    CheckpointError,
    Signer,
    parse_checkpoint_body,
    sign_checkpoint,
    verify_checkpoint,
)
from ledger.integrity.verifier import ProofError, verify_consistency

STATE_SUFFIX = ".last-signed"
log = logging.getLogger(__name__)
_thread_lock = threading.Lock()

#: (size1, size2) -> the stored consistency path between the two trees.
ProofSource = Callable[[int, int], list[bytes]]


class SigningRefused(LedgerError):
    """The head to sign does not extend the last signed one: signing it would sign a fork."""

    code = "signing-refused"


def state_file(key_file: Path) -> Path:
    """Where the last signed head of the key in ``key_file`` is kept."""
    return key_file.with_name(key_file.name + STATE_SUFFIX)


def _state_path(signer: Signer) -> Path | None:
    return None if signer.key_file is None else state_file(signer.key_file)


def last_signed(signer: Signer) -> Checkpoint | None:
    """The last head this signer signed, or None if it never signed one.

    A state file that is unreadable, or not a checkpoint signed by this very
    key for this origin, is refused rather than ignored: ignoring it would
    re-open the door to signing a fork.
    """
    path = _state_path(signer)
    if path is None:
        note = signer.last_note
        return None if note is None else verify_checkpoint(note, signer.verifier)
    try:
        note = path.read_text(encoding="utf-8")
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise SigningRefused(f"cannot read the last signed checkpoint {path}: {e}") from None
    if mode & 0o077 and os.name != "nt":
        # As for the key: whoever can rewrite this file can reset what a fork is checked against.
        log.warning("WARNING: %s has mode %04o; run: chmod 600 %s", path, mode, path)
    try:
        return verify_checkpoint(note, signer.verifier)
    except CheckpointError as e:
        raise SigningRefused(
            f"{path} should hold the last checkpoint this key signed, but {e}; refusing to "
            "sign until it is restored (or removed by someone who knows why it changed)"
        ) from None


def _record(signer: Signer, note: str) -> None:
    path = _state_path(signer)
    if path is None:
        signer.last_note = note
        return
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(note)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except OSError as e:
        temporary.unlink(missing_ok=True)
        raise SigningRefused(
            f"cannot record the signed head in {path} ({e.strerror or e}); a head that is not "
            "recorded cannot be checked next time, so nothing was signed"
        ) from None


@contextlib.contextmanager
def _signing_lock(signer: Signer) -> Iterator[None]:
    """One signing at a time per key: across threads, and across processes via flock."""
    key_file = signer.key_file
    with _thread_lock:
        if key_file is None:
            yield
            return
        try:
            handle = open(key_file, "rb")  # noqa: SIM115 - held for the lock's lifetime
        except OSError as e:
            raise SigningRefused(f"cannot lock the signing key {key_file}: {e}") from None
        with handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def refusal(last: Checkpoint, size: int, root: bytes, proofs: ProofSource) -> str | None:
    """Why (size, root) must not be signed after ``last``, or None if it extends it."""
    what = f"the log's head (size {size}, root {root.hex()})"
    signed = f"the last signed checkpoint (size {last.size}, root {last.root.hex()})"
    if size < last.size:
        return f"{what} is smaller than {signed}: events were removed from the log"
    if size == last.size:
        if root == last.root:
            return None
        return f"{what} has another root than {signed} for the same size: the log was rewritten"
    try:
        ok = verify_consistency(last.size, size, proofs(last.size, size), last.root, root)
    except (ProofError, LookupError, ValueError) as e:
        return f"no consistency proof from {signed} to {what} could be built or checked ({e})"
    if ok:
        return None
    return f"{what} is not an extension of {signed}: events before {last.size} were rewritten"


def sign_head(
    signer: Signer, read_head: Callable[[], tuple[int, bytes]], proofs: ProofSource
) -> tuple[str, int, bytes]:
    """Sign today's head as a checkpoint if it extends the last signed head; else refuse.

    The head is read *inside* the lock: read before it, a slower signer could
    find its head older than one another process has just signed, and refuse
    a perfectly good log. Returns (note, size, root).
    """
    with _signing_lock(signer):
        size, root = read_head()
        last = last_signed(signer)
        if last is not None:
            why = refusal(last, size, root, proofs)
            if why is not None:
                where = _state_path(signer)
                kept = f" (kept in {where})" if where else ""
                message = (
                    f"REFUSED to sign a checkpoint: {why}. Signing it would sign a fork of the "
                    f"log{kept}. Run `qp-ledger verify --checkpoint` with the last checkpoint "
                    "to find what changed."
                )
                log.critical("REFUSED to sign a checkpoint: %s%s", why, kept)
                raise SigningRefused(message)
        note = sign_checkpoint(signer.name, size, root, signer)
        if last is None or size != last.size:
            _record(signer, note)
        return note, size, root


def health(key_file: Path, size: int, root: bytes, proofs: ProofSource) -> dict[str, Any]:
    """Whether the signer would sign the current head: the ``signer`` part of ``/health``.

    Read-only: it never creates a key or a state file. The state's signature
    is not checked here (that needs the key; the signer checks it before
    signing); this only compares heads.
    """
    path = state_file(key_file)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        text = path.read_text(encoding="utf-8")
        last, _ = parse_checkpoint_body(text[: text.rfind("\n\n") + 1])
    except FileNotFoundError:
        return {"status": "never-signed", "detail": "no checkpoint has been signed with this key"}
    except (OSError, UnicodeDecodeError, CheckpointError) as e:
        return {"status": "refusing", "detail": f"the last signed head {path} is unusable: {e}"}
    out: dict[str, Any] = {"last_signed": {"tree_size": last.size, "root_hash": last.root.hex()}}
    why = refusal(last, size, root, proofs)
    if why is not None:
        return {**out, "status": "refusing", "detail": f"the signer refuses to sign: {why}"}
    detail = "the log extends the last signed checkpoint"
    if mode & 0o077:
        detail += f"; WARNING: {path} has mode {mode:04o}, run chmod 600 {path}"
    return {**out, "status": "ok", "detail": detail}
