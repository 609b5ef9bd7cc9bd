"""Every key docs/contract.md promises is in a real decision document, on both backends.

A final decision (a whole demo year) and a provisional one (before the year
ends) must each carry every key the contract's table lists: a renamed or
dropped key breaks every script that reads it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ledger.demo.year import demo_commands
from ledger.service.application import QPLedger

PAGE = (Path(__file__).resolve().parents[2] / "docs" / "contract.md").read_text(encoding="utf-8")
#: Values the table quotes (not keys).
VALUES = {"true", "false", "null", "final", "provisional", "quality-failure", "financial-balance"}


def promised() -> dict[str, set[str]]:
    """Top-level key -> the names listed for its entries (empty for plain values)."""
    decisions = PAGE.split("\n## Decisions\n", 1)[1]
    rows = [line for line in decisions.splitlines() if line.startswith("| `")]
    keys: dict[str, set[str]] = {}
    for row in rows:
        first, second = (cell.strip() for cell in row.strip("|").split("|")[:2])
        names = set(re.findall(r"`([a-z_]+)`", second)) - VALUES
        for key in re.findall(r"`([a-z_]+)`", first):
            keys[key] = names if key in ("gates", "components", "deductions") else set()
    return keys


def keys_within(entries: list[dict[str, Any]]) -> set[str]:
    found: set[str] = set()
    for entry in entries:
        found |= set(entry)
        for value in entry.values():
            if isinstance(value, list) and value and isinstance(value[0], dict):
                found |= keys_within(value)
    return found


def test_every_promised_key_is_in_final_and_provisional_decisions(ledger: QPLedger) -> None:
    keys = promised()
    assert {"ccg", "payable_pence", "inputs_digest", "gates", "components"} <= set(keys)
    lines = [json.dumps(c) for c in demo_commands(limit=1)]
    ccg = json.loads(lines[0])["ccg"]
    half = ledger.import_lines(lines[: len(lines) // 2])
    assert half.rejected == 0
    ledger.import_lines(lines[len(lines) // 2 :])
    final = ledger.decision(ccg, "qp-2013-14").document
    provisional = ledger.decision(ccg, "qp-2013-14", position=half.last_position).document
    assert (final["status"], provisional["status"]) == ("final", "provisional")
    for document in (final, provisional):
        missing = set(keys) - set(document)
        assert not missing, f"the contract promises {sorted(missing)}"
        for key, names in keys.items():
            if names:
                assert names <= keys_within(document[key]), (
                    key,
                    names - keys_within(document[key]),
                )
