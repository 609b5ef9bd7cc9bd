"""``qp-ledger verify``: recompute the whole log and, given one, check a saved checkpoint.

Every leaf, hash chain and Merkle node is recomputed from the stored events;
with ``--checkpoint`` its signature is checked and a consistency proof shows
today's log extends it (docs/integrity.md). Exit 0 when the log is intact;
1 naming the first position that is not, or when the checkpoint is not
trustworthy; 2 a usage error (a bad option, an unreadable file, a key that
cannot be used, no key to verify with).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from sqlalchemy import Connection, Engine
from tqdm import tqdm

from ledger.adapters.snapshots import audit_inputs
from ledger.cli.common import (
    Refused,
    check_failed,
    database_url_option,
    emit_json,
    json_option,
    path_option,
)
from ledger.cli.keys import configured_verifier, given_verifier, key_file_option, origin_option
from ledger.cli.witness import trusted_witnesses, witness_options
from ledger.integrity.audit import AuditReport, audit
from ledger.integrity.audit_sealed import audit_sealed
from ledger.integrity.audit_tables import audit_tables
from ledger.integrity.checkpoint import Checkpoint, CheckpointError, verify_checkpoint
from ledger.integrity.cosignature import verify_cosignatures
from ledger.integrity.documents import b64, sha256_hex
from ledger.integrity.log import IntegrityLog
from ledger.integrity.merkle import MissingNodeError, TreeSizeError
from ledger.integrity.verifier import verify_consistency
from ledger.service.application import QPLedger


def _read_checkpoint(
    path: Path, verifier: str, witnesses: list[str], required: int
) -> tuple[Checkpoint, list[str]]:
    """The checkpoint, and which of the given witnesses cosigned it (at least ``required``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        if isinstance(e, OSError) and not path.exists():
            raise click.BadParameter(
                f"cannot read {path}: no such file", param_hint="--checkpoint"
            ) from None
        raise Refused(f"checkpoint {path}: NOT VERIFIED: it is not a text file ({e})") from None
    try:
        cp = verify_checkpoint(text, verifier)
        cosigned = verify_cosignatures(text, witnesses, required) if witnesses else []
    except CheckpointError as e:
        raise Refused(f"checkpoint {path}: NOT VERIFIED: {e}") from None
    return cp, [str(c.key) for c in cosigned]


@click.command("verify", short_help="Check every stored event, hash chain and Merkle node.")
@path_option(
    "--checkpoint",
    "checkpoint_file",
    help="A checkpoint saved earlier: check its signature and that today's log extends it.",
)
@click.option(
    "--key",
    default=None,
    metavar="VKEY|@FILE",
    help="The published verifier key (or @FILE holding it) to check --checkpoint with; "
    "default: the public half of the configured signing key.",
)
@witness_options
@json_option("Print JSON.")
@key_file_option
@origin_option
@database_url_option
def verify(
    checkpoint_file: Path | None,
    key: str | None,
    witness_keys: tuple[str, ...],
    require_cosignatures: int | None,
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
    today's log; with --witness-key, that the checkpoint carries valid
    cosignatures by (--require-cosignatures N of) those witnesses. Exit 0
    when everything matches; 1 naming the first position that does not, or
    the witnesses whose cosignature is missing or invalid.

    Example:

    \b
        qp-ledger verify
        qp-ledger verify --checkpoint checkpoint-2014-04-01.txt --key @published.vkey
        qp-ledger verify --checkpoint cosigned.txt --witness-key @w1.vkey --witness-key @w2.vkey
    """
    witnesses, required = trusted_witnesses(witness_keys, require_cosignatures)
    if witnesses and checkpoint_file is None:
        raise click.UsageError("--witness-key: give the cosigned checkpoint with --checkpoint")
    ledger = QPLedger(database_url)
    try:
        cp, cosigned = None, None
        if checkpoint_file is not None:
            if key is not None:
                verifier = given_verifier(key, "cannot read the verifier key file")
            else:
                verifier = configured_verifier(ledger.database_url, key_file, origin)
            cp, cosigned = _read_checkpoint(checkpoint_file, verifier, witnesses, required)
        report, extra = _audit(ledger, cp)
    finally:
        ledger.close()
    if witnesses:
        extra["cosignatures"] = {"required": required, "witnesses": cosigned}
    if as_json:
        emit_json(_report_document(report, extra, checkpoint_file))
    else:
        _print_report(report, extra, checkpoint_file)
    if not report.ok:
        check_failed()


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
        inputs = audit_inputs(store, ledger.snapshots, ledger.mapper)
        try:  # the index, snapshot and idempotency rows, against the events
            audit_tables(conn, *inputs, report=report)
        except Exception as e:
            report.flag(None, None, f"the ledger's tables cannot be read: {type(e).__name__}: {e}")
        try:  # the words of erasable fields, against the events' digests and the erasures
            audit_sealed(conn, inputs[0].events, store.sealed, inputs[1], report=report)
        except Exception as e:
            report.flag(None, None, f"the sealed words cannot be read: {type(e).__name__}: {e}")
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
        "notes": report.notes,
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
            | ({"table": p.table, "row": p.row} if p.table is not None else {})
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
        if "cosignatures" in extra:
            cosigned = extra["cosignatures"]
            click.echo(
                f"cosigned by {len(cosigned['witnesses'])} of the witnesses given "
                f"({cosigned['required']} required): {', '.join(cosigned['witnesses'])}"
            )
        if "consistency_proof" in extra:
            result = "verified" if extra["consistency_proof"] else "FAILED"
            click.echo(f"consistency proof {cp.size} -> {report.size}: {result}")
    for note in report.notes:  # how some rows were checked (written before key codes, no key)
        click.echo(f"note: {note}")
    if report.ok:
        click.echo("OK: every event, hash chain and Merkle node matches")
        return
    first = report.first_bad_position
    count = len(report.problems) + report.more_problems
    where = (
        f"the first position that does not match is {first}"
        if first is not None
        else "no single event is at fault (see below)"
        if not any(p.table for p in report.problems)
        else f"the first bad row is in {next(p.table for p in report.problems if p.table)}"
    )
    click.echo(f"NOT VERIFIED: {count} problem(s); {where}", err=True)
    for problem in report.problems:
        click.echo(f"  {problem}", err=True)
    if report.more_problems:
        click.echo(f"  … and {report.more_problems} more", err=True)
