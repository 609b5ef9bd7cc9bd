"""The ``qp-ledger`` command line.

Exit codes are part of the public contract: 0 success; 1 when an import
rejected any line or a request was refused; 2 for a usage error (bad option,
unknown CCG or scheme, a file that can't be read).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import click
from tqdm import tqdm

from ledger.application import QPLedger
from ledger.config import DATABASE_URL
from ledger.errors import LedgerError

db_option = click.option(
    "--database-url",
    envvar=DATABASE_URL,
    default=None,
    metavar="URL",
    help=f"Database URL (env {DATABASE_URL}); default: sqlite:///qp-ledger.db",
)


def open_ledger(database_url: str | None) -> QPLedger:
    return QPLedger(database_url)


def fail(message: str, code: int = 2) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="qp-ledger")
def main() -> None:
    """QP Ledger: the tamper-evident audit ledger of the NHS Quality Premium."""


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


@main.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option(
    "--actor",
    default=None,
    help="Who is importing (default: cli:<user>); a line's own actor field wins.",
)
@db_option
def import_(file: Path, actor: str | None, database_url: str | None) -> None:
    """Import commands, one JSON object per line (CONTRACT.md).

    Every valid line is stored; every rejected one is reported on stderr with
    its line number and reason. The last line on stdout is a JSON summary.
    Exit status 1 if any line was rejected.
    """
    if str(file) != "-" and not file.is_file():
        fail(f"cannot read {file}: no such file")
    ledger = open_ledger(database_url)
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
    sys.exit(1 if report.rejected else 0)


@main.command()
@click.argument("ccg")
@click.option("--scheme", required=True, help="Scheme id, e.g. qp-2013-14")
@click.option(
    "--as-of",
    "as_of",
    default=None,
    metavar="ISO-8601",
    help="Use only events recorded at or before this instant (UTC if no offset).",
)
@click.option(
    "--position",
    type=click.IntRange(min=0),
    default=None,
    help="Use only events at or before this log position.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the decision document as JSON.")
@db_option
def decision(
    ccg: str,
    scheme: str,
    as_of: str | None,
    position: int | None,
    as_json: bool,
    database_url: str | None,
) -> None:
    """The premium decision for CCG, now or as it stood at a past moment."""
    if as_of is not None and position is not None:
        fail("give --as-of or --position, not both")
    ledger = open_ledger(database_url)
    try:
        document = ledger.decision(ccg, scheme, as_of=as_of, position=position).document
    except LedgerError as e:
        fail(e.message)
    if as_json:
        click.echo(json.dumps(document, indent=2))
    else:
        click.echo(render_decision(document))


def _met(value: bool | None) -> str:
    return {True: "met", False: "NOT MET", None: "pending"}[value]


def _pounds(pence: int | None) -> str:
    return "-" if pence is None else f"£{pence / 100:,.2f}"


def render_decision(d: dict[str, Any]) -> str:
    """A readable table of the decision document (the JSON is the contract)."""
    out = [
        f"Quality Premium decision — CCG {d['ccg']}, scheme {d['scheme']}",
        f"as of {d['as_of'] or '(empty log)'} (log position {d['position']}) — {d['status']}",
        f"population {d['population'] if d['population'] is not None else 'not recorded'}; "
        f"maximum {_pounds(d['maximum_pence'])}",
        "",
        f"{'measure':<34}{'share':>7}  {'result':<9}{'earned':>16}",
    ]
    for c in d["components"]:
        out.append(
            f"{c['measure']:<34}{c['share']:>7}  {_met(c['met']):<9}"
            f"{_pounds(c['earned_pence']):>16}"
        )
        for cr in c["criteria"]:
            out.append(
                f"    {cr['criterion']:<30} value {cr['value']!s:<10} target "
                f"{cr['target']!s:<10} {_met(cr['met'])}"
            )
    out.append("")
    for g in d["gates"]:
        state = {True: "open", False: "CLOSED", None: "undecided (counts as open)"}[g["open"]]
        out.append(f"gate {g['gate']:<22} {state}")
    for x in d["deductions"]:
        out.append(
            f"standard {x['standard']:<22} value {x['value']!s:<8} threshold "
            f"{x['threshold']!s:<6} {_met(x['met']):<8} reduction {x['reduction']}"
        )
    out += [
        "",
        f"earned  {_pounds(d['earned_pence'])}",
        f"payable {_pounds(d['payable_pence'])}",
        f"engine {d['engine_version']}; inputs {d['inputs_digest']}",
    ]
    return "\n".join(out)


@main.command()
@click.argument("ccg")
@click.option("--scheme", required=True, help="Scheme id, e.g. qp-2013-14")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per event.")
@db_option
def history(ccg: str, scheme: str, as_json: bool, database_url: str | None) -> None:
    """Every event of a CCG's record, with log positions, recorded times and actors."""
    ledger = open_ledger(database_url)
    try:
        events = ledger.iter_history(ccg, scheme)
        for e in events:
            if as_json:
                click.echo(json.dumps(e, default=str))
            else:
                fields = " ".join(f"{k}={v}" for k, v in e["fields"].items())
                reason = f" — {e['reason']}" if e["reason"] else ""
                click.echo(
                    f"{e['position']:>8}  {e['recorded_at']}  {e['type']:<32} "
                    f"{e['actor'] or '-':<20} {fields}{reason}"
                )
    except LedgerError as e:
        fail(e.message)


@main.command()
@click.option("--seed", default=2013, show_default=True, help="Random seed (same seed, same year).")
@click.option(
    "--ccgs",
    "limit",
    type=click.IntRange(min=1),
    default=None,
    help="Only the first N CCGs (default: all 211).",
)
@click.option(
    "--write-jsonl",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the commands to this file instead of storing them.",
)
@click.option("--force", is_flag=True, help="Load even into a database that holds events.")
@db_option
def demo(
    seed: int, limit: int | None, write_jsonl: Path | None, force: bool, database_url: str | None
) -> None:
    """Load a realistic, deterministic 2013/14 year for all 211 CCGs.

    Recorded times are those of the load (the ledger sets them), so replay
    the demo year by --position rather than --as-of a date in 2013.
    """
    from ledger.demo import demo_commands

    commands = demo_commands(seed=seed, limit=limit)
    if write_jsonl is not None:
        with write_jsonl.open("w", encoding="utf-8") as handle:
            for command in commands:
                handle.write(json.dumps(command) + "\n")
        click.echo(json.dumps({"written": len(commands), "file": str(write_jsonl)}))
        return
    ledger = open_ledger(database_url)
    if ledger.max_position() and not force:
        fail(
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
    sys.exit(1 if report.rejected else 0)


from ledger.cli_determinations import COMMANDS as _DETERMINATION_COMMANDS  # noqa: E402

for _command in _DETERMINATION_COMMANDS:
    main.add_command(_command)

from ledger.cli_admin import serve, tokens  # noqa: E402

main.add_command(tokens)
main.add_command(serve)

from ledger.cli_integrity import COMMANDS as _INTEGRITY_COMMANDS  # noqa: E402
from ledger.cli_projections import COMMANDS as _PROJECTION_COMMANDS  # noqa: E402

for _command in _INTEGRITY_COMMANDS:
    main.add_command(_command)

for _command in _PROJECTION_COMMANDS:
    main.add_command(_command)
