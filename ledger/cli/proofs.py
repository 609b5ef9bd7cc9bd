"""``qp-ledger checkpoint|proof|leaf``: the log's signed head and its proofs, for auditors.

* ``checkpoint`` signs the latest tree head (C2SP signed note, Ed25519) with
  the key in ``QP_LEDGER_SIGNING_KEY_FILE`` (created on first use) and prints
  or saves it;
* ``proof inclusion|consistency`` and ``leaf`` print the JSON an auditor
  feeds to ``python -m ledger.integrity.verifier`` (or its functions).

Exit codes, as for the rest of ``qp-ledger`` (docs/cli.md): 0 success; 1 the
log has no such position or tree size to prove; 2 a usage error (a bad
option, a file that cannot be written, a key file that can't be used).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ledger.cli.common import (
    LedgerGroup,
    Refused,
    database_url_option,
    emit_json,
    json_option,
    path_option,
    show,
    write_whole,
)
from ledger.cli.keys import key_file_option, origin_option, signer_for
from ledger.integrity.documents import LogDocuments, LogRequestError
from ledger.service.application import QPLedger


@click.command("checkpoint", short_help="Sign the latest tree head (a checkpoint) and print it.")
@path_option(
    "--out",
    help="Save the signed checkpoint to this file (keep it: `verify --checkpoint` uses it).",
)
@click.option(
    "--verifier-key",
    "show_key",
    is_flag=True,
    help="Print the public verifier key to publish, instead of a checkpoint.",
)
@json_option("Print JSON.")
@key_file_option
@origin_option
@database_url_option
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
    ledger = QPLedger(database_url)
    try:
        signer = signer_for(ledger.database_url, key_file, origin)
        documents = LogDocuments(ledger.store)
        if show_key:
            key = documents.verifier_key(signer)
            show(key, as_json, lambda k: k["verifier_key"])
            return
        document = documents.checkpoint(signer)
    finally:
        ledger.close()
    if out is not None:
        write_whole(out, document["checkpoint"].encode())
        summary = {k: document[k] for k in ("origin", "tree_size", "root_hash")}
        if as_json:
            emit_json({**summary, "file": str(out)})
        else:
            click.echo(
                f"saved checkpoint to {out}: origin {document['origin']}, tree size "
                f"{document['tree_size']}, root {document['log']['root_hash']}"
            )
    elif as_json:
        emit_json(document)
    else:
        click.echo(document["checkpoint"], nl=False)


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
@database_url_option
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
@database_url_option
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
@path_option(
    "--out", help="Also write the raw leaf bytes to this file (for the verifier's --leaf)."
)
@database_url_option
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


def _answer(database_url: str | None, build: Callable[[LogDocuments], dict[str, Any]]) -> None:
    ledger = QPLedger(database_url)
    try:
        document = build(LogDocuments(ledger.store))
    except LogRequestError as e:
        raise Refused(e.message) from None
    finally:
        ledger.close()
    emit_json(document)


COMMANDS = (checkpoint, proof, leaf)
