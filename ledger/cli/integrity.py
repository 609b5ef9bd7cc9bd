"""CLI for tamper evidence: ``qp-ledger checkpoint|verify|proof|leaf`` (docs/integrity.md).

* ``checkpoint`` signs the latest tree head (C2SP signed note, Ed25519) with
  the key in ``QP_LEDGER_SIGNING_KEY_FILE`` (created on first use) and prints
  or saves it;
* ``verify`` recomputes every leaf, hash chain and Merkle node from the
  stored events and, given a checkpoint saved earlier, checks its signature
  and that today's log extends it (a consistency proof);
* ``proof inclusion|consistency`` and ``leaf`` print the JSON an auditor
  feeds to ``python -m ledger.integrity.verifier`` (or its functions).

Exit codes, as for the rest of ``qp-ledger`` (docs/cli.md): 0 success
(``verify``: the log is intact); 1 ``verify`` found a mismatch, the
checkpoint is not trustworthy, or the log has no such position or tree size
to prove; 2 a usage error (a bad option, an unreadable file, a key file that
can't be used, no key to verify with).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click
from sqlalchemy import Connection, Engine
from tqdm import tqdm

from ledger.cli.common import EXIT_REFUSED, LedgerGroup, Refused, database_url_option
from ledger.integrity.audit import AuditReport, audit
from ledger.integrity.checkpoint import (
    Checkpoint,
    CheckpointError,
    Signer,
    parse_verifier_key,
    verify_checkpoint,
)
from ledger.integrity.merkle import MissingNodeError, TreeSizeError
from ledger.integrity.service import LogDocuments, LogRequestError, b64, sha256_hex
from ledger.integrity.signing import (
    LOG_ORIGIN,
    SIGNING_KEY_FILE,
    created_message,
    existing_verifier,
    load_signer,
    log_origin,
)
from ledger.integrity.signing import key_file as configured_key_file
from ledger.integrity.store_integration import IntegrityLog
from ledger.integrity.verifier import verify_consistency
from ledger.service.application import QPLedger

db_option = database_url_option
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
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _emit(document: Any) -> None:
    click.echo(json.dumps(document, indent=2))


def _open(database_url: str | None) -> QPLedger:
    return QPLedger(database_url)


def signer_for(database_url: str, path: Path | None, origin: str | None) -> Signer:
    """The configured signer, made (and announced on stderr) on first use."""
    path = path or configured_key_file(database_url)
    try:
        signer, created = load_signer(path, origin or log_origin())
    except CheckpointError as e:
        raise click.UsageError(str(e)) from None
    if created:
        click.echo(created_message(path, signer), err=True)
    return signer


def write_whole(path: Path, data: bytes) -> None:
    """Write a file whole or not at all (a temporary name, then a rename)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(data)
        temporary.replace(path)
    except OSError as e:
        temporary.unlink(missing_ok=True)
        raise click.UsageError(f"cannot write {path}: {e.strerror or e}") from None


@click.command("checkpoint", short_help="Sign the latest tree head (a checkpoint) and print it.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Save the signed checkpoint to this file (keep it: `verify --checkpoint` uses it).",
)
@click.option(
    "--verifier-key",
    "show_key",
    is_flag=True,
    help="Print the public verifier key to publish, instead of a checkpoint.",
)
@json_option
@key_file_option
@origin_option
@db_option
def checkpoint(
    out: Path | None,
    show_key: bool,
    as_json: bool,
    key_file: Path | None,
    origin: str | None,
    database_url: str | None,
) -> None:
    """Sign the latest tree head and print it (or save it with --out).

    The checkpoint is a C2SP signed note: the log's origin, its tree size and
    root hash (base64), and an Ed25519 signature. Keep it: later,
    `qp-ledger verify --checkpoint FILE` proves today's log still extends it.

    Example:

    \b
        qp-ledger checkpoint --out checkpoint-2014-04-01.txt
        qp-ledger checkpoint --verifier-key
    """
    ledger = _open(database_url)
    try:
        signer = signer_for(ledger.database_url, key_file, origin)
        documents = LogDocuments(ledger.store)
        if show_key:
            key = documents.verifier_key(signer)
            click.echo(json.dumps(key, indent=2) if as_json else key["verifier_key"])
            return
        document = documents.checkpoint(signer)
    finally:
        ledger.close()
    if out is not None:
        write_whole(out, document["checkpoint"].encode())
        summary = {k: document[k] for k in ("origin", "tree_size", "root_hash")}
        if as_json:
            _emit({**summary, "file": str(out)})
        else:
            click.echo(
                f"saved checkpoint to {out}: origin {document['origin']}, tree size "
                f"{document['tree_size']}, root {document['log']['root_hash']}"
            )
    elif as_json:
        _emit(document)
    else:
        click.echo(document["checkpoint"], nl=False)


