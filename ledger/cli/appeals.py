"""``qp-ledger appeal lodge|evidence|determine``: a CCG's appeal against an issued decision.

Every step names the CCG, the issue or appeal, and the scheme, records who
acted, and prints the appeal (``--json``: its JSON document); exit codes
are the CLI's one table (docs/cli.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ledger.cli.common import (
    F,
    LedgerGroup,
    Refused,
    actor_option,
    database_url_option,
    json_option,
    scheme_option,
    show,
)
from ledger.cli.issuing import open_desk
from ledger.cli.output import render_appeal
from ledger.domain.commands import loads_line
from ledger.domain.errors import LedgerError
from ledger.service.application import default_actor
from ledger.service.determinations import Determinations


@click.group("appeal", cls=LedgerGroup, short_help="Lodge, evidence and determine appeals.")
def appeal() -> None:
    """Lodge, evidence and determine appeals against issued decisions.

    Example:

    \b
        qp-ledger appeal lodge 06F 06F.qp-2013-14.1 --scheme qp-2013-14 \\
            --grounds "the flag concerns another trust" --dispute quality-failure
    """


def step(
    name: str, short_help: str, what: str, *options: Callable[[F], F]
) -> Callable[[F], click.Command]:
    """An appeal command. Every step takes the same arguments and options around its own:
    CCG, the issue or appeal it concerns, --scheme; then --actor, --json, --database-url."""
    around: tuple[Callable[[F], F], ...] = (
        click.argument("ccg"),
        click.argument(what),
        scheme_option,
        *options,
        actor_option,
        json_option("Print the appeal as JSON."),
        database_url_option,
    )

    def decorate(f: F) -> click.Command:
        for option in reversed(around):  # as if written above the function, top to bottom
            f = option(f)
        return appeal.command(name, short_help=short_help)(f)

    return decorate


def record(
    database_url: str | None,
    actor: str | None,
    as_json: bool,
    act: Callable[[Determinations, str], dict[str, Any]],
) -> None:
    """Take one step on the appeal as ``actor`` (default: cli:<user>) and show the appeal."""
    show(act(open_desk(database_url), actor or default_actor()), as_json, render_appeal)


@step(
    "lodge",
    "A CCG appeals one of its issued decisions.",
    "issue_id",
    click.option("--grounds", required=True, help="Why the CCG says the decision is wrong."),
    click.option(
        "--dispute",
        "disputes",
        multiple=True,
        help="A disputed component, gate, standard or event id (repeatable).",
    ),
)
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
    record(
        database_url,
        actor,
        as_json,
        lambda desk, who: desk.lodge_appeal(
            ccg, scheme, issue_id, grounds=grounds, disputes=list(disputes), actor=who
        ),
    )


@step(
    "evidence",
    "Add evidence to an open appeal.",
    "appeal_id",
    click.option("--text", required=True, help="The evidence, or what the attachments show."),
    click.option(
        "--attach",
        "attachments",
        multiple=True,
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="A file recorded by SHA-256, size and media type (the bytes are not stored).",
    ),
    click.option(
        "--media-type",
        default="application/octet-stream",
        show_default=True,
        help="The media type recorded for every --attach file, e.g. application/pdf.",
    ),
)
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
    record(
        database_url,
        actor,
        as_json,
        lambda desk, who: desk.add_evidence(
            ccg, scheme, appeal_id, text=text, attachments=files, actor=who
        ),
    )


@step(
    "determine",
    "The Board dismisses or upholds an appeal.",
    "appeal_id",
    click.option(
        "--outcome",
        type=click.Choice(["dismissed", "upheld"]),
        required=True,
        help="The Board's outcome.",
    ),
    click.option("--determination", required=True, help="The Board's reasons."),
    click.option(
        "--remedy",
        "remedy_file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help="JSONL of remedy commands, as for `import`; ccg and scheme default to the "
        "appeal's (upheld only).",
    ),
)
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
    remedy = [] if remedy_file is None else _remedy(remedy_file, ccg, scheme)
    record(
        database_url,
        actor,
        as_json,
        lambda desk, who: desk.determine_appeal(
            ccg,
            scheme,
            appeal_id,
            outcome=outcome,
            determination=determination,
            remedy=remedy,
            actor=who,
        ),
    )


def _remedy(path: Path, ccg: str, scheme: str) -> list[Any]:
    """The remedy commands of ``--remedy`` (JSONL, as for ``import``); any bad line refuses all."""
    try:
        lines = path.read_text("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise click.BadParameter(f"cannot read {path}: {e}", param_hint="--remedy") from None
    remedy: list[Any] = []
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
            raise Refused(f"--remedy {path} line {number}: {message}") from None
    return remedy


COMMANDS = (appeal,)
