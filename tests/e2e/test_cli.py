"""The real ``qp-ledger`` console script, run as a user would (docs/contract.md).

Exit codes (docs/cli.md): 0 success; 1 refused or not found (an import that
rejected any line, an unknown CCG, nothing recorded at that point); 2 for a
usage error (bad option or argument, unreadable file).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

SCHEME = "qp-2013-14"
YEAR = "2013-14"
SCRIPT = shutil.which("qp-ledger", path=str(Path(sys.executable).parent)) or "qp-ledger"


def qp(*args: str, db: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QP_LEDGER_")}
    command = [SCRIPT, *args]
    if db is not None:
        command += ["--database-url", f"sqlite:///{db}"]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def cmd(kind: str, ccg: str = "06F", **fields: Any) -> dict[str, Any]:
    return {"type": kind, "ccg": ccg, "scheme": SCHEME, **fields}


def jsonl(path: Path, *lines: dict[str, Any] | str) -> Path:
    path.write_text(
        "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines),
        encoding="utf-8",
    )
    return path


YEAR_OF_06F = [
    cmd("population_recorded", population=449_953, source="ONS"),
    cmd("threshold_agreed", measure="pyll", criterion="pyll-rate", baseline=2100, target=2000),
    cmd("measure_submitted", measure="pyll", criterion="pyll-rate", period=YEAR, value=1950),
    cmd(
        "threshold_agreed",
        measure="avoidable-emergency-admissions",
        criterion="admissions-rate",
        baseline=1050,
        target=1000,
    ),
    cmd(
        "measure_submitted",
        measure="avoidable-emergency-admissions",
        criterion="admissions-rate",
        period=YEAR,
        value=990,
    ),
    cmd("constitution_standard_submitted", standard="ae-4-hours", period=YEAR, value=0.94),
]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ledger file holding 06F's year so far (positions 1-7), loaded through the CLI."""
    directory = tmp_path_factory.mktemp("cli")
    db = directory / "ledger.db"
    result = qp(
        "import", str(jsonl(directory / "year.jsonl", *YEAR_OF_06F)), "--actor", "cli:test", db=db
    )
    assert result.returncode == 0, result.stderr
    return db


def test_import_with_bad_lines_exits_1_and_names_each_one(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    source = jsonl(
        tmp_path / "mixed.jsonl",
        cmd("population_recorded", population=449_953, source="ONS"),  # 1
        cmd("population_recorded", "ZZZ", population=1, source="ONS"),  # 2
        '{"type": "population_recorded", "ccg": "06F"',  # 3
        cmd("quality_failure_rescinded", flag_id="QF-404"),  # 4
        "",  # 5
        cmd(
            "measure_submitted", measure="pyll", criterion="pyll-rate", period=YEAR, value=1950
        ),  # 6
    )
    result = qp("import", str(source), db=db)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("line ")]
    assert [line.split(":", 1)[0] for line in errors] == ["line 2", "line 3", "line 4"]
    assert "unknown CCG code 'ZZZ'" in errors[0]
    assert "not valid JSON" in errors[1]
    assert "'QF-404' is not an active quality failure for 06F (was never flagged)" in errors[2]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    # 06F opened (1) + line 1 (2) + line 6 (3)
    assert (summary["stored"], summary["rejected"], summary["last_position"]) == (2, 3, 3)
    assert [e["line"] for e in summary["errors"]] == [2, 3, 4]