def _verifier_key(key: str | None, path: Path | None, origin: str | None, db: str) -> str:
    """The key to check a checkpoint with: given (text or @FILE), or the configured key's."""
    if key is not None:
        if key.startswith("@"):
            try:
                key = Path(key[1:]).read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as e:
                raise click.UsageError(
                    f"--key: cannot read the verifier key file {key[1:]}: {e}"
                ) from None
        try:
            return str(parse_verifier_key(key))
        except CheckpointError as e:
            raise click.UsageError(f"--key: {e}") from None
    try:
        return str(
            existing_verifier(path or configured_key_file(db), origin or log_origin()).verifier
        )
    except CheckpointError as e:
        raise click.UsageError(str(e)) from None


def _read_checkpoint(path: Path, verifier: str) -> Checkpoint:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        if isinstance(e, OSError) and not path.exists():
            raise click.BadParameter(
                f"cannot read {path}: no such file", param_hint="--checkpoint"
            ) from None
        raise Refused(f"checkpoint {path}: NOT VERIFIED: it is not a text file ({e})") from None
    try:
        return verify_checkpoint(text, verifier)
    except CheckpointError as e:
        raise Refused(f"checkpoint {path}: NOT VERIFIED: {e}") from None


@click.command("verify", short_help="Check every stored event, hash chain and Merkle node.")
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A checkpoint saved earlier: check its signature and that today's log extends it.",
)
@click.option(
    "--key",
    default=None,
    metavar="VKEY|@FILE",
    help="The published verifier key (or @FILE holding it) to check --checkpoint with; "
    "default: the public half of the configured signing key.",
)
@json_option
@key_file_option
@origin_option
@db_option
def verify(
    checkpoint_file: Path | None,
    key: str | None,
    as_json: bool,
    key_file: Path | None,
    origin: str | None,
    database_url: str | None,
) -> None:
    """Recompute every hash chain and the Merkle tree from the stored events.

    Every event's leaf is rebuilt from its stored row and recorded time and
    compared with the stored leaf; every stored Merkle node with the tree
    those leaves make. With --checkpoint, the checkpoint's signature is
    checked and so is, with a consistency proof, that it is a prefix of
    today's log. Exit 0 when everything matches; 1 naming the first position
    that does not.

    Example:

    \b
        qp-ledger verify
        qp-ledger verify --checkpoint checkpoint-2014-04-01.txt --key @published.vkey
    """
    ledger = _open(database_url)
    try:
        cp = None
        if checkpoint_file is not None:
            verifier = _verifier_key(key, key_file, origin, ledger.database_url)
            cp = _read_checkpoint(checkpoint_file, verifier)
        report, extra = _audit(ledger, cp)
    finally:
        ledger.close()
    if as_json:
        _emit(_report_document(report, extra, checkpoint_file))
    else:
        _print_report(report, extra, checkpoint_file)
    if not report.ok:
        click.get_current_context().exit(EXIT_REFUSED)


def _audit(ledger: QPLedger, cp: Checkpoint | None) -> tuple[AuditReport, dict[str, Any]]:
    """The audit, plus what the stored tree says: its head, and the proof from the checkpoint."""
    store = ledger.store
    log = store.integrity
    extra: dict[str, Any] = {}
    engine = store.datastore.engine
    assert isinstance(engine, Engine)
    total = ledger.max_position()
    with (
        tqdm(
            total=total, unit="event", desc="verifying", file=sys.stderr, disable=None, leave=False
        ) as bar,
        engine.connect() as conn,
    ):
        try:

            def progress(events: int) -> None:
                bar.update(events)

            report = audit(log, conn, store.index, cp, progress=progress)
        except Exception as e:  # hand-edited rows can hold anything: fail closed, say why
            report = AuditReport(checkpoint=cp)
            report.flag(None, None, f"the log cannot be read: {type(e).__name__}: {e}")
            return report, extra
        try:
            _compare_stored_tree(log, conn, report, extra)
        except Exception as e:
            report.flag(None, None, f"the stored tree cannot be read: {type(e).__name__}: {e}")
    return report, extra


def _compare_stored_tree(
    log: IntegrityLog, conn: Connection, report: AuditReport, extra: dict[str, Any]
) -> None:
    """The stored tree head against the recomputed one; the checkpoint's consistency proof."""
    stored = log.tree_size(conn)
    extra["stored_tree_size"] = stored
    if stored == report.size:
        extra["stored_root_agrees"] = log.tree_head(conn, stored).root == report.root
        if not extra["stored_root_agrees"] and report.ok:
            report.flag(None, None, "the stored tree head differs from the recomputed one")
    cp = report.checkpoint
    if cp is not None and cp.size <= report.size:
        # The standard proof: the stored tree's consistency path from the
        # checkpoint to today, checked against the *recomputed* root.
        try:
            path = log.consistency_proof(conn, cp.size, report.size)
            proven = verify_consistency(cp.size, report.size, path, cp.root, report.root)
        except (TreeSizeError, MissingNodeError):
            proven = False
        extra["consistency_proof"] = proven
        if not proven and report.ok:
            report.flag(
                None,
                None,
                f"the consistency proof from the checkpoint (size {cp.size}) to today's "
                f"log (size {report.size}) does not verify",
            )


