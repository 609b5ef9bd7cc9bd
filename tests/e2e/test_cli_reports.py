"""The CLI as a user meets it, on SQLite and PostgreSQL (issue 9, items 5-7).

* A moment with nothing recorded has no decision: exit 1, saying where the
  record starts; ``issue`` of such a record, or of an unchanged decision, is
  refused and stores nothing unless ``--force``; ``issue --all`` skips those
  and says so.
* ``issue``, ``issued``, ``reproduce``, ``diff`` and ``appeal …`` print a
  readable report (pounds, the events named) and the JSON with ``--json``.
* One exit-code table: the same error gives the same code from every command.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ledger.service.application import QPLedger

SCRIPT = shutil.which("qp-ledger", path=str(Path(sys.executable).parent)) or "qp-ledger"
SCHEME = "qp-2013-14"
YEAR = "2013-14"


class CLI:
    """The console script on one database, run in a directory of its own."""

    def __init__(self, database_url: str, cwd: Path) -> None:
        self.database_url, self.cwd = database_url, cwd

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("QP_LEDGER_")}
        return subprocess.run(
            [SCRIPT, *args, "--database-url", self.database_url],
            cwd=self.cwd,
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )

    def ok(self, *args: str) -> str:
        result = self(*args)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def refused(self, *args: str, code: int = 1) -> str:
        """Run a command that must fail: its exit code, nothing on stdout, no traceback."""
        result = self(*args)
        assert result.returncode == code, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        if code == 1:
            assert result.stdout == ""
            assert result.stderr.startswith("error: ")
        return result.stderr

    def head(self) -> int:
        ledger = QPLedger(self.database_url)
        try:
            return ledger.max_position()
        finally:
            ledger.close()

    def import_(self, *commands: dict[str, Any]) -> None:
        path = self.cwd / "commands.jsonl"
        path.write_text("".join(json.dumps(c) + "\n" for c in commands), encoding="utf-8")
        self.ok("import", str(path))


def cmd(kind: str, ccg: str = "06F", **fields: Any) -> dict[str, Any]:
    return {"type": kind, "ccg": ccg, "scheme": SCHEME, **fields}


ADMISSIONS = {"measure": "avoidable-emergency-admissions", "criterion": "admissions-rate"}


@pytest.fixture
def qp(database_url: str, tmp_path: Path) -> CLI:
    """06F's year so far (positions 1-6): admissions not met (1160 > 1150), A&E missed."""
    cli = CLI(database_url, tmp_path)
    cli.import_(
        cmd("population_recorded", population=449_953, source="ONS"),
        cmd("threshold_agreed", **ADMISSIONS, baseline=1200, target=1150),
        cmd("measure_submitted", **ADMISSIONS, period=YEAR, value=1160),
        cmd("constitution_standard_submitted", standard="ae-4-hours", period=YEAR, value=0.94),
        cmd("quality_failure_flagged", flag_id="QF-1", description="incident at the acute trust"),
    )
    return cli


def first_event(qp: CLI, ccg: str) -> dict[str, Any]:
    line = qp.ok("history", ccg, "--scheme", SCHEME, "--json").splitlines()[0]
    event: dict[str, Any] = json.loads(line)
    return event


# -- item 5: nothing recorded yet ----------------------------------------------


def test_a_decision_where_nothing_was_recorded_says_where_the_record_starts(qp: CLI) -> None:
    # 00C's record starts after 06F's year: before it, 00C has no decision.
    qp.import_(cmd("population_recorded", "00C", population=105_000, source="ONS"))
    start = first_event(qp, "00C")
    assert start["position"] == 7
    for args in (["--position", "6"], ["--position", "0"]):
        error = qp.refused("decision", "00C", "--scheme", SCHEME, *args)
        assert "error: nothing was recorded yet for 00C in qp-2013-14 at log position" in error
        assert (
            f"so there is no decision to show; its first event is at log position 7, "
            f"recorded {start['recorded_at']}"
        ) in error
    last_of_06f = qp.ok("history", "06F", "--scheme", SCHEME, "--json").splitlines()[-1]
    assert f"at log position 6 ({json.loads(last_of_06f)['recorded_at']})" in qp.refused(
        "decision", "00C", "--scheme", SCHEME, "--position", "6", "--json"
    )
    before = qp.refused("decision", "00C", "--scheme", SCHEME, "--as-of", "2013-04-01T00:00:00Z")
    assert "at log position 0 (2013-04-01T00:00:00.000000Z)" in before
    # A CCG nothing was ever recorded for:
    never = qp.refused("decision", "00D", "--scheme", SCHEME)
    assert never == (
        "error: nothing has been recorded yet for 00D in qp-2013-14 (its record has no "
        "events), so there is no decision to show\n"
    )
    # From its first event (record_opened) on, there is a decision.
    opened = json.loads(qp.ok("decision", "00C", "--scheme", SCHEME, "--position", "7", "--json"))
    assert (opened["position"], opened["population"], opened["status"]) == (7, None, "provisional")
    at_8 = json.loads(qp.ok("decision", "00C", "--scheme", SCHEME, "--position", "8", "--json"))
    assert at_8["population"] == 105_000


