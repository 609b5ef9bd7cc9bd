"""A witness: cosigns a log's checkpoint only if it extends every one it cosigned before.

The ledger's signer already refuses to sign a fork (``signed_head``), but
its memory lives on the operator's machine. A witness is the same promise
kept by someone else — an auditor, with their own key and their own state
file — so a rewrite the operator signs anyway cannot also carry the
auditor's cosignature. Per log origin the witness remembers the last
checkpoint it cosigned, and cosigns a new one (C2SP tlog-cosignature v1,
``ledger.integrity.cosignature``) only if:

* its origin is the one the given log key signs for, and the key is the one
  the witness has cosigned that origin with before (else ``unknown-origin``);
* the log's signature verifies (else ``bad-signature``);
* it is not smaller than the last one (``stale``: a rollback);
* at the same size it has the same root, and at a larger size an RFC 9162
  consistency proof *from the last cosigned size* verifies (else ``fork``,
  or ``bad-proof`` / ``wrong-proof`` for a proof that cannot be checked).

Check and update happen under an exclusive lock on ``<state>.lock``, and
the state is written to a temporary file, fsynced and renamed into place
(then the directory is fsynced), so two concurrent cosignings can never
both start from the same last checkpoint, and a crash leaves the old state
or the new one, never half of either (C2SP tlog-witness: "checking the old
size … and persisting the new checkpoint must be performed atomically").
The state holds each log's last cosigned note, whose cosignature is checked
against the witness's own key when it is read: a state file edited by
someone without the key is refused, not believed. No database, no CLI.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from ledger.integrity.checkpoint import (
    Checkpoint,
    CheckpointError,
    Verifier,
    parse_checkpoint_body,
    parse_verifier_key,
    verify_checkpoint,
)
from ledger.integrity.cosignature import (
    MAX_TIMESTAMP,
    CosignatureError,
    Cosigner,
    check_cosignatures,
    split_note,
)
from ledger.integrity.merkle import EMPTY_ROOT
from ledger.integrity.verifier import (
    ProofError,
    decode_base64,
    load_consistency_proof,
    verify_consistency,
)

STATE_FORMAT = "qp-ledger/witness-state/v1"
_MAX_PROOF_LINES = 63  # tlog-witness: a consistency proof of a uint64 tree has at most 63 hashes


class WitnessRefused(ValueError):
    """The witness will not cosign; ``reason`` is one word, the message says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class ConsistencyProof(NamedTuple):
    size1: int
    size2: int
    path: list[bytes]


class Seen(NamedTuple):
    """What the witness last cosigned for one origin."""

    checkpoint: Checkpoint
    log_key: str
    timestamp: int
    note: str


def load_proof(text: str) -> ConsistencyProof:
    """A consistency proof from the ledger's JSON (CLI or API) or a tlog-witness request body.

    JSON: ``{"tree_size_1", "tree_size_2", "consistency_path": [base64…]}``
    (``qp-ledger proof consistency``, ``GET /log/consistency``). Text:
    ``old <size>`` then one base64 hash a line (what tlog-witness's
    add-checkpoint sends; its new size is the checkpoint's, so ``size2`` is
    left -1 and matched later).
    """
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            size1, size2, path = load_consistency_proof(json.loads(stripped))
        except (json.JSONDecodeError, ProofError) as e:
            raise WitnessRefused("bad-proof", f"not a consistency proof: {e}") from None
        if not all(isinstance(s, int) and not isinstance(s, bool) for s in (size1, size2)):
            raise WitnessRefused("bad-proof", "tree_size_1 and tree_size_2 must be integers")
        return ConsistencyProof(size1, size2, path)
    lines = text.split("\n\n", 1)[0].strip("\n").split("\n")
    old = lines[0].removeprefix("old ")
    if not lines[0].startswith("old ") or not old.isdigit() or old != str(int(old)):
        raise WitnessRefused("bad-proof", "a proof is JSON, or 'old <size>' and base64 hashes")
    if len(lines) - 1 > _MAX_PROOF_LINES:
        raise WitnessRefused("bad-proof", f"more than {_MAX_PROOF_LINES} consistency proof lines")
    try:
        path = [decode_base64(h, f"consistency proof line {i}") for i, h in enumerate(lines[1:], 1)]
    except ProofError as e:
        raise WitnessRefused("bad-proof", str(e)) from None
    return ConsistencyProof(int(old), -1, path)


