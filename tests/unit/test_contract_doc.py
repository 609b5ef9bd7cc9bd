"""docs/contract.md says what the code does: the page users script against cannot drift.

Read from the page itself (its tables and examples), compared with the parser
(``ledger.domain.commands``) and the shipped scheme file — in both directions, so a
new command field or measure that the page does not list fails here too. The
decision document's keys are checked against a real decision in
tests/integration/test_contract_doc_decision.py. Every reference to the
contract in the README, the docs and the code points at this page.
"""

from __future__ import annotations

import json
import re
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from ledger.domain.commands import COMMAND_FIELDS, COMMON_FIELDS, parse_command

ROOT = Path(__file__).resolve().parents[2]
PAGE = (ROOT / "docs" / "contract.md").read_text(encoding="utf-8")
SCHEME = json.loads((ROOT / "ledger" / "schemes" / "qp-2013-14.json").read_text())
#: A field name in a table cell: a backticked identifier followed by its
#: description (" (…)", ",", ":", " —") or the end of the cell.
FIELD = re.compile(r"`([a-z_]+)`(?= \(|,|:| —|$)")


def section(title: str) -> str:
    """The text from a heading to the next heading of the same or a higher level."""
    match = re.search(rf"^(#+) {re.escape(title)}\n", PAGE, re.MULTILINE)
    assert match, f"docs/contract.md has no section {title!r}"
    level = len(match.group(1))
    rest = PAGE[match.end() :]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.MULTILINE)
    return rest[: end.start()] if end else rest


def table(text: str) -> list[list[str]]:
    """The body rows of the first Markdown table in ``text``, cells stripped."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    assert len(rows) > 2, "no table"
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def ident(cell: str) -> str:
    match = re.fullmatch(r"`([^`]+)`", cell)
    assert match, f"expected one `identifier`, got {cell!r}"
    return match.group(1)


def test_every_command_type_and_field_is_what_the_parser_accepts() -> None:
    listed = {ident(row[0]): set(FIELD.findall(row[1])) for row in table(section("Commands"))}
    accepted = {
        kind: {*required, *optional} for kind, (required, optional) in COMMAND_FIELDS.items()
    }
    assert listed == accepted


def test_the_fields_every_command_has_are_the_common_fields() -> None:
    intro = section("Commands").strip().split("\n\n")[0]  # the paragraph under the heading
    named = set(re.findall(r"`([a-z_]+)`", intro))
    assert named == set(COMMON_FIELDS)


def test_the_example_lines_are_valid_commands() -> None:
    examples = [
        json.loads(line) for line in section("Commands").splitlines() if line.startswith("    {")
    ]
    assert len(examples) >= 2
    for example in examples:
        command = parse_command(example)
        assert command.type == example["type"]


def test_the_measures_and_shares_are_the_shipped_scheme() -> None:
    rows = table(section("The 2013/14 scheme (`qp-2013-14`)"))
    listed = {}
    for measure, share, criteria in rows:
        if criteria == "local":
            parsed: object = "local"
        else:
            parsed = []
            for item in criteria.split(" · "):
                match = re.fullmatch(r"`([a-z0-9-]+)`: (lower|higher); (agreed|fixed (\S+))", item)
                assert match, item
                target = "agreed" if match.group(3) == "agreed" else match.group(4)
                parsed.append((match.group(1), match.group(2), target))  # type: ignore[attr-defined]
        listed[ident(measure)] = (Decimal(share), parsed)
    shipped = {
        m["id"]: (
            Decimal(m["share"]),
            "local"
            if m.get("local")
            else [(c["id"], c["direction"], c["target"]) for c in m["criteria"]],
        )
        for m in SCHEME["measures"]
    }
    assert listed == shipped


def test_the_constitution_standards_reduction_and_maximum_are_the_shipped_scheme() -> None:
    text = section("The 2013/14 scheme (`qp-2013-14`)")
    after = text.split("NHS Constitution standards", 1)[1]
    listed = {ident(s): (d, Decimal(t)) for s, d, t in table(after)}
    shipped = {
        s["id"]: (s["direction"], Decimal(s["threshold"]))
        for s in SCHEME["constitution"]["standards"]
    }
    assert listed == shipped
    reduction = SCHEME["constitution"]["reduction_per_standard"]
    assert f"each one missed\ntakes {reduction} off" in text
    assert f"{SCHEME['pence_per_head']} pence per head" in text
    assert f"{reduction} \N{MULTIPLICATION SIGN} the number of standards missed" in PAGE


def test_the_periods_named_are_the_schemes() -> None:
    year = SCHEME["assessment_period"]
    text = section("How a decision is reached")
    assert f"(`{year}`)" in text
    for quarter in (f"{year}-Q1", f"{year}-Q4"):
        assert f"`{quarter}`" in text


@pytest.mark.parametrize(
    "path",
    ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))],
)
def test_no_document_points_at_a_contract_outside_the_repository(path: str) -> None:
    text = (ROOT / path).read_text(encoding="utf-8")
    assert "CONTRACT.md" not in text, f"{path} names CONTRACT.md: link docs/contract.md"


def test_the_code_and_its_help_point_at_the_page_in_the_repository() -> None:
    found = subprocess.run(
        ["git", "grep", "-l", "CONTRACT.md", "--", "ledger", "api"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if found.returncode not in (0, 1):  # not a git checkout: read the files instead
        files = [
            str(p.relative_to(ROOT))
            for d in ("ledger", "api")
            for p in (ROOT / d).rglob("*.py")
            if "CONTRACT.md" in p.read_text(encoding="utf-8")
        ]
    else:
        files = found.stdout.split()
    assert files == []