def test_issue_is_refused_when_nothing_is_recorded_or_nothing_changed(qp: CLI) -> None:
    head = qp.head()
    error = qp.refused("issue", "00C", "--scheme", SCHEME)
    assert error == (
        "error: nothing has been recorded yet for 00C in qp-2013-14 (its record has no "
        "events), so there is no decision to issue (use --force to issue it anyway)\n"
    )
    assert qp.head() == head, "a refused issue stored something"
    assert json.loads(qp.ok("issued", "00C", "--scheme", SCHEME, "--json"))["issued"] == []

    first = json.loads(qp.ok("issue", "06F", "--scheme", SCHEME, "--json"))
    assert first["issue_id"] == "06F.qp-2013-14.1"
    head = qp.head()
    again = qp.refused("issue", "06F", "--scheme", SCHEME, "--reason", "again")
    assert (
        "error: the decision for 06F in qp-2013-14 has not changed since 06F.qp-2013-14.1 was "
        f"issued (computed at log position {first['position']}; same inputs digest "
        f"{first['inputs_digest']}), so issuing it again would only repeat it "
        "(use --force to issue it anyway)"
    ) in again
    assert qp.head() == head, "a refused issue stored something"
    chain = json.loads(qp.ok("issued", "06F", "--scheme", SCHEME, "--json"))
    assert [i["issue_id"] for i in chain["issued"]] == ["06F.qp-2013-14.1"]

    forced = qp.ok("issue", "06F", "--scheme", SCHEME, "--force")
    assert forced.startswith("Issued 06F.qp-2013-14.2 — CCG 06F, scheme qp-2013-14\n")
    assert "replaces 06F.qp-2013-14.1" in forced
    # A new fact makes the next issue due without --force.
    qp.import_(cmd("measure_submitted", **ADMISSIONS, period=YEAR, value=1140))
    assert qp.ok("issue", "06F", "--scheme", SCHEME).startswith("Issued 06F.qp-2013-14.3")
    empty = json.loads(qp.ok("issue", "00C", "--scheme", SCHEME, "--force", "--json"))
    assert (empty["status"], empty["payable_pence"]) == ("provisional", 0)


def test_issue_all_skips_and_reports_what_is_not_due(qp: CLI) -> None:
    qp.ok("issue", "06F", "--scheme", SCHEME)
    qp.import_(cmd("population_recorded", "00C", population=105_000, source="ONS"))
    report = qp.ok("issue", "--all", "--scheme", SCHEME, "--reason", "year end")
    lines = report.splitlines()
    assert lines[0] == "Issued 1 decision in qp-2013-14; skipped 210."
    assert any(line.startswith("00C  00C.qp-2013-14.1") for line in lines)
    assert "total payable £0.00" in lines
    assert "skipped, nothing recorded yet (209):" in lines
    assert "skipped, unchanged since their latest issue (1):" in lines
    assert lines[lines.index("skipped, unchanged since their latest issue (1):") + 1] == "  06F"
    assert "(--force issues those too)" in lines
    head = qp.head()
    again = json.loads(qp.ok("issue", "--all", "--scheme", SCHEME, "--json"))
    assert (again["count"], again["issued"], len(again["skipped"])) == (0, [], 211)
    assert {s["code"] for s in again["skipped"]} == {"nothing-recorded", "decision-unchanged"}
    assert qp.head() == head, "an issue --all that issued nothing stored something"


# -- item 6: readable reports, JSON with --json ----------------------------------