def create_witness_key(path: Path, name: str) -> Cosigner:
    """A new witness key in ``path`` (mode 0600); an existing file is never replaced."""
    cosigner = Cosigner.generate(name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(cosigner.signer_key() + "\n")
        f.flush()
        os.fsync(f.fileno())
    return cosigner


def load_witness_key(path: Path) -> Cosigner:
    """The witness key in ``path``; CosignatureError (or OSError) says what is wrong."""
    try:
        return Cosigner.from_signer_key(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise CosignatureError(f"{path} is not a witness key file") from None


class Witness:
    """A witness with its own key and state (a JSON file, or memory when ``state_file`` is None)."""

    def __init__(
        self,
        cosigner: Cosigner,
        state_file: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cosigner = cosigner
        self.state_file = state_file
        self._clock = clock
        self._memory: dict[str, dict[str, Any]] = {}

    # -- state -------------------------------------------------------------

    def _read_logs(self) -> dict[str, dict[str, Any]]:
        if self.state_file is None:
            return dict(self._memory)
        try:
            document = json.loads(self.state_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise WitnessRefused(
                "state", f"cannot read the witness state {self.state_file}: {e}"
            ) from None
        if (
            not isinstance(document, dict)
            or document.get("format") != STATE_FORMAT
            or not isinstance(document.get("logs"), dict)
        ):
            raise WitnessRefused("state", f"{self.state_file} is not a {STATE_FORMAT} file")
        if document.get("witness") != str(self.cosigner.key):
            raise WitnessRefused(
                "state",
                f"{self.state_file} belongs to witness {str(document.get('witness'))[:120]}, "
                f"not {self.cosigner.key}",
            )
        logs: dict[str, dict[str, Any]] = document["logs"]
        return logs

    def _seen(self, logs: dict[str, dict[str, Any]], origin: str) -> Seen | None:
        entry = logs.get(origin)
        if entry is None:
            return None
        where = f"the witness state for {origin!r}"
        try:
            note, log_key = entry["checkpoint"], entry["log_key"]
            checkpoint = verify_checkpoint(note, log_key, origin)
            valid, _ = check_cosignatures(note, [self.cosigner.key], now=MAX_TIMESTAMP)
        except (CheckpointError, KeyError, TypeError) as e:
            raise WitnessRefused("state", f"{where} is unusable: {e}") from None
        if not valid:
            raise WitnessRefused(
                "state",
                f"{where} does not carry this witness's cosignature: it was changed by "
                "someone without the witness key; restore it before cosigning again",
            )
        return Seen(checkpoint, log_key, valid[0].timestamp, note)

    def last_seen(self, origin: str) -> Seen | None:
        """The last checkpoint this witness cosigned for ``origin``, or None."""
        return self._seen(self._read_logs(), origin)

    def _write_logs(self, logs: dict[str, dict[str, Any]]) -> None:
        if self.state_file is None:
            self._memory = logs
            return
        document = {"format": STATE_FORMAT, "witness": str(self.cosigner.key), "logs": logs}
        path = self.state_file
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(json.dumps(document, indent=2, sort_keys=True) + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, path)
            directory = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        except OSError as e:
            temporary.unlink(missing_ok=True)
            raise WitnessRefused(
                "state",
                f"cannot record the cosigned checkpoint in {path} ({e.strerror or e}); "
                "a checkpoint that is not recorded cannot be checked next time, so none is given",
            ) from None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if self.state_file is None:
            yield
            return
        lock = self.state_file.with_name(self.state_file.name + ".lock")
        try:
            handle = open(lock, "a+b")  # noqa: SIM115 - held for the lock's lifetime
        except OSError as e:
            raise WitnessRefused("state", f"cannot lock {lock}: {e.strerror or e}") from None
        with handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    # -- cosigning -----------------------------------------------------------

    def cosign(
        self,
        checkpoint_note: str,
        consistency_proof: ConsistencyProof | Iterable[ConsistencyProof] | None,
        log_verifier_key: Verifier | str,
        origin: str | None = None,
    ) -> str:
        """The checkpoint with this witness's cosignature appended, or :class:`WitnessRefused`.

        ``consistency_proof``: the proof from the last size this witness
        cosigned for the origin to the checkpoint's size — or several, of
        which the one from that size is used; none is needed the first
        time, nor for the same size again. ``origin``: the log's origin,
        by default the log key's name (as the ledger names its log).
        """
        try:
            log_key = (
                parse_verifier_key(log_verifier_key)
                if isinstance(log_verifier_key, str)
                else log_verifier_key
            )
            body, _ = split_note(checkpoint_note)
            claimed, _ = parse_checkpoint_body(body)
        except CheckpointError as e:
            raise WitnessRefused("bad-checkpoint", f"not a checkpoint: {e}") from None
        expected = log_key.name if origin is None else origin
        if claimed.origin != expected:
            raise WitnessRefused(
                "unknown-origin",
                f"the checkpoint is for log {claimed.origin!r}; this witness was given the "
                f"key of {expected!r}",
            )
        try:
            checkpoint = verify_checkpoint(checkpoint_note, log_key, expected)
        except CheckpointError as e:
            raise WitnessRefused("bad-signature", f"the log's signature: {e}") from None
        with self._locked():
            logs = self._read_logs()
            seen = self._seen(logs, expected)
            if seen is not None and seen.log_key != str(log_key):
                raise WitnessRefused(
                    "unknown-origin",
                    f"this witness cosigns {expected!r} under the key {seen.log_key}, not "
                    f"{log_key}; a log that changes its key is a new log to the witness",
                )
            try:
                self._check_extends(seen, checkpoint, consistency_proof)
            except WitnessRefused as e:
                if e.reason == "fork" and seen is not None:
                    raise self._kept_as_evidence(e, seen.note, checkpoint_note) from None
                raise
            timestamp = int(self._clock())
            if seen is not None:  # never date a bigger tree before a smaller one
                timestamp = max(timestamp, seen.timestamp)
            note = self._with_own_line(checkpoint_note, body, timestamp)
            logs[expected] = {"log_key": str(log_key), "checkpoint": note}
            self._write_logs(logs)
        return note

    def _kept_as_evidence(self, refusal: WitnessRefused, last: str, fork: str) -> WitnessRefused:
        """Keep both signed checkpoints of a fork: they prove the log's misbehaviour to anyone.

        Appended to ``<state>.evidence`` (the tlog-witness spec lets a witness
        log such requests). Only checkpoints the log signed get this far.
        """
        if self.state_file is None:
            return refusal
        path = self.state_file.with_name(self.state_file.name + ".evidence")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as f:
                f.write(f"# {refusal}\n# last cosigned:\n{last}# refused:\n{fork}\n")
                f.flush()
                os.fsync(f.fileno())
        except OSError:
            return refusal
        return WitnessRefused("fork", f"{refusal}; both signed checkpoints are kept in {path}")

    def _with_own_line(self, note: str, body: str, timestamp: int) -> str:
        """The note with this witness's fresh cosignature instead of any earlier one of its own."""
        key = self.cosigner.key
        kept = [
            line
            for line in note[len(body) + 1 :].splitlines(keepends=True)
            if not _is_line_of(line, key.name, key.key_id)
        ]
        return body + "\n" + "".join(kept) + self.cosigner.cosignature_line(body, timestamp)

    @staticmethod
    def _check_extends(
        seen: Seen | None,
        new: Checkpoint,
        proofs: ConsistencyProof | Iterable[ConsistencyProof] | None,
    ) -> None:
        last = Checkpoint(new.origin, 0, EMPTY_ROOT) if seen is None else seen.checkpoint
        old = (
            f"the last checkpoint this witness cosigned (size {last.size}, root {last.root.hex()})"
        )
        what = f"the checkpoint (size {new.size}, root {new.root.hex()})"
        if new.size < last.size:
            raise WitnessRefused(
                "stale", f"{what} is smaller than {old}: a rollback, or an old checkpoint"
            )
        if new.size == last.size:
            if new.root != last.root:
                raise WitnessRefused(
                    "fork", f"{what} has another root than {old} for the same size: a fork"
                )
            return
        if last.size == 0:
            return  # the first checkpoint of a log: nothing to be consistent with
        candidates = [proofs] if isinstance(proofs, ConsistencyProof) else list(proofs or ())
        proof = next((p for p in candidates if p.size1 == last.size), None)
        if proof is None:
            given = ", ".join(f"{p.size1}->{p.size2}" for p in candidates) or "none"
            raise WitnessRefused(
                "wrong-proof",
                f"a consistency proof from {last.size} to {new.size} is needed (the last size "
                f"this witness cosigned); given: {given}",
            )
        if proof.size2 not in (-1, new.size):
            raise WitnessRefused(
                "wrong-proof",
                f"the proof is for sizes {proof.size1}->{proof.size2}, "
                f"the checkpoint is {new.size}",
            )
        try:
            ok = verify_consistency(last.size, new.size, proof.path, last.root, new.root)
        except ProofError as e:
            raise WitnessRefused("bad-proof", f"the consistency proof is malformed: {e}") from None
        if not ok:
            raise WitnessRefused(
                "fork",
                f"the consistency proof {last.size}->{new.size} does not verify: {what} is not "
                f"an extension of {old} (a fork), or the proof is not for these trees",
            )


def _is_line_of(line: str, name: str, key_id: int) -> bool:
    try:
        _, lines = split_note(f"x\n\n{line}")
    except CosignatureError:
        return False
    return lines[0].name == name and int.from_bytes(lines[0].signature[:4], "big") == key_id
