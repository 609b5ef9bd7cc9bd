"""Tokens: shown once, stored only as SHA-256 hashes; the CLI creates, lists and revokes them."""

from __future__ import annotations

import hashlib
import json

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from ledger.adapters.tokens import VERIFIED_SECONDS, TokenStore
from ledger.cli.main import main
from ledger.domain.errors import InvalidCommand, NotFound


def dump_database(url: str) -> str:
    """Every value of every table, as text: what a leaked backup would show."""
    engine = create_engine(url)
    out = []
    with engine.connect() as conn:
        if url.startswith("sqlite"):
            names = [
                r[0]
                for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))
            ]
        else:
            names = [
                r[0]
                for r in conn.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname='public'")
                )
            ]
        for name in names:
            for row in conn.execute(text(f'SELECT * FROM "{name}"')):
                out.append(
                    " ".join(
                        bytes(v).decode("latin-1") if isinstance(v, (bytes, memoryview)) else str(v)
                        for v in row
                    )
                )
    engine.dispose()
    return "\n".join(out)


def test_tokens_are_stored_only_as_hashes(database_url) -> None:
    store = TokenStore(database_url)
    token, plaintext = store.create("ccg", "06F", label="finance team")
    dump = dump_database(database_url)
    assert plaintext not in dump
    assert plaintext.removeprefix("qpl_") not in dump
    assert hashlib.sha256(plaintext.encode()).hexdigest() in dump
    assert store.authenticate(plaintext) == token
    assert token.actor == f"ccg:06F#{token.id}"
    store.close()


def test_create_checks_role_and_org(sqlite_url) -> None:
    store = TokenStore(sqlite_url)
    for role, org in [
        ("ccg", None),
        ("ccg", "ZZZ"),
        ("area-team", "06F"),
        ("board", "06F"),
        ("admin", None),
    ]:
        with pytest.raises(InvalidCommand):
            store.create(role, org)
    assert store.create("area-team", "E39000015")[0].org == "E39000015"
    with pytest.raises(NotFound):
        store.revoke("nope")
    store.close()


def test_cli_create_list_revoke(sqlite_url) -> None:
    runner = CliRunner()
    db = ["--database-url", sqlite_url]
    created = runner.invoke(main, ["tokens", "create", "--role", "ccg", "--org", "06F", *db])
    assert created.exit_code == 0, created.output
    plaintext = created.stdout.strip()
    assert plaintext.startswith("qpl_") and "\n" not in plaintext
    assert "shown once" in created.stderr
    as_json = runner.invoke(main, ["tokens", "create", "--role", "auditor", "--json", *db])
    auditor = json.loads(as_json.stdout)
    assert auditor["role"] == "auditor" and auditor["token"].startswith("qpl_")

    listed = runner.invoke(main, ["tokens", "list", *db])
    assert listed.exit_code == 0
    assert "06F" in listed.stdout and plaintext not in listed.stdout
    rows = [
        json.loads(line)
        for line in runner.invoke(main, ["tokens", "list", "--json", *db]).stdout.splitlines()
    ]
    assert {r["role"] for r in rows} == {"ccg", "auditor"}
    assert all("token" not in r and "token_sha256" not in r for r in rows)

    revoked = runner.invoke(main, ["tokens", "revoke", auditor["id"], *db])
    assert revoked.exit_code == 0 and "revoked" in revoked.stdout
    assert TokenStore(sqlite_url).authenticate(auditor["token"]) is None
    assert runner.invoke(main, ["tokens", "revoke", "nope", *db]).exit_code == 1
    bad = runner.invoke(main, ["tokens", "create", "--role", "ccg", "--org", "ZZZ", *db])
    # An unknown CCG is refused (exit 1), as by every command (docs/cli.md).
    assert bad.exit_code == 1 and "unknown CCG" in bad.stderr
    assert runner.invoke(main, ["tokens", "create", "--role", "root", *db]).exit_code == 2


def test_a_verified_token_is_kept_briefly_and_a_revocation_elsewhere_ends_it(
    database_url,
) -> None:
    now = [0.0]
    serving = TokenStore(database_url, clock=lambda: now[0])  # a serve process
    token, plaintext = serving.create("board")
    assert serving.authenticate(plaintext) == token
    TokenStore(database_url).revoke(token.id)  # `qp-ledger tokens revoke`: another process
    now[0] = VERIFIED_SECONDS + 0.001
    assert serving.authenticate(plaintext) is None
    assert serving.authenticate("qpl_unknown") is None  # refusals are asked again, never kept
    later, late_plaintext = TokenStore(database_url).create("auditor")
    assert serving.authenticate(late_plaintext) == later
    serving.revoke(later.id)  # the revoking process itself refuses it at once
    assert serving.authenticate(late_plaintext) is None
    serving.close()
