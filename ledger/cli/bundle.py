"""CLI for evidence bundles: ``qp-ledger bundle export|verify`` (docs/bundle.md).

``export`` writes one issued decision with its record, proofs and a freshly
signed checkpoint to a file; ``verify`` checks such a file with no database
at all — signature, every proof, the record's completeness, and an engine
re-run compared field by field. Exit codes as for all of ``qp-ledger``
(docs/cli.md): 0 verified / written; 1 the bundle does not verify, or the
ledger refused (no such issue, or the signer refuses a rewritten log); 2 a
usage error (a missing file, a bad option).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ledger.cli.common import (
    CONTEXT_SETTINGS,
    LedgerGroup,
    Refused,
    database_url_option,
    emit_json,
    json_option,
    scheme_option,
    write_whole,
)
from ledger.cli.keys import given_verifier, key_file_option, origin_option, signer_for
from ledger.cli.witness import trusted_witnesses, witness_options
from ledger.integrity.bundle import BundleError, BundleReport, verify_bundle


@click.group(
    cls=LedgerGroup,
    context_settings=CONTEXT_SETTINGS,
    short_help="Evidence bundles: export, and verify offline.",
)
def bundle() -> None:
    """Evidence bundles: one issued decision that anyone can check offline.

    Example:

    \b
        qp-ledger bundle export 06F 06F.qp-2013-14.1 --scheme qp-2013-14 --out 06F.bundle.json
        qp-ledger bundle verify 06F.bundle.json --key @verifier.key
    """


@bundle.command("export", short_help="Write an issued decision's evidence bundle to a file.")
@click.argument("ccg")
@click.argument("issue_id")
@scheme_option
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Bundle file."
)
@json_option("Print a JSON summary.")
@key_file_option
@origin_option
@database_url_option
def export(
    ccg: str,
    issue_id: str,
    scheme: str,
    out: Path,
    as_json: bool,
    key_file: Path | None,
    origin: str | None,
    database_url: str | None,
) -> None:
    """Write the evidence bundle of issued decision ISSUE_ID of CCG to --out.

    It holds the decision, the scheme, every event of the CCG's record up to
    the decision's position with an inclusion proof each, the issue event,
    and a checkpoint signed now. Refused (exit 1) if the log no longer
    extends the last signed checkpoint.

    Example:

    \b
        qp-ledger bundle export 06F 06F.qp-2013-14.1 --scheme qp-2013-14 --out 06F.bundle.json
    """
    from ledger.service.application import QPLedger
    from ledger.service.bundles import export_bundle

    ledger = QPLedger(database_url)
    try:
        ledger.determinations.issued_decision(ccg, scheme, issue_id)  # before making any key
        signer = signer_for(ledger.database_url, key_file, origin)
        # A log that no longer extends the last signed head: SigningRefused, exit 1.
        document = export_bundle(ledger, signer, ccg, scheme, issue_id)
    finally:
        ledger.close()
    write_whole(out, json.dumps(document, indent=1, ensure_ascii=False).encode("utf-8") + b"\n")
    summary = {
        "file": str(out),
        "issue_id": issue_id,
        "events": len(document["record"]["events"]),
        "tree_size": document["decision_log"]["tree_size_2"],
        "verifier_key": document["checkpoint"]["verifier_key"],
    }
    if as_json:
        emit_json(summary)
        return
    click.echo(
        f"wrote {out}: {issue_id}, {summary['events']} events of {ccg}'s record, each proven "
        f"in a checkpoint of tree size {summary['tree_size']}\n"
        f"check it anywhere with: qp-ledger bundle verify {out} --key {summary['verifier_key']}"
    )


def _check(path: Path, key: str | None, witnesses: list[str], required: int) -> BundleReport:
    try:
        document: Any = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise Refused(f"{path} NOT VERIFIED: it is not a JSON bundle ({e})") from None
    except RecursionError:
        raise Refused(f"{path} NOT VERIFIED: it is nested too deeply to be a bundle") from None
    try:
        return verify_bundle(document, key, witnesses, required)
    except BundleError as e:
        raise Refused(f"{path} NOT VERIFIED: {e}") from None
    except Exception as e:  # whatever a hostile file provokes: a message, never a traceback
        raise Refused(f"{path} NOT VERIFIED: it cannot be checked ({type(e).__name__})") from None


@bundle.command("verify", short_help="Check an evidence bundle offline (no database).")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--key",
    default=None,
    metavar="VKEY",
    help="The ledger's published verifier key, or @FILE holding it (default: the bundle's "
    "own key, which proves only that the bundle is consistent with itself).",
)
@witness_options
@json_option("Print {verified, facts, problems, notes} as JSON.")
def verify(
    file: Path,
    key: str | None,
    witness_keys: tuple[str, ...],
    require_cosignatures: int | None,
    as_json: bool,
) -> None:
    """Check FILE from the file alone: signature, proofs, record, engine re-run.

    Exit 0 and a summary of what was proven, or 1 naming each event, proof
    or decision field that failed.

    Example:

    \b
        qp-ledger bundle verify 06F.bundle.json --key @verifier.key
    """
    witnesses, required = trusted_witnesses(witness_keys, require_cosignatures)
    report = _check(file, None if key is None else given_verifier(key), witnesses, required)
    if as_json:
        emit_json(
            {
                "verified": report.ok,
                "facts": report.facts,
                "problems": report.problems,
                "notes": report.notes,
            }
        )
    else:
        click.echo(f"{'VERIFIED' if report.ok else 'NOT VERIFIED'}: evidence bundle {file}")
        warnings = [n for n in report.notes if n.startswith("WARNING")]
        for line in warnings:
            click.echo(f"  {line}")
        for line in report.facts:
            click.echo(f"  {line}")
        for line in report.problems:
            click.echo(f"  FAILED: {line}")
        for line in report.notes:
            if line not in warnings:
                click.echo(f"  note: {line}")
    if not report.ok:
        first = report.problems[0]
        more = len(report.problems) - 1
        raise Refused(f"{file} NOT VERIFIED: {first}" + (f" (and {more} more)" if more else ""))