def _report_document(
    report: AuditReport, extra: dict[str, Any], checkpoint_file: Path | None
) -> dict[str, Any]:
    cp = report.checkpoint
    return {
        "ok": report.ok,
        "events": report.size,
        "last_position": report.last_position,
        "streams": report.streams,
        "nodes_checked": report.nodes_checked,
        "log": {"tree_size": report.size, "root_hash": sha256_hex(report.root)},
        **extra,
        "checkpoint": None
        if cp is None
        else {
            "file": str(checkpoint_file),
            "origin": cp.origin,
            "tree_size": cp.size,
            "root_hash": b64(cp.root),
        },
        "first_bad_position": report.first_bad_position,
        "problems": [
            {"position": p.position, "leaf_index": p.leaf_index, "what": p.what}
            for p in report.problems
        ],
        "more_problems": report.more_problems,
    }


def _print_report(report: AuditReport, extra: dict[str, Any], checkpoint_file: Path | None) -> None:
    span = f"positions 1..{report.last_position}, " if report.last_position else ""
    click.echo(
        f"read {report.size} events ({span}{report.streams} streams) and compared "
        f"{report.nodes_checked} stored Merkle nodes"
    )
    click.echo(f"recomputed tree: size {report.size}, root {sha256_hex(report.root)}")
    if "stored_root_agrees" in extra:
        agrees = "agrees" if extra["stored_root_agrees"] else "DOES NOT agree"
        click.echo(f"stored tree head {agrees}")
    elif "stored_tree_size" in extra:
        click.echo(f"stored tree has {extra['stored_tree_size']} leaves: it DOES NOT agree")
    cp = report.checkpoint
    if cp is not None:
        click.echo(
            f"checkpoint {checkpoint_file}: signature verified; origin {cp.origin}, "
            f"tree size {cp.size}, root {sha256_hex(cp.root)}"
        )
        if "consistency_proof" in extra:
            result = "verified" if extra["consistency_proof"] else "FAILED"
            click.echo(f"consistency proof {cp.size} -> {report.size}: {result}")
    if report.ok:
        click.echo("OK: every event, hash chain and Merkle node matches")
        return
    first = report.first_bad_position
    count = len(report.problems) + report.more_problems
    where = (
        f"the first position that does not match is {first}"
        if first is not None
        else "no single event is at fault (see below)"
    )
    click.echo(f"NOT VERIFIED: {count} problem(s); {where}", err=True)
    for problem in report.problems:
        click.echo(f"  {problem}", err=True)
    if report.more_problems:
        click.echo(f"  … and {report.more_problems} more", err=True)


@click.group("proof", cls=LedgerGroup, short_help="Inclusion and consistency proofs (JSON).")
def proof() -> None:
    """Inclusion and consistency proofs, as JSON for `python -m ledger.integrity.verifier`.

    Example:

    \b
        qp-ledger proof inclusion 10 --size 183 > inclusion.json
        qp-ledger proof consistency 183 > consistency.json
    """


@proof.command("inclusion", short_help="Prove an event is in the log (a tree size).")
@click.argument("position", type=int)
@click.option(
    "--size",
    type=int,
    default=None,
    help="The tree size to prove inclusion in (default: today's); match your checkpoint.",
)
@db_option
def inclusion(position: int, size: int | None, database_url: str | None) -> None:
    """The proof that the event at POSITION is in the tree of --size leaves.

    Example:

    \b
        qp-ledger proof inclusion 10 --size 183
    """
    _answer(database_url, lambda docs: docs.inclusion(position, size))


@proof.command("consistency", short_help="Prove a later log extends an earlier one.")
@click.argument("old", type=int)
@click.argument("new", type=int, required=False)
@db_option
def consistency(old: int, new: int | None, database_url: str | None) -> None:
    """The proof that the tree of NEW leaves (default: today's) extends the tree of OLD.

    Example:

    \b
        qp-ledger proof consistency 183 13033
    """
    _answer(database_url, lambda docs: docs.consistency(old, new))


@click.command("leaf", short_help="The leaf bytes and hash of the event at a log position.")
@click.argument("position", type=int)
@click.option(
    "--encoding",
    type=click.Choice(["base64", "hex"]),
    default="base64",
    show_default=True,
    help="How the leaf bytes (and payload) are written in the JSON.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the raw leaf bytes to this file (for the verifier's --leaf).",
)
@db_option
def leaf(position: int, encoding: str, out: Path | None, database_url: str | None) -> None:
    """The canonical leaf bytes of the event at POSITION, its leaf hash and fields (JSON).

    Example:

    \b
        qp-ledger leaf 10 --out event-10.leaf
    """

    def document(docs: LogDocuments) -> dict[str, Any]:
        if out is not None:
            write_whole(out, docs.leaf_bytes(position)[1])
        return docs.leaf(position, encoding)

    _answer(database_url, document)


def _answer(database_url: str | None, build: Any) -> None:
    ledger = _open(database_url)
    try:
        document = build(LogDocuments(ledger.store))
    except LogRequestError as e:
        raise Refused(e.message) from None
    finally:
        ledger.close()
    _emit(document)


COMMANDS = (checkpoint, verify, proof, leaf)