def test_every_determination_command_prints_a_report_and_json_on_request(
    qp: CLI, tmp_path: Path
) -> None:
    issued = qp.ok("issue", "06F", "--scheme", SCHEME, "--reason", "year end")
    document = json.loads(
        qp.ok("issued", "06F", "--scheme", SCHEME, "--id", "06F.qp-2013-14.1", "--json")
    )
    assert issued.startswith("Issued 06F.qp-2013-14.1 — CCG 06F, scheme qp-2013-14\n")
    assert f"payable £0.00 (provisional), computed at log position {document['position']}" in (
        issued
    )
    assert "gate quality-failure        CLOSED" in issued  # the decision table follows
    assert "maximum £2,249,765.00" in issued
    with pytest.raises(json.JSONDecodeError):
        json.loads(issued)

    # The flag is appealed and rescinded; the correction arrives: diff names both events.
    lodged = qp.ok(
        "appeal", "lodge", "06F", "06F.qp-2013-14.1", "--scheme", SCHEME,
        "--grounds", "the incident was at another trust", "--dispute", "quality-failure",
    )  # fmt: skip
    assert lodged.startswith("Appeal 06F.qp-2013-14.appeal-1 against 06F.qp-2013-14.1 — lodged\n")
    assert "disputes: quality-failure" in lodged and "evidence: none yet" in lodged
    rca = tmp_path / "rca.pdf"
    rca.write_bytes(b"%PDF-1.4 root cause")
    evidence = qp.ok(
        "appeal", "evidence", "06F", "06F.qp-2013-14.appeal-1", "--scheme", SCHEME,
        "--text", "root-cause analysis", "--attach", str(rca), "--media-type", "application/pdf",
    )  # fmt: skip
    assert "evidence (1):" in evidence
    assert f"attachment rca.pdf: application/pdf, {len(rca.read_bytes())} bytes, sha256 " in (
        evidence
    )
    remedy = tmp_path / "remedy.jsonl"
    remedy.write_text('{"type": "quality_failure_rescinded", "flag_id": "QF-1"}\n', "utf-8")
    determined = qp.ok(
        "appeal", "determine", "06F", "06F.qp-2013-14.appeal-1", "--scheme", SCHEME,
        "--outcome", "upheld", "--determination", "flag raised in error", "--remedy", str(remedy),
    )  # fmt: skip
    rescinded = qp.head() - 1  # the remedy, then the determination (saved last)
    assert "determined upheld " in determined and "reasons: flag raised in error" in determined
    assert f"  quality_failure_rescinded at log position {rescinded}" in determined
    assert "not yet revised: issue the revised decision with --appeal" in determined
    appeal = json.loads(
        qp.ok("issued", "06F", "--scheme", SCHEME, "--json")
    )["appeals"][0]  # fmt: skip
    assert (appeal["status"], appeal["remedy"][0]["position"]) == ("upheld", rescinded)

    qp.import_(cmd("measure_submitted", **ADMISSIONS, period=YEAR, value=1140))
    corrected = qp.head()
    # One point: compared with now.
    diff = qp.ok("diff", "06F", "06F.qp-2013-14.1", "--scheme", SCHEME)
    lines = diff.splitlines()
    assert lines[0] == "What changed for CCG 06F, scheme qp-2013-14"
    assert lines[1].startswith(
        f"from: issue 06F.qp-2013-14.1, log position {document['position']} ("
    )
    assert lines[1].endswith("): payable £0.00")
    assert lines[2].startswith(f"to:   now, log position {corrected} (")
    # 0.25 x 224,976,500 = 56,244,125 pence; x 0.75 (A&E missed) = 42,183,093.75 -> £421,830.94
    assert lines[2].endswith("): payable £421,830.94")
    assert lines[3].startswith("payable change +£421,830.94; ")
    gate = next(i for i, line in enumerate(lines) if line.startswith("gate "))
    assert lines[gate].split() == ["gate", "quality-failure", "open", "CLOSED", "open"]
    assert lines[gate + 1].startswith(
        f"    changed by quality_failure_rescinded at log position {rescinded} (event "
    )
    value = next(i for i, line in enumerate(lines) if "admissions-rate  value" in line)
    assert lines[value].split()[-2:] == ["1160", "1140"]
    assert lines[value + 1].startswith(
        f"    changed by measure_submitted at log position {corrected} (event "
    )
    as_json = json.loads(qp.ok("diff", "06F", "06F.qp-2013-14.1", "--scheme", SCHEME, "--json"))
    assert as_json["to"]["position"] == corrected
    assert as_json["payable_change_pence"] == 42_183_094
    between = qp.ok(
        "diff", "06F", f"position:{rescinded}", f"position:{corrected}", "--scheme", SCHEME
    )
    assert f"from: position {rescinded}, log position {rescinded}" in between

    revised = qp.ok(
        "issue", "06F", "--scheme", SCHEME, "--appeal", "06F.qp-2013-14.appeal-1"
    )  # fmt: skip
    assert "replaces 06F.qp-2013-14.1; revision after appeal 06F.qp-2013-14.appeal-1" in revised
    chain = qp.ok("issued", "06F", "--scheme", SCHEME)
    assert chain.splitlines()[0] == "Decisions issued to CCG 06F, scheme qp-2013-14"
    assert "superseded by 06F.qp-2013-14.2" in chain
    assert "£421,830.94" in chain and "£0.00" in chain
    row = next(line for line in chain.splitlines() if line.startswith("06F.qp-2013-14.appeal-1"))
    assert row.split()[1:3] == ["06F.qp-2013-14.1", "upheld"]
    assert row.split()[-1] == "06F.qp-2013-14.2"

    assert qp.ok("reproduce", "06F", "06F.qp-2013-14.1", "--scheme", SCHEME) == (
        "Reproduced 06F.qp-2013-14.1 at its own log position with engine qp-engine/1.0: identical\n"
    )
    reproduced = json.loads(
        qp.ok("reproduce", "06F", "06F.qp-2013-14.1", "--scheme", SCHEME, "--json")
    )
    assert (reproduced["result"], reproduced["differences"]) == ("identical", [])


