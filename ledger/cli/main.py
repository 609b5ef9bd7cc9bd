"""The ``qp-ledger`` command line.

Every command prints a readable report by default and its JSON document
with ``--json``. Exit codes are one table for the whole CLI, implemented once
in ``ledger/cli/common.py`` and documented in docs/cli.md: 0 success; 1
refused, not found, or a check failed (including an import that rejected any
line); 2 a usage error (a bad option or argument, a file that can't be read).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import click
from tqdm import tqdm

from ledger.cli.admin import serve, tokens
from ledger.cli.appeals import COMMANDS as APPEALS
from ledger.cli.bundle import bundle
from ledger.cli.common import (
    CONTEXT_SETTINGS,
    Instant,
    LedgerGroup,
    Refused,
    check_failed,
    database_url_option,
    group_database_url_option,
    json_option,
    path_option,
    scheme_option,
    show,
)
from ledger.cli.erase import erase
from ledger.cli.issuing import COMMANDS as ISSUING
from ledger.cli.output import render_decision
from ledger.cli.projections import COMMANDS as PROJECTIONS
from ledger.cli.proofs import COMMANDS as PROOFS
from ledger.cli.verify import verify
from ledger.cli.witness import witness
from ledger.service.application import QPLedger


@click.group(cls=LedgerGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(package_name="qp-ledger")
@group_database_url_option
def main() -> None:
    """QP Ledger: the tamper-evident audit ledger of the NHS Quality Premium.

    Each command prints a report (--json for its JSON document). Exit codes:
    0 done; 1 refused, not found or a check failed; 2 a usage error
    (docs/cli.md).

    Example:

    \b
        qp-ledger demo
        qp-ledger decision 06F --scheme qp-2013-14
        qp-ledger COMMAND --help
    """


for _command in (
    *ISSUING,
    *APPEALS,
    tokens,
    serve,
    *PROOFS,
    verify,
    *PROJECTIONS,
    bundle,
    witness,
    erase,
):
    main.add_command(_command)


def _lines_with_progress(handle: IO[bytes], total: int | None) -> Iterator[bytes]:
    with tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        desc="importing",
        file=sys.stderr,
        disable=None,
        leave=False,
    ) as bar:
        for line in handle:
            bar.update(len(line))
            yield line


@main.command("import", short_help="Import commands from a JSONL file (or - for stdin).")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option(
    "--actor",
    default=None,
    help="Who is importing (default: cli:<user>); a line's own actor field wins.",
)
@database_url_option
def import_(file: Path, actor: str | None, database_url: str | None) -> None:
    """Import commands, one JSON object per line (docs/events.md).

    Every valid line is stored; every rejected one is reported on stderr with
    its line number and reason. The last line on stdout is a JSON summary,
    {"stored": N, "rejected": M, "last_position": P, "errors": [...]}, for
    scripts. Exit status 1 if any line was rejected.

    Example:

    \b
        qp-ledger import corrections.jsonl
        cat corrections.jsonl | qp-ledger import -
    """
    if str(file) != "-" and not file.is_file():
        raise click.BadParameter(f"cannot read {file}: no such file", param_hint="FILE")
    ledger = QPLedger(database_url)
    # Read as bytes: a line that is not UTF-8 is one rejected line, not the end of the import.
    if str(file) == "-":
        report = ledger.import_lines(sys.stdin.buffer, actor=actor)
    else:
        with file.open("rb") as handle:
            lines = _lines_with_progress(handle, file.stat().st_size)
            report = ledger.import_lines(lines, actor=actor)
    for error in report.errors:
        click.echo(f"line {error['line']}: rejected: {error['message']}", err=True)
    click.echo(json.dumps({**report.summary(), "errors": report.errors}, default=str))
    if report.rejected:
        check_failed()


@main.command(short_help="The premium decision for a CCG, now or at a past moment.")
@click.argument("ccg")
@scheme_option
@click.option(
    "--as-of",
    "as_of",
    type=Instant(),
    default=None,
    help="Use only events recorded at or before this instant (UTC if no offset).",
)
@click.option(
    "--position",
    type=click.IntRange(min=0),
    default=None,
    help="Use only events at or before this log position.",
)
@json_option("Print the decision document (the contract's JSON, money in pence).")
@database_url_option
def decision(
    ccg: str,
    scheme: str,
    as_of: str | None,
    position: int | None,
    as_json: bool,
    database_url: str | None,
) -> None:
    """The premium decision for CCG, now or as it stood at a past moment.

    Each line names the events that decided it (--json). A moment before the
    CCG's first event has no decision: exit 1, saying where the record starts.

    Example:

    \b
        qp-ledger decision 06F --scheme qp-2013-14
        qp-ledger decision 06F --scheme qp-2013-14 --position 10863
        qp-ledger decision 06F --scheme qp-2013-14 --as-of 2026-11-23T08:05:23Z --json
    """
    if as_of is not None and position is not None:
        raise click.UsageError("give --as-of or --position, not both")
    ledger = QPLedger(database_url)
    decided = ledger.determinations.decision(ccg, scheme, as_of=as_of, position=position)
    show(decided.document, as_json, render_decision)


@main.command(short_help="Every event of a CCG's record, oldest first.")
@click.argument("ccg")
@scheme_option
@json_option("One JSON object per event.")
@database_url_option
def history(ccg: str, scheme: str, as_json: bool, database_url: str | None) -> None:
    """Every event of a CCG's record, with log positions, recorded times and actors.

    Example:

    \b
        qp-ledger history 06F --scheme qp-2013-14
        qp-ledger history 06F --scheme qp-2013-14 --json | tail -3
    """
    ledger = QPLedger(database_url)
    for e in ledger.iter_history(ccg, scheme):
        if as_json:
            click.echo(json.dumps(e, default=str))
        else:
            fields = " ".join(f"{k}={v}" for k, v in e["fields"].items())
            reason = f" — {e['reason']}" if e["reason"] else ""
            for field, how in e.get("erased", {}).items():
                reason += f" — [{field} erased by {how['by']} at {how['at']}: {how['why']}]"
            click.echo(
                f"{e['position']:>8}  {e['recorded_at']}  {e['type']:<32} "
                f"{e['actor'] or '-':<20} {fields}{reason}"
            )


@main.command(short_help="Load the demo 2013/14 year (all 211 CCGs).")
@click.option("--seed", default=2013, show_default=True, help="Random seed (same seed, same year).")
@click.option(
    "--ccgs",
    "limit",
    type=click.IntRange(min=1),
    default=None,
    help="Only the first N CCGs (default: all 211).",
)
@path_option("--write-jsonl", help="Write the commands to this file instead of storing them.")
@click.option("--force", is_flag=True, help="Load even into a database that holds events.")
@click.option(
    "--with-cases/--without-cases",
    default=None,
    help="Then the MRSA case story in qp-2013-14-pir: three CCGs served by one trust, "
    "four cases, one reassigned from a CCG to the trust after challenge "
    "(default: with, for the whole demo; without, with --ccgs).",
)
@database_url_option
def demo(
    seed: int,
    limit: int | None,
    write_jsonl: Path | None,
    force: bool,
    with_cases: bool | None,
    database_url: str | None,
) -> None:
    """Load a realistic, deterministic 2013/14 year for all 211 CCGs.

    Recorded times are those of the load (the ledger sets them), so replay
    the demo year by --position rather than --as-of a date in 2013. Refused
    (exit 1) if the database already holds events, unless --force. Prints
    the import's JSON summary.

    Example:

    \b
        qp-ledger demo
        qp-ledger demo --ccgs 3 --write-jsonl demo.jsonl
        qp-ledger demo --without-cases
    """
    from ledger.demo.cases import demo_case_commands
    from ledger.demo.year import demo_commands

    commands = demo_commands(seed=seed, limit=limit)
    if with_cases if with_cases is not None else limit is None:
        # After the whole year, so none of its positions move (ledger/demo/cases.py).
        commands += demo_case_commands(seed=seed)
    if write_jsonl is not None:
        with write_jsonl.open("w", encoding="utf-8") as handle:
            for command in commands:
                handle.write(json.dumps(command) + "\n")
        click.echo(json.dumps({"written": len(commands), "file": str(write_jsonl)}))
        return
    ledger = QPLedger(database_url)
    if ledger.max_position() and not force:
        raise Refused(
            f"the database already holds {ledger.max_position()} events; loading the demo "
            "again would record the whole year twice (use --force to do it anyway)"
        )
    lines = (
        json.dumps(c)
        for c in tqdm(
            commands, desc="demo year", unit="event", file=sys.stderr, disable=None, leave=False
        )
    )
    report = ledger.import_lines(lines)
    for error in report.errors:
        click.echo(f"demo line {error['line']}: rejected: {error['message']}", err=True)
    click.echo(json.dumps(report.summary()))
    if report.rejected:
        check_failed()
