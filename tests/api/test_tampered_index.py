"""An index row moved to another stream: the decision is an error naming it, never a guess.

Over HTTP a 500 problem document (the fault is in the server's data, not the
request) whose detail names the position; on the command line one line and
exit 1. Nothing is computed from the tampered index.
"""

from __future__ import annotations

from click.testing import CliRunner
from flask import Flask

from ledger.cli.main import main
from tests.api.apikit import CCG, RECORD, SCHEME, command, headers_factory, ledger_of
from tests.ledgerkit import move_index_row


def test_a_decision_over_a_moved_index_row_is_a_problem_naming_it(
    api_app: Flask, database_url: str
) -> None:
    ledger = ledger_of(api_app)
    ledger.execute(command("population_recorded", population=449_953, source="ONS"))
    moved = ledger.execute(
        command("financial_position_declared", outturn="overspend", amount_pence=100)
    ).position
    ledger.execute(command("population_recorded", population=449_954, source="ONS"))
    move_index_row(database_url, moved)

    headers = headers_factory(api_app)("board")
    client = api_app.test_client()
    answer = client.get(f"{RECORD}/decision?position={moved + 1}", headers=headers)
    assert answer.status_code == 500, answer.get_data(as_text=True)
    assert answer.mimetype == "application/problem+json"
    problem = answer.get_json()
    assert problem["code"] == "tampered-index"
    assert "has no index row" in problem["detail"] or str(moved) in problem["detail"]

    result = CliRunner().invoke(
        main,
        ["decision", CCG, "--scheme", SCHEME, "--position", str(moved + 1)],
        env={"QP_LEDGER_DATABASE_URL": database_url},
    )
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "the event index does not match the events" in result.output
