"""``qp-ledger tokens …`` and ``qp-ledger serve``: running the HTTP API for real.

Kept apart from ``ledger/cli/main.py``; Flask and gunicorn are imported only when
``serve`` runs; the serve settings are in ``ledger.config``, so nothing
here imports ``api``.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from typing import Any

import click
from sqlalchemy.engine import Engine

from ledger import config as settings
from ledger.adapters.tokens import ROLES, Token, TokenStore
from ledger.cli.common import F, LedgerGroup, database_url_option, emit_json, json_option


@click.group(cls=LedgerGroup, short_help="API bearer tokens: create, list, revoke.")
def tokens() -> None:
    """API bearer tokens: create (shown once, stored hashed), list, revoke.

    Example:

    \b
        BOARD=$(qp-ledger tokens create --role board --label "the Board")
        qp-ledger tokens list
    """


@tokens.command("create", short_help="Create a token (printed once, stored hashed).")
@click.option("--role", required=True, type=click.Choice(ROLES), help="What the token may do.")
@click.option(
    "--org",
    default=None,
    metavar="CODE",
    help="For --role ccg: the CCG's ODS code (06F); for area-team: the area team "
    "code (E39000015). Not used by other roles.",
)
@click.option("--label", default=None, help="A note on who holds it (shown by `tokens list`).")
@json_option("Print the token and its details as JSON.")
@database_url_option
def create(
    role: str, org: str | None, label: str | None, as_json: bool, database_url: str | None
) -> None:
    """Create a token. The plaintext is printed once, on stdout; only its hash is stored.

    Example:

    \b
        qp-ledger tokens create --role ccg --org 06F --label "Bedfordshire finance"
    """
    store = TokenStore(database_url)
    try:
        token, plaintext = store.create(role, org, label)
    finally:
        store.close()
    if as_json:
        emit_json({**token.to_dict(), "token": plaintext}, indent=None)
        return
    click.echo(
        f"created token {token.id}: role {role}"
        + (f" for {org}" if org else "")
        + f"; events will say actor {token.actor}.\n"
        "The token is shown once, below; only its hash is stored.",
        err=True,
    )
    click.echo(plaintext)


def _row(token: Token) -> str:
    state = f"revoked {token.revoked_at}" if token.revoked_at else "active"
    return (
        f"{token.id:<14}{token.role:<11}{token.org or '-':<11}{token.created_at:<29}"
        f"{state:<8} {token.label or ''}"
    ).rstrip()


@tokens.command("list", short_help="Every token ever created (never the tokens).")
@json_option("One JSON object per token.")
@database_url_option
def list_(as_json: bool, database_url: str | None) -> None:
    """Every token ever created (ids, roles, orgs; never the tokens themselves).

    Example:

    \b
        qp-ledger tokens list --json
    """
    store = TokenStore(database_url)
    try:
        found = store.list()
    finally:
        store.close()
    if as_json:
        for token in found:
            emit_json(token.to_dict(), indent=None)
        return
    click.echo(f"{'id':<14}{'role':<11}{'org':<11}{'created':<29}state")
    for token in found:
        click.echo(_row(token))


@tokens.command("revoke", short_help="Revoke a token at once.")
@click.argument("token_id", metavar="ID")
@database_url_option
def revoke(token_id: str, database_url: str | None) -> None:
    """Revoke a token at once. Its past events keep its actor.

    Example:

    \b
        qp-ledger tokens revoke 3f9a1c2b7d4e
    """
    store = TokenStore(database_url)
    try:
        token = store.revoke(token_id)
    finally:
        store.close()
    click.echo(f"revoked token {token.id} ({token.actor}) at {token.revoked_at}")


def load_demo(database_url: str | None) -> dict[str, Any] | None:
    """Load the demo year into an empty ledger; leave a ledger with any events alone."""
    from ledger.demo.cases import demo_case_commands
    from ledger.demo.year import demo_commands  # imported lazily: only `--demo` needs it
    from ledger.service.application import QPLedger

    ledger = QPLedger(database_url)
    try:
        if ledger.max_position() > 0:
            return None
        # The year, then the MRSA case story after it (as `qp-ledger demo`).
        commands = demo_commands() + demo_case_commands()
        report = ledger.import_lines(json.dumps(c) for c in commands)
        return report.summary()
    finally:
        ledger.close()


def prepare_database(database_url: str | None) -> None:
    """Create the tables once, in the parent, before gunicorn forks its workers."""
    from ledger.service.application import QPLedger

    ledger = QPLedger(database_url)
    try:
        engine = ledger.store.datastore.engine
        assert isinstance(engine, Engine)
        TokenStore(engine=engine).close()
    finally:
        ledger.close()


def gunicorn_application(options: dict[str, Any], config: dict[str, Any]) -> Any:
    from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]

    class QPLedgerServer(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in options.items():
                if key in self.cfg.settings:  # e.g. control_socket_disable is gunicorn >= 25.1
                    self.cfg.set(key, value)

        def load(self) -> Any:
            return importlib.import_module("api").create_app(config)

    return QPLedgerServer()


def _setting(flag: str, envvar: str, default: Any, help: str, **how: Any) -> Callable[[F], F]:
    """A serve option that the environment variable of the same setting also sets."""
    return click.option(flag, envvar=envvar, default=default, show_default=True, help=help, **how)


@click.command(short_help="Serve the HTTP API (docs at /docs).")
@_setting(
    "--host",
    settings.HOST,
    settings.DEFAULT_HOST,
    f"Interface to bind (env {settings.HOST}); 0.0.0.0 in a container.",
)
@_setting(
    "--port",
    settings.PORT,
    settings.DEFAULT_PORT,
    f"Port (env {settings.PORT}).",
    type=click.IntRange(1, 65535),
)
@_setting(
    "--workers",
    settings.WORKERS,
    settings.DEFAULT_WORKERS,
    f"gunicorn worker processes (env {settings.WORKERS}).",
    type=click.IntRange(min=1),
)
@_setting(
    "--threads",
    settings.THREADS,
    settings.DEFAULT_THREADS,
    f"Threads per worker (env {settings.THREADS}).",
    type=click.IntRange(min=1),
)
@click.option(
    "--demo",
    is_flag=True,
    help="Load the demo 2013/14 year first, if the database has no events yet.",
)
@click.option(
    "--projector/--no-projector",
    default=None,
    help="Keep the read models up to date in this process (default: on for SQLite, "
    "off for PostgreSQL, where `qp-ledger project` runs as its own service).",
)
@database_url_option
def serve(
    host: str,
    port: int,
    workers: int,
    threads: int,
    demo: bool,
    projector: bool | None,
    database_url: str | None,
) -> None:
    """Serve the HTTP API with gunicorn (docs at /docs, OpenAPI at /openapi.json).

    Example:

    \b
        qp-ledger serve --demo
        qp-ledger serve --host 0.0.0.0 --port 8080 --workers 4
    """
    if demo:
        loaded = load_demo(database_url)
        if loaded is None:
            click.echo(
                "--demo: the database already has events; not loading the demo year", err=True
            )
        else:
            click.echo(f"--demo: loaded the demo year {json.dumps(loaded)}", err=True)
    prepare_database(database_url)
    config: dict[str, Any] = {settings.DATABASE_URL: database_url} if database_url else {}
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "accesslog": "-",
        "errorlog": "-",
        # Credentials a client put in a URL never reach the access log.
        "logger_class": "api.access_log.RedactingLogger",
        "timeout": 60,
        # Ctrl-C or SIGTERM: requests in flight get this long, then workers stop.
        "graceful_timeout": 5,
        "proc_name": "qp-ledger",
        # No per-user control socket: several servers (or a read-only home) must not clash.
        "control_socket_disable": True,
    }
    url = settings.database_url(database_url)
    child = None
    if projector if projector is not None else url.startswith("sqlite"):
        # A process of its own, never threads in the master: see ledger/projections/child.py.
        from ledger.projections.child import ProjectorProcess

        child = ProjectorProcess(url)
        child.start()
        click.echo(f"projecting the read models (projector process {child.pid})", err=True)
    # The last line a user reads before gunicorn's log: where the console is.
    click.echo(
        f"serving QP Ledger on http://{host}:{port} (API docs: /docs)\n"
        f"console for people: http://{host}:{port}/console/",
        err=True,
    )
    try:
        gunicorn_application(options, config).run()
    finally:
        if child is not None:
            child.stop()
