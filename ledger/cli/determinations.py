"""CLI for issued decisions and appeals: ``qp-ledger issue|issued|reproduce|diff|appeal``.

Each prints a readable report by default and the ledger's JSON document
with ``--json``; exit codes are the CLI's one table (docs/cli.md).
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from ledger.cli.common import (
    EXIT_REFUSED,
    LedgerGroup,
    Refused,
    actor_option,
    database_url_option,
    emit_json,
    json_option,
    scheme_option,
)
from ledger.cli.output import (
    render_appeal,
    render_chain,
    render_diff,
    render_issue_all,
    render_issued,
    render_reproduction,
)
from ledger.domain.commands import loads_line
from ledger.domain.errors import DecisionUnchanged, LedgerError, NothingRecorded
from ledger.service.application import QPLedger, default_actor


def _desk(database_url: str | None) -> Any:
    return QPLedger(database_url).determinations


def _show(value: Any, as_json: bool, render: Any) -> None:
    if as_json:
        emit_json(value)
    else:
        click.echo(render(value))


@click.command("issue", short_help="Issue the current decision of a CCG (or --all).")
@click.argument("ccg", required=False)
@click.option("--all", "all_ccgs", is_flag=True, help="Issue for every CCG in the scheme.")
@scheme_option
@click.option("--reason", default=None, help="Why it is issued now (stored with the issue).")
@click.option(
    "--appeal",
    "appeal_id",
    default=None,
    metavar="APPEAL_ID",
    help="Issue the revised decision that follows this upheld appeal.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Issue even when the record has no events or the decision is unchanged "
    "since the CCG's latest issue.",
)
@actor_option
@json_option("Print the issued decision (with --all: every issue) as JSON.")
@database_url_option
def issue(
    ccg: str | None,
    all_ccgs: bool,
    scheme: str,
    reason: str | None,
    appeal_id: str | None,
    force: bool,
    actor: str | None,
    as_json: bool,
    database_url: str | None,
) -> None:
    """Issue the current decision for CCG (or --all): stored, never changed.

    An issue the CCG can appeal. Refused (exit 1) when nothing is recorded for
    the CCG yet, or when its decision is unchanged since its latest issue
    (the same inputs digest), unless --force. With --all, such CCGs are
    skipped and listed, and the others issued (exit 0).

    Example:

    \b
        qp-ledger issue 06F --scheme qp-2013-14 --reason "year-end determination"
        qp-ledger issue --all --scheme qp-2013-14 --reason "year end"
    """
    if bool(ccg) == all_ccgs:
        raise click.UsageError("name one CCG or give --all")
    if all_ccgs and appeal_id:
        raise click.UsageError("--appeal revises one CCG's decision: name the CCG, not --all")
    desk = _desk(database_url)
    who = actor or default_actor()
    if all_ccgs:

        def bar(items: Iterable[str]) -> Iterable[str]:
            return tqdm(items, desc="issuing", unit="ccg", file=sys.stderr, disable=None)

        result = desk.issue_all(scheme, actor=who, reason=reason, progress=bar, force=force)
        _show(result, as_json, render_issue_all)
        return
    assert ccg is not None
    try:
        issued = desk.issue(ccg, scheme, actor=who, reason=reason, appeal_id=appeal_id, force=force)
    except (NothingRecorded, DecisionUnchanged) as e:
        raise Refused(f"{e.message} (use --force to issue it anyway)") from None
    _show(issued, as_json, lambda i: render_issued(i, just_issued=True))


@click.command("issued", short_help="The decisions issued to a CCG, and its appeals.")
@click.argument("ccg")
@scheme_option
@click.option(
    "--id", "issue_id", default=None, metavar="ISSUE_ID", help="Show one issued decision in full."
)
@json_option()
@database_url_option
def issued(
    ccg: str, scheme: str, issue_id: str | None, as_json: bool, database_url: str | None
) -> None:
    """The chain of decisions issued to CCG, and its appeals (or one issue in full).

    Example:

    \b
        qp-ledger issued 06F --scheme qp-2013-14
        qp-ledger issued 06F --scheme qp-2013-14 --id 06F.qp-2013-14.1
    """
    desk = _desk(database_url)
    if issue_id:
        _show(desk.issued_decision(ccg, scheme, issue_id), as_json, render_issued)
    else:
        _show(desk.chain(ccg, scheme), as_json, render_chain)


@click.command("reproduce", short_help="Recompute an issued decision and compare.")
@click.argument("ccg")
@click.argument("issue_id")
@scheme_option
@click.option(
    "--engine-version",
    default=None,
    metavar="VERSION",
    help="Recompute with this engine version (default: the one it was issued with).",
)
@json_option()
@database_url_option
def reproduce(
    ccg: str,
    issue_id: str,
    scheme: str,
    engine_version: str | None,
    as_json: bool,
    database_url: str | None,
) -> None:
    """Recompute an issued decision at its own position: identical, or what differs.

    Exit 0 when identical; 1 when any field differs (a failed check, as for
    `verify`), or when the issue is not found.

    Example:

    \b
        qp-ledger reproduce 06F 06F.qp-2013-14.1 --scheme qp-2013-14
    """
    result = _desk(database_url).reproduce(ccg, scheme, issue_id, engine_version)
    _show(result, as_json, render_reproduction)
    if result["result"] != "identical":
        click.get_current_context().exit(EXIT_REFUSED)


def _point(value: str, param: str) -> tuple[dict[str, Any], str]:
    """FROM/TO: an issue id, ``position:N`` or ``as-of:ISO-8601``; and how to name it."""
    if value.startswith("position:"):
        number = value.removeprefix("position:")
        if not number.isdigit():
            raise click.BadParameter(
                f"{value!r}: position:N needs a whole number >= 0", param_hint=param
            )
        return {"position": int(number)}, f"position {number}"
    if value.startswith("as-of:"):
        moment = value.removeprefix("as-of:")
        return {"as_of": moment}, f"as of {moment}"
    return {"issue_id": value}, f"issue {value}"


@click.command("diff", short_help="What changed between two decisions, and why.")
@click.argument("ccg")
@click.argument("old", metavar="FROM")
@click.argument("new", metavar="[TO]", required=False)
@scheme_option
@json_option()
@database_url_option
def diff(
    ccg: str, old: str, new: str | None, scheme: str, as_json: bool, database_url: str | None
) -> None:
    """What changed between two decisions, line by line, and the events that changed it.

    FROM and TO are each an issue id, position:N or as-of:ISO-8601; without
    TO, FROM is compared with the decision as it stands now.

    Example:

    \b
        qp-ledger diff 06F 06F.qp-2013-14.1 --scheme qp-2013-14
        qp-ledger diff 06F position:10863 position:10872 --scheme qp-2013-14
    """
    a, from_label = _point(old, "FROM")
    b, to_label = _point(new, "TO") if new is not None else ({}, "now")
    result = _desk(database_url).diff(ccg, scheme, a, b)
    if as_json:
        emit_json(result)
    else:
        click.echo(render_diff(result, ccg, scheme, (from_label, to_label)))


@click.group("appeal", cls=LedgerGroup, short_help="Lodge, evidence and determine appeals.")
def appeal() -> None:
    """Lodge, evidence and determine appeals against issued decisions.

    Example:

    \b
        qp-ledger appeal lodge 06F 06F.qp-2013-14.1 --scheme qp-2013-14 \\
            --grounds "the flag concerns another trust" --dispute quality-failure
    """


@appeal.command("lodge", short_help="A CCG appeals one of its issued decisions.")
@click.argument("ccg")
@click.argument("issue_id")
@scheme_option
@click.option("--grounds", required=True, help="Why the CCG says the decision is wrong.")
@click.option(
    "--dispute",
    "disputes",
    multiple=True,
    help="A disputed component, gate, standard or event id (repeatable).",
)
@actor_option
@json_option("Print the appeal as JSON.")
@database_url_option
def lodge(
    ccg: str,
    issue_id: str,
    scheme: str,
    grounds: str,
    disputes: tuple[str, ...],
    actor: str | None,
    as_json: bool,
    database_url: str | None,
) -> None:
    """A CCG appeals one of its issued decisions, within the scheme's window.

    Example:

    \b
        qp-ledger appeal lodge 06F 06F.qp-2013-14.1 --scheme qp-2013-14 \\
            --grounds "the flag concerns another trust" --dispute quality-failure
    """
    result = _desk(database_url).lodge_appeal(
        ccg,
        scheme,
        issue_id,
        grounds=grounds,
        disputes=list(disputes),
        actor=actor or default_actor(),
    )
    _show(result, as_json, render_appeal)


@appeal.command("evidence", short_help="Add evidence to an open appeal.")
@click.argument("ccg")
@click.argument("appeal_id")
@scheme_option
@click.option("--text", required=True, help="The evidence, or what the attachments show.")
@click.option(
    "--attach",
    "attachments",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A file recorded by SHA-256, size and media type (the bytes are not stored).",
)
@click.option(
    "--media-type",
    default="application/octet-stream",
    show_default=True,
    help="The media type recorded for every --attach file, e.g. application/pdf.",
)
@actor_option
@json_option("Print the appeal as JSON.")
@database_url_option
def evidence(
    ccg: str,
    appeal_id: str,
    scheme: str,
    text: str,
    attachments: tuple[Path, ...],
    media_type: str,
    actor: str | None,
    as_json: bool,
    database_url: str | None,
) -> None:
    """Add evidence to an open appeal: text, and files recorded by digest.

    Example:

    \b
        qp-ledger appeal evidence 06F 06F.qp-2013-14.appeal-1 --scheme qp-2013-14 \\
            --text "root-cause analysis" --attach rca.pdf --media-type application/pdf
    """
    files = [
        {
            "name": p.name,
            "sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
            "size": p.stat().st_size,
            "media_type": media_type,
        }
        for p in attachments
    ]
    result = _desk(database_url).add_evidence(
        ccg, scheme, appeal_id, text=text, attachments=files, actor=actor or default_actor()
    )
    _show(result, as_json, render_appeal)


@appeal.command("determine", short_help="The Board dismisses or upholds an appeal.")
@click.argument("ccg")
@click.argument("appeal_id")
@scheme_option
@click.option(
    "--outcome",
    type=click.Choice(["dismissed", "upheld"]),
    required=True,
    help="The Board's outcome.",
)
@click.option("--determination", required=True, help="The Board's reasons.")
@click.option(
    "--remedy",
    "remedy_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="JSONL of remedy commands, as for `import`; ccg and scheme default to the "
    "appeal's (upheld only).",
)
@actor_option
@json_option("Print the appeal as JSON.")
@database_url_option
def determine(
    ccg: str,
    appeal_id: str,
    scheme: str,
    outcome: str,
    determination: str,
    remedy_file: Path | None,
    actor: str | None,
    as_json: bool,
    database_url: str | None,
) -> None:
    """The Board determines an appeal: dismissed, or upheld with a remedy.

    An upheld appeal's remedy is stored with the determination in one
    transaction; then issue the revised decision with `issue CCG --appeal ID`.

    Example:

    \b
        qp-ledger appeal determine 06F 06F.qp-2013-14.appeal-1 --scheme qp-2013-14 \\
            --outcome upheld --determination "flag raised in error" --remedy remedy.jsonl
    """
    remedy: list[Any] = []
    if remedy_file is not None:
        try:
            lines = remedy_file.read_text("utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise click.BadParameter(
                f"cannot read {remedy_file}: {e}", param_hint="--remedy"
            ) from None
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                command = loads_line(line)
                if not isinstance(command, dict):
                    raise LedgerError("must be one JSON object")
                # As over HTTP, a remedy line concerns the appeal's CCG unless it says so.
                remedy.append({"ccg": ccg, "scheme": scheme, **command})
            except (LedgerError, ValueError) as e:
                message = e.message if isinstance(e, LedgerError) else f"not valid JSON: {e}"
                raise Refused(f"--remedy {remedy_file} line {number}: {message}") from None
    result = _desk(database_url).determine_appeal(
        ccg,
        scheme,
        appeal_id,
        outcome=outcome,
        determination=determination,
        remedy=remedy,
        actor=actor or default_actor(),
    )
    _show(result, as_json, render_appeal)


COMMANDS = (issue, issued, reproduce, diff, appeal)