def test_import_of_good_lines_exits_0(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    result = qp("import", str(jsonl(tmp_path / "good.jsonl", *YEAR_OF_06F)), db=db)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary == {"stored": 6, "rejected": 0, "last_position": 7, "errors": []}
    # Importing more appends after what is there.
    again = qp(
        "import",
        str(
            jsonl(
                tmp_path / "more.jsonl",
                cmd("financial_position_declared", outturn="balanced", amount_pence=0),
            )
        ),
        db=db,
    )
    assert again.returncode == 0
    assert json.loads(again.stdout.strip().splitlines()[-1])["last_position"] == 8


def test_import_of_a_missing_file_exits_2(tmp_path: Path) -> None:
    result = qp("import", str(tmp_path / "nowhere.jsonl"), db=tmp_path / "ledger.db")
    assert result.returncode == 2
    assert "nowhere.jsonl" in result.stderr
    assert "no such file" in result.stderr


def test_decision_json_is_the_contract_document(loaded: Path) -> None:
    result = qp("decision", "06F", "--scheme", SCHEME, "--json", db=loaded)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert (doc["ccg"], doc["scheme"], doc["position"]) == ("06F", SCHEME, 7)
    assert doc["as_of"].endswith("Z")
    assert doc["status"] == "provisional"  # financial position and three standards unknown
    assert (doc["population"], doc["maximum_pence"]) == (449_953, 224_976_500)
    gates = {g["gate"]: g for g in doc["gates"]}
    assert set(gates) == {"quality-failure", "financial-balance"}
    assert gates["quality-failure"]["open"] is True
    assert gates["financial-balance"]["open"] is None
    assert all(isinstance(g["events"], list) for g in doc["gates"])
    components = {c["measure"]: c for c in doc["components"]}
    assert list(components) == [
        "pyll",
        "avoidable-emergency-admissions",
        "friends-and-family",
        "hcai",
        "local-1",
        "local-2",
        "local-3",
    ]
    for c in doc["components"]:
        assert {"measure", "share", "met", "earned_pence", "criteria"} <= set(c)
        for line in c["criteria"]:
            assert {"criterion", "value", "target", "met", "events"} <= set(line)
    assert [c["share"] for c in doc["components"]] == [
        "0.125",
        "0.25",
        "0.125",
        "0.125",
        "0.125",
        "0.125",
        "0.125",
    ]
    pyll = components["pyll"]
    assert (pyll["met"], pyll["earned_pence"]) == (True, 28_122_063)  # 224,976,500 x 0.125
    (rate,) = pyll["criteria"]
    assert (rate["criterion"], rate["value"], rate["target"], rate["met"]) == (
        "pyll-rate",
        1950,
        2000,
        True,
    )
    assert [(e["position"], e["type"]) for e in rate["events"]] == [
        (3, "threshold_agreed"),
        (4, "measure_submitted"),
    ]
    assert all(isinstance(e["id"], str) for e in rate["events"])
    assert components["avoidable-emergency-admissions"]["earned_pence"] == 56_244_125
    assert components["hcai"]["met"] is None
    deductions = {d["standard"]: d for d in doc["deductions"]}
    assert set(deductions) == {
        "rtt-18-weeks",
        "ae-4-hours",
        "cancer-2-week-wait",
        "ambulance-cat-a-8-min",
    }
    ae = deductions["ae-4-hours"]
    assert (ae["met"], ae["reduction"], [e["position"] for e in ae["events"]]) == (
        False,
        "0.25",
        [7],
    )
    assert deductions["rtt-18-weeks"]["met"] is None
    # earned: 0.375 x 224,976,500 = 84,366,187.5 -> 84,366,188;
    # payable: x 0.75 (A&E missed) = 63,274,640.625 -> 63,274,641
    assert (doc["earned_pence"], doc["payable_pence"]) == (84_366_188, 63_274_641)
    assert doc["engine_version"]
    assert doc["inputs_digest"].startswith("sha256:")


def test_decision_by_position_and_as_of(loaded: Path) -> None:
    at_4 = qp("decision", "06F", "--scheme", SCHEME, "--position", "4", "--json", db=loaded)
    assert at_4.returncode == 0, at_4.stderr
    doc = json.loads(at_4.stdout)
    assert (doc["position"], doc["payable_pence"]) == (4, 28_122_063)
    by_time = qp(
        "decision", "06F", "--scheme", SCHEME, "--as-of", doc["as_of"], "--json", db=loaded
    )
    assert by_time.returncode == 0, by_time.stderr
    assert json.loads(by_time.stdout) == doc
    before = qp(
        "decision",
        "06F",
        "--scheme",
        SCHEME,
        "--as-of",
        "2013-04-01T00:00:00Z",
        "--json",
        db=loaded,
    )
    # Before the record's first event there is no decision (not a £0 one): say so.
    assert before.returncode == 1, before.stderr
    assert before.stdout == ""
    first = json.loads(
        qp("history", "06F", "--scheme", SCHEME, "--json", db=loaded).stdout.splitlines()[0]
    )
    assert (
        "error: nothing was recorded yet for 06F in qp-2013-14 at log position 0 "
        "(2013-04-01T00:00:00.000000Z), so there is no decision to show; its first event is "
        f"at log position 1, recorded {first['recorded_at']}"
    ) in before.stderr


def test_refused_decisions_exit_non_zero_with_a_clear_message(loaded: Path) -> None:
    future = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for args, message, code in [
        (["ZZZ", "--scheme", SCHEME], "unknown CCG code 'ZZZ'", 1),
        (
            ["06F", "--scheme", SCHEME, "--position", "99"],
            "position: 99 is beyond the end of the log (7)",
            1,
        ),
        (["06F", "--scheme", SCHEME, "--as-of", future], "is in the future", 1),
        (
            ["06F", "--scheme", SCHEME, "--position", "3", "--as-of", "2014-01-01T00:00:00Z"],
            "give --as-of or --position, not both",
            2,
        ),
        (
            ["06F", "--scheme", SCHEME, "--as-of", "yesterday"],
            "'yesterday' is not an ISO-8601 date-time",
            2,
        ),
    ]:
        result = qp("decision", *args, "--json", db=loaded)
        assert result.returncode == code, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert result.stdout == "", args
        assert "Traceback" not in result.stderr


def test_decision_table_without_json(loaded: Path) -> None:
    result = qp("decision", "06F", "--scheme", SCHEME, db=loaded)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "CCG 06F" in text and "provisional" in text
    assert "£2,249,765.00" in text  # maximum
    assert "£632,746.41" in text  # payable
    assert "ae-4-hours" in text and "NOT MET" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_history_lists_every_event(loaded: Path) -> None:
    table = qp("history", "06F", "--scheme", SCHEME, db=loaded)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.strip().splitlines()
    assert len(lines) == 7
    assert "record_opened" in lines[0] and "population_recorded" in lines[1]
    assert all("cli:test" in line for line in lines)
    as_json = qp("history", "06F", "--scheme", SCHEME, "--json", db=loaded)
    events = [json.loads(line) for line in as_json.stdout.strip().splitlines()]
    assert [e["position"] for e in events] == list(range(1, 8))
    assert [e["type"] for e in events[1:]] == [c["type"] for c in YEAR_OF_06F]
    assert all(e["actor"] == "cli:test" and e["recorded_at"].endswith("Z") for e in events)
    unknown = qp("history", "ZZZ", "--scheme", SCHEME, db=loaded)
    assert unknown.returncode != 0 and "unknown CCG code 'ZZZ'" in unknown.stderr
