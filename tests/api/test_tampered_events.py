"""An event deleted from the events table: decisions that would need it are errors naming it.

The replay rebuilds a record from its stored events; with one gone, the
versions have a gap and the record would be rebuilt without it. Over HTTP a
500 problem document (``tampered-events``) naming the stream and version; on
the command line one line and exit 1. A decision that does not need the
event (a position before it) is served as before.
"""

from __future__ import annotations

from click.testing import CliRunner
from flask import Flask

from ledger.cli.main import main
from tests.api.apikit import CCG, RECORD, SCHEME, command, headers_factory, ledger_of
from tests.ledgerkit import behind_the_ledger


def test_a_decision_over_a_deleted_event_is_a_problem_naming_it(
    api_app: Flask, database_url: str
) -> None:
    ledger = ledger_of(api_app)
    ledger.execute(command("population_recorded", population=449_953, source="ONS"))
    gone = ledger.execute(
        command("financial_position_declared", outturn="overspend", amount_pence=100)
    )
    ledger.execute(command("population_recorded", population=449_954, source="ONS"))
    headers = headers_factory(api_app)("board")
    client = api_app.test_client()
    before = client.get(f"{RECORD}/decision?position={gone.position - 1}", headers=headers)
    assert before.status_code == 200
    behind_the_ledger(database_url, "DELETE FROM qpledger_events WHERE id = :p", p=gone.position)

    answer = client.get(f"{RECORD}/decision?position={gone.position + 1}", headers=headers)
    assert answer.status_code == 500, answer.get_data(as_text=True)
    assert answer.mimetype == "application/problem+json"
    problem = answer.get_json()
    assert problem["code"] == "tampered-events"
    assert f"no row for version {gone.version} of stream" in problem["detail"]
    same = client.get(f"{RECORD}/decision?position={gone.position - 1}", headers=headers)
    assert same.status_code == 200 and same.get_json() == before.get_json()

    result = CliRunner().invoke(
        main,
        ["decision", CCG, "--scheme", SCHEME, "--position", str(gone.position + 1)],
        env={"QP_LEDGER_DATABASE_URL": database_url},
    )
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert f"no row for version {gone.version} of stream" in result.output
