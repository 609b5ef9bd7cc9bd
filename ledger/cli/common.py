"""What every ``qp-ledger`` command shares: exit codes, errors, common options, JSON output.

One mapping from what went wrong to an exit code, for the whole CLI
(docs/cli.md has the table), so a script can rely on it whichever command
it runs:

* 0 — done (``verify``: intact; ``reproduce``: identical);
* 1 — refused or not found, or a check failed: the ledger looked and said no
  (:class:`Refused`; every :class:`~ledger.errors.LedgerError` becomes one),
  an import rejected a line, ``verify``/``reproduce``/``projections check``
  found a difference;
* 2 — usage error: the command line itself cannot be acted on (an unknown,
  missing or conflicting option or argument, a value of the wrong form, an
  input file that cannot be read). click's own :class:`click.UsageError`.

Commands raise; they never call ``sys.exit`` with a number of their own.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, NoReturn, TypeVar

import click

from ledger.config import DATABASE_URL, DEFAULT_DATABASE_URL
from ledger.domain.clock import parse_instant
from ledger.domain.errors import LedgerError

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2

#: Wide enough that no summary in ``qp-ledger --help`` is cut short on a
#: wide terminal; on an 80-column one, the first lines are short enough anyway.
CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

F = TypeVar("F", bound=Callable[..., Any])


class Refused(click.ClickException):
    """The ledger refused the request, found nothing, or a check failed: exit 1.

    Printed as ``error: <message>`` on stderr (nothing on stdout), the same
    words the HTTP API puts in its problem document's ``detail``.
    """

    exit_code = EXIT_REFUSED

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True, file=file)


class LedgerGroup(click.Group):
    """A command group that turns any :class:`LedgerError` into :class:`Refused`.

    So no command needs its own ``try``/``except`` to get the one exit code
    and message format for a refusal.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LedgerError as e:
            raise Refused(e.message) from None


class Instant(click.ParamType[str, Any]):
    """An ISO-8601 instant (UTC when no offset): a malformed one is a usage error.

    Whether it is in the future is the ledger's question (exit 1), not the
    command line's.
    """

    name = "ISO-8601"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            parse_instant(str(value))
        except LedgerError as e:
            self.fail(e.message.split(": ", 1)[-1], param, ctx)
        return str(value)


def _database_url(help: str, **how: Any) -> Callable[[F], F]:
    return click.option(
        "--database-url", "database_url", default=None, metavar="URL", help=help, **how
    )


def _for_subcommands(ctx: click.Context, _param: click.Parameter, url: str | None) -> None:
    # `qp-ledger --database-url X decision ...` is how users type it. Every
    # subcommand (and `serve`'s workers) reads the environment variable, so
    # setting it reaches them all, below their own option in precedence; it
    # is put back when the command ends (tests run many in one process).
    if url is None:
        return
    previous = os.environ.get(DATABASE_URL)
    os.environ[DATABASE_URL] = url

    def restore() -> None:
        if previous is None:
            os.environ.pop(DATABASE_URL, None)
        else:
            os.environ[DATABASE_URL] = previous

    ctx.call_on_close(restore)


#: Every command's own ``--database-url``: it wins over the group's and the environment.
database_url_option = _database_url(
    f"Database URL (env {DATABASE_URL}); default: {DEFAULT_DATABASE_URL}", envvar=DATABASE_URL
)
#: ``qp-ledger --database-url URL COMMAND``: for whichever command follows.
group_database_url_option = _database_url(
    f"Database URL for the command that follows (env {DATABASE_URL}); "
    "the command's own --database-url wins.",
    expose_value=False,
    callback=_for_subcommands,
)
scheme_option = click.option(
    "--scheme", required=True, metavar="SCHEME", help="Scheme id, e.g. qp-2013-14."
)
actor_option = click.option(
    "--actor", default=None, help="Who is acting, stored on the event (default: cli:<user>)."
)


def json_option(what: str = "Print the JSON document instead of the report.") -> Callable[[F], F]:
    return click.option("--json", "as_json", is_flag=True, help=what)


def emit_json(value: Any, *, indent: int | None = 2) -> None:
    click.echo(json.dumps(value, indent=indent, default=str))


def path_option(*decls: str, help: str, **how: Any) -> Callable[[F], F]:
    """An option naming one file (never a directory), as a :class:`~pathlib.Path`."""
    how.setdefault("default", None)
    return click.option(*decls, type=click.Path(dir_okay=False, path_type=Path), help=help, **how)


def show(value: Any, as_json: bool, render: Callable[[Any], str]) -> None:
    """The JSON document with ``--json``, else its readable report."""
    if as_json:
        emit_json(value)
    else:
        click.echo(render(value))


def check_failed() -> NoReturn:
    """Exit 1 with no message of its own: the report just printed says what failed."""
    raise click.exceptions.Exit(EXIT_REFUSED)


def write_whole(path: Path, data: bytes) -> None:
    """Write a file whole or not at all (a temporary name, then a rename)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(data)
        temporary.replace(path)
    except OSError as e:
        temporary.unlink(missing_ok=True)
        raise click.UsageError(f"cannot write {path}: {e.strerror or e}") from None