# -- item 7: one exit-code table ----------------------------------------------------


def test_the_same_error_exits_with_the_same_code_from_every_command(qp: CLI) -> None:
    head = qp.head()
    unknown = [
        ("decision", "ZZZ", "--scheme", SCHEME),
        ("history", "ZZZ", "--scheme", SCHEME),
        ("issue", "ZZZ", "--scheme", SCHEME),
        ("issued", "ZZZ", "--scheme", SCHEME),
        ("reproduce", "ZZZ", "ZZZ.qp-2013-14.1", "--scheme", SCHEME),
        ("diff", "ZZZ", "position:1", "--scheme", SCHEME),
        ("appeal", "lodge", "ZZZ", "ZZZ.qp-2013-14.1", "--scheme", SCHEME, "--grounds", "g"),
    ]
    for args in unknown:
        assert qp.refused(*args) == "error: ccg: unknown CCG code 'ZZZ'\n", args
    not_found = {
        ("issued", "06F", "--scheme", SCHEME, "--id", "06F.qp-2013-14.9"): "no decision has",
        ("reproduce", "06F", "06F.qp-2013-14.9", "--scheme", SCHEME): "no decision has",
        ("decision", "06F", "--scheme", SCHEME, "--position", "999"): "beyond the end of the log",
        ("decision", "06F", "--scheme", "qp-1999-00"): "qp-1999-00",
    }
    for args, message in not_found.items():
        assert message in qp.refused(*args), args
    usage = {
        ("decision", "06F", "--scheme", SCHEME, "--as-of", "yesterday"): "'yesterday' is not",
        ("decision", "06F", "--scheme", SCHEME, "--position", "1", "--as-of", "2014-01-01"): (
            "give --as-of or --position, not both"
        ),
        ("decision", "06F"): "Missing option '--scheme'",
        ("issue", "--scheme", SCHEME): "name one CCG or give --all",
        ("diff", "06F", "position:x", "--scheme", SCHEME): "position:N needs a whole number",
        ("issued", "06F", "--scheme", SCHEME, "--bogus"): "No such option '--bogus'",
    }
    for args, message in usage.items():
        error = qp.refused(*args, code=2)
        assert message in error and "Usage: qp-ledger" in error, args
    assert qp.head() == head, "a refused command stored something"
    # The contract: an import that rejected a line exits non-zero (1), storing the rest.
    bad = qp.cwd / "bad.jsonl"
    bad.write_text(
        json.dumps(cmd("population_recorded", "ZZZ", population=1, source="x"))
        + "\n"
        + json.dumps(cmd("financial_position_declared", outturn="balanced", amount_pence=0))
        + "\n",
        encoding="utf-8",
    )
    result = qp("import", str(bad))
    assert result.returncode == 1
    assert json.loads(result.stdout.splitlines()[-1])["stored"] == 1
    assert qp.head() == head + 1
