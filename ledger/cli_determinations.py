"""CLI for issued decisions and appeals: ``qp-ledger issue|issued|reproduce|diff|appeal``."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from ledger.application import QPLedger, default_actor
from ledger.commands import loads_line
from ledger.errors import LedgerError

db_option = click.option(
    "--database-url",
    envvar="QP_LEDGER_DATABASE_URL",
    default=None,
    metavar="URL",
    help="Database URL (env QP_LEDGER_DATABASE_URL).",
)
scheme_option = click.option("--scheme", required=True, help="Scheme id, e.g. qp-2013-14")
actor_option = click.option("--actor", default=None, help="Who is acting (default cli:<user>).")


def _emit(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


def _run(action: Any) -> None:
    try:
        _emit(action())
    except LedgerError as e:
        click.echo(f"error: {e.message}", err=True)
        sys.exit(1)


@click.command("issue")
@click.argument("ccg", required=False)
@click.option("--all", "all_ccgs", is_flag=True, help="Issue for every CCG in the scheme.")
@scheme_option
@click.option("--reason", default=None)
@click.option(
    "--appeal",
    "appeal_id",
    default=None,
    help="Issue the revised decision that follows this upheld appeal.",
)
@actor_option
@db_option
def issue(
    ccg: str | None,
    all_ccgs: bool,
    scheme: str,
    reason: str | None,
    appeal_id: str | None,
    actor: str | None,
    database_url: str | None,
) -> None:
    """Issue the current decision for CCG (or --all): stored, never changed."""
    if bool(ccg) == all_ccgs:
        click.echo("error: name one CCG or give --all", err=True)
        sys.exit(2)
    desk = QPLedger(database_url).determinations
    who = actor or default_actor()
    if all_ccgs:

        def bar(items: Iterable[str]) -> Iterable[str]:
            return tqdm(items, desc="issuing", unit="ccg", file=sys.stderr, disable=None)

        _run(lambda: desk.issue_all(scheme, actor=who, reason=reason, progress=bar))
    else:
        assert ccg is not None
        _run(lambda: desk.issue(ccg, scheme, actor=who, reason=reason, appeal_id=appeal_id))


@click.command("issued")
@click.argument("ccg")
@scheme_option
@click.option("--id", "issue_id", default=None, help="Show one issued decision in full.")
@db_option
def issued(ccg: str, scheme: str, issue_id: str | None, database_url: str | None) -> None:
    """The chain of decisions issued to CCG, and its appeals (or one issue in full)."""
    desk = QPLedger(database_url).determinations
    if issue_id:
        _run(lambda: desk.issued_decision(ccg, scheme, issue_id))
    else:
        _run(lambda: desk.chain(ccg, scheme))


@click.command("reproduce")
@click.argument("ccg")
@click.argument("issue_id")
@scheme_option
@click.option("--engine-version", default=None, help="Recompute with this engine version.")
@db_option
def reproduce(
    ccg: str, issue_id: str, scheme: str, engine_version: str | None, database_url: str | None
) -> None:
    """Recompute an issued decision at its own position: identical, or what differs."""
    desk = QPLedger(database_url).determinations
    try:
        result = desk.reproduce(ccg, scheme, issue_id, engine_version)
    except LedgerError as e:
        click.echo(f"error: {e.message}", err=True)
        sys.exit(1)
    _emit(result)
    sys.exit(0 if result["result"] == "identical" else 3)


def _point(value: str) -> dict[str, Any]:
    """FROM/TO: an issue id, ``position:N`` or ``as-of:ISO-8601``."""
    if value.startswith("position:"):
        return {"position": int(value.removeprefix("position:"))}
    if value.startswith("as-of:"):
        return {"as_of": value.removeprefix("as-of:")}
    return {"issue_id": value}


@click.command("diff")
@click.argument("ccg")
@click.argument("old")
@click.argument("new")
@scheme_option
@db_option
def diff(ccg: str, old: str, new: str, scheme: str, database_url: str | None) -> None:
    """What changed between two decisions (issue ids, position:N or as-of:TIME), and why."""
    desk = QPLedger(database_url).determinations
    try:
        a, b = _point(old), _point(new)
    except ValueError:
        click.echo("error: position:N needs a whole number", err=True)
        sys.exit(2)
    _run(lambda: desk.diff(ccg, scheme, a, b))


@click.group("appeal")
def appeal() -> None:
    """Lodge, evidence and determine appeals against issued decisions."""


@appeal.command("lodge")
@click.argument("ccg")
@click.argument("issue_id")
@scheme_option
@click.option("--grounds", required=True)
@click.option("--dispute", "disputes", multiple=True, help="A disputed component or event id.")
@actor_option
@db_option
def lodge(
    ccg: str,
    issue_id: str,
    scheme: str,
    grounds: str,
    disputes: tuple[str, ...],
    actor: str | None,
    database_url: str | None,
) -> None:
    """A CCG appeals one of its issued decisions."""
    desk = QPLedger(database_url).determinations
    _run(
        lambda: desk.lodge_appeal(
            ccg,
            scheme,
            issue_id,
            grounds=grounds,
            disputes=list(disputes),
            actor=actor or default_actor(),
        )
    )


@appeal.command("evidence")
@click.argument("ccg")
@click.argument("appeal_id")
@scheme_option
@click.option("--text", required=True)
@click.option(
    "--attach",
    "attachments",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A file recorded by SHA-256, size and media type (the bytes are not stored).",
)
@click.option("--media-type", default="application/octet-stream", show_default=True)
@actor_option
@db_option
def evidence(
    ccg: str,
    appeal_id: str,
    scheme: str,
    text: str,
    attachments: tuple[Path, ...],
    media_type: str,
    actor: str | None,
    database_url: str | None,
) -> None:
    """Add evidence to an open appeal."""
    import hashlib

    files = [
        {
            "name": p.name,
            "sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
            "size": p.stat().st_size,
            "media_type": media_type,
        }
        for p in attachments
    ]
    desk = QPLedger(database_url).determinations
    _run(
        lambda: desk.add_evidence(
            ccg, scheme, appeal_id, text=text, attachments=files, actor=actor or default_actor()
        )
    )


@appeal.command("determine")
@click.argument("ccg")
@click.argument("appeal_id")
@scheme_option
@click.option("--outcome", type=click.Choice(["dismissed", "upheld"]), required=True)
@click.option("--determination", required=True, help="The Board's reasons.")
@click.option(
    "--remedy",
    "remedy_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="JSONL of remedy commands (upheld only).",
)
@actor_option
@db_option
def determine(
    ccg: str,
    appeal_id: str,
    scheme: str,
    outcome: str,
    determination: str,
    remedy_file: Path | None,
    actor: str | None,
    database_url: str | None,
) -> None:
    """The Board determines an appeal: dismissed, or upheld with a remedy."""
    remedy = []
    if remedy_file is not None:
        remedy = [
            loads_line(line) for line in remedy_file.read_text("utf-8").splitlines() if line.strip()
        ]
    desk = QPLedger(database_url).determinations
    _run(
        lambda: desk.determine_appeal(
            ccg,
            scheme,
            appeal_id,
            outcome=outcome,
            determination=determination,
            remedy=remedy,
            actor=actor or default_actor(),
        )
    )


COMMANDS = (issue, issued, reproduce, diff, appeal)
