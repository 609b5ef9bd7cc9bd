"""CLI for the read models: ``qp-ledger project``, ``projections rebuild|check|status``.

Exit codes follow the CLI's one table (docs/cli.md): 0 success; 1 when ``check`` finds a
difference, a rebuild is refused, or a projector stops on an error; 2 for a
usage error.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import click
from tqdm import tqdm

from ledger.cli.common import F, LedgerGroup, Refused, database_url_option, emit_json, path_option
from ledger.config import database_url as resolve_database_url
from ledger.projections import (
    PROJECTIONS,
    ProjectorGroup,
    ReadModelDatabase,
    ReadModels,
    check,
    open_followed_ledger,
    projection_lag,
    rebuild,
)
from ledger.projections.heartbeat import beat, heartbeat_problem, lag_problem
from ledger.projections.rebuild import REBUILD_BATCH_SIZE
from ledger.projections.runner import DEFAULT_BATCH_SIZE

name_choice = click.Choice(list(PROJECTIONS))


def _emit(value: Any) -> None:
    emit_json(value, indent=None)


def _batch_size_option(default: int, help: str) -> Callable[[F], F]:
    return click.option(
        "--batch-size",
        type=click.IntRange(1, 10_000),
        default=default,
        show_default=True,
        help=help,
    )


@click.command("project", short_help="Keep the read models up to date (follow the log).")
@click.option(
    "--only",
    "names",
    multiple=True,
    type=name_choice,
    help="Project only this read model (repeatable); default: all.",
)
@_batch_size_option(DEFAULT_BATCH_SIZE, "Most events applied in one transaction.")
@click.option("--once", is_flag=True, help="Catch up with the head of the log, then exit.")
@click.option(
    "--stop-with-parent",
    "parent_pid",
    type=int,
    default=None,
    hidden=True,
    help="Stop when process PID is gone (used by `serve`, which starts the projector).",
)
@path_option(
    "--heartbeat-file",
    help="Rewrite this file every half second while every projector thread runs "
    "(for `projections status --heartbeat-file`, a container health check).",
)
@database_url_option
def project(
    names: tuple[str, ...],
    batch_size: int,
    once: bool,
    parent_pid: int | None,
    heartbeat_file: Path | None,
    database_url: str | None,
) -> None:
    """Keep the read models up to date: follow the log until stopped.

    New events arrive by LISTEN/NOTIFY on PostgreSQL and by polling on
    SQLite. SIGTERM or SIGINT stops it cleanly: the batch in hand commits or
    is rolled back whole, then the process exits 0. Several projectors may
    run at once (each event is still applied exactly once). Prints JSON.

    Example:

    \b
        qp-ledger project
        qp-ledger project --once --only decisions
    """
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    url = resolve_database_url(database_url)
    ledger = open_followed_ledger(url)
    db = ReadModelDatabase(url, ping=False)
    group = ProjectorGroup(ledger, db, list(names or PROJECTIONS), batch_size=batch_size)
    try:
        if once:
            _emit({"positions": group.catch_up()})
            return
        stopping = threading.Event()

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            click.echo(f"{signal.Signals(signum).name}: stopping", err=True)
            stopping.set()
            group.stop()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        group.start()
        click.echo(f"projecting {', '.join(p.name for p in group.projectors)}", err=True)
        while not group.stop_event.wait(0.5):
            if parent_pid is not None and os.getppid() != parent_pid:
                click.echo("the server that started this projector is gone: stopping", err=True)
                group.stop()
            elif heartbeat_file is not None:
                # A projector thread that dies sets stop_event: no beat after that.
                beat(heartbeat_file, group.positions())
        if heartbeat_file is not None:
            heartbeat_file.unlink(missing_ok=True)
        group.join()
        stats = {p.name: p.stats.__dict__ for p in group.projectors}
        _emit({"stopped": True, "positions": group.positions(), "stats": stats})
        if group.errors:
            raise Refused(f"the projector stopped on an error: {group.errors[0]!r}")
    finally:
        ledger.close()
        db.dispose()


@click.group("projections", cls=LedgerGroup, short_help="Rebuild, check and inspect read models.")
def projections() -> None:
    """Rebuild, check and inspect the read models (each prints JSON).

    Example:

    \b
        qp-ledger projections status
        qp-ledger projections check decisions
    """


@projections.command("rebuild", short_help="Rebuild read models, then switch atomically.")
@click.argument("name", required=False, type=name_choice)
@_batch_size_option(REBUILD_BATCH_SIZE, "Most events replayed in one transaction.")
@database_url_option
def rebuild_command(name: str | None, batch_size: int, database_url: str | None) -> None:
    """Rebuild NAME (default: every read model) into fresh tables, then switch atomically.

    Readers keep the current tables until the switch; a running projector
    carries on with the new ones. Prints one JSON line per read model.

    Example:

    \b
        qp-ledger projections rebuild decisions
    """
    url = resolve_database_url(database_url)
    ledger = open_followed_ledger(url)
    db = ReadModelDatabase(url, ping=False)
    try:
        head = ledger.max_position()
        with tqdm(
            total=head, unit="pos", desc="rebuilding", file=sys.stderr, disable=None, leave=False
        ) as bar:

            def progress(position: int) -> None:
                bar.update(max(0, min(position, head) - bar.n))

            results = rebuild(ledger, db, [name] if name else [], batch_size=batch_size,
                              progress=progress)  # fmt: skip
        for result in results:
            _emit(result.to_dict())
    finally:
        ledger.close()
        db.dispose()


@projections.command("check", short_help="Compare read models with a fresh replay.")
@click.argument("name", required=False, type=name_choice)
@click.option(
    "--no-documents",
    is_flag=True,
    help="Skip re-deciding each current decision with QPLedger.decision (faster).",
)
@database_url_option
def check_command(name: str | None, no_documents: bool, database_url: str | None) -> None:
    """Compare every row of NAME (default: all) with a fresh replay of the log.

    Exits 1 naming the first difference (table, row key, column, both values).

    Example:

    \b
        qp-ledger projections check --no-documents
    """
    url = resolve_database_url(database_url)
    ledger = open_followed_ledger(url)
    db = ReadModelDatabase(url)
    try:
        report = check(ledger, db, [name] if name else None, documents=not no_documents)
    finally:
        ledger.close()
        db.dispose()
    _emit(report.summary())
    if report.difference is not None:
        raise Refused(f"first difference: {report.difference}")


@projections.command("status", short_help="Each read model's position and lag (JSON).")
@path_option(
    "--heartbeat-file",
    help="Also require a live projector: the file `project --heartbeat-file` rewrites.",
)
@click.option(
    "--max-age",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Seconds: an older heartbeat means the projector is dead (exit 1).",
)
@click.option(
    "--max-lag-seconds",
    type=click.FloatRange(min=0),
    default=None,
    help="Exit 1 when a read model is further behind the log than this.",
)
@database_url_option
def status_command(
    heartbeat_file: Path | None,
    max_age: float,
    max_lag_seconds: float | None,
    database_url: str | None,
) -> None:
    """Each read model's generation, position and lag behind the log (JSON).

    With --heartbeat-file and --max-lag-seconds it is a health check: exit 1
    (and say why) when the projector is not running or is too far behind.

    Example:

    \b
        qp-ledger projections status
        qp-ledger projections status --heartbeat-file /tmp/projector.alive --max-lag-seconds 600
    """
    read_models = ReadModels(resolve_database_url(database_url))
    try:
        lag = projection_lag(read_models)
    finally:
        read_models.close()
    _emit(lag)
    problems = [
        heartbeat_problem(heartbeat_file, max_age) if heartbeat_file is not None else None,
        lag_problem(lag, max_lag_seconds) if max_lag_seconds is not None else None,
    ]
    found = [p for p in problems if p]
    if found:
        raise Refused("; ".join(found))


COMMANDS = (project, projections)
