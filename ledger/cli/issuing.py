"""``qp-ledger issue|issued|reproduce|diff``: issued decisions, and checking them later.

Each prints a readable report by default and the ledger's JSON document
with ``--json``; exit codes are the CLI's one table (docs/cli.md).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

import click
from tqdm import tqdm

from ledger.cli.common import (
    Refused,
    actor_option,
    check_failed,
    database_url_option,
    json_option,
    scheme_option,
    show,
)
from ledger.cli.output import (
    render_chain,
    render_diff,
    render_issue_all,
    render_issued,
    render_reproduction,
)
from ledger.domain.errors import DecisionUnchanged, NothingRecorded
from ledger.service.application import QPLedger, default_actor
from ledger.service.determinations import Determinations


def open_desk(database_url: str | None) -> Determinations:
    """Where issued decisions and appeals are kept (ledger/service/determinations.py)."""
    return QPLedger(database_url).determinations


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
    desk = open_desk(database_url)
    who = actor or default_actor()
    if all_ccgs:

        def bar(items: Iterable[str]) -> Iterable[str]:
            return tqdm(items, desc="issuing", unit="ccg", file=sys.stderr, disable=None)

        result = desk.issue_all(scheme, actor=who, reason=reason, progress=bar, force=force)
        show(result, as_json, render_issue_all)
        return
    assert ccg is not None
    try:
        issued = desk.issue(ccg, scheme, actor=who, reason=reason, appeal_id=appeal_id, force=force)
    except (NothingRecorded, DecisionUnchanged) as e:
        raise Refused(f"{e.message} (use --force to issue it anyway)") from None
    show(issued, as_json, lambda i: render_issued(i, just_issued=True))


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
    desk = open_desk(database_url)
    if issue_id:
        show(desk.issued_decision(ccg, scheme, issue_id), as_json, render_issued)
    else:
        show(desk.chain(ccg, scheme), as_json, render_chain)


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
    result = open_desk(database_url).reproduce(ccg, scheme, issue_id, engine_version)
    show(result, as_json, render_reproduction)
    if result["result"] != "identical":
        check_failed()


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
    result = open_desk(database_url).diff(ccg, scheme, a, b)
    show(result, as_json, lambda r: render_diff(r, ccg, scheme, (from_label, to_label)))


COMMANDS = (issue, issued, reproduce, diff)
