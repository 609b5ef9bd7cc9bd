"""What changed between two decision documents, and which events changed it.

Pure functions over documents: a CCG asking "why is today's figure not the one
you issued?" gets each changed line (component, criterion, gate, deduction,
totals) with old and new values and the events recorded in between that
decided the new value.
"""

from __future__ import annotations

from typing import Any

TOTALS = ("status", "population", "maximum_pence", "earned_pence", "payable_pence")
COMPONENT_FIELDS = ("met", "earned_pence")
CRITERION_FIELDS = ("value", "target", "met")
GATE_FIELDS = ("open",)
DEDUCTION_FIELDS = ("value", "met", "reduction")


def differences(old: Any, new: Any, path: str = "") -> list[dict[str, Any]]:
    """Every leaf that differs between two JSON values, as ``{path, old, new}``."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[dict[str, Any]] = []
        for key in sorted(set(old) | set(new)):
            sub = f"{path}.{key}" if path else str(key)
            out += differences(old.get(key), new.get(key), sub)
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        out = []
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            out += differences(a, b, f"{path}[{i}]")
        return out
    if old == new and type(old) is type(new):
        return []
    return [{"path": path, "old": old, "new": new}]


def _caused_by(line: dict[str, Any], after: int, upto: int) -> list[dict[str, Any]]:
    return [e for e in line.get("events", []) if after < int(e["position"]) <= upto]


def _compare(
    kind: str,
    key: str,
    old: dict[str, Any] | None,
    new: dict[str, Any] | None,
    fields: tuple[str, ...],
    after: int,
    upto: int,
) -> list[dict[str, Any]]:
    old = old or {}
    new = new or {}
    out = []
    for name in fields:
        if old.get(name) != new.get(name):
            out.append(
                {
                    "line": kind,
                    "key": key,
                    "field": name,
                    "old": old.get(name),
                    "new": new.get(name),
                    "events": _caused_by(new, after, upto),
                }
            )
    return out


def explain(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The changes from ``old`` to ``new`` with the events (old.position, new.position]."""
    after, upto = int(old["position"]), int(new["position"])
    lo, hi = min(after, upto), max(after, upto)
    changes: list[dict[str, Any]] = []
    for name in TOTALS:
        if old.get(name) != new.get(name):
            source = new.get("population_events", []) if name == "population" else []
            changes.append(
                {
                    "line": "total",
                    "key": name,
                    "field": name,
                    "old": old.get(name),
                    "new": new.get(name),
                    "events": [e for e in source if lo < int(e["position"]) <= hi],
                }
            )
    old_components = {c["measure"]: c for c in old["components"]}
    for comp in new["components"]:
        before = old_components.get(comp["measure"], {})
        changes += _compare("component", comp["measure"], before, comp, COMPONENT_FIELDS, lo, hi)
        old_criteria = {c["criterion"]: c for c in before.get("criteria", [])}
        for crit in comp["criteria"]:
            key = f"{comp['measure']}/{crit['criterion']}"
            changes += _compare(
                "criterion",
                key,
                old_criteria.get(crit["criterion"]),
                crit,
                CRITERION_FIELDS,
                lo,
                hi,
            )
    old_gates = {g["gate"]: g for g in old["gates"]}
    for gate in new["gates"]:
        changes += _compare(
            "gate", gate["gate"], old_gates.get(gate["gate"]), gate, GATE_FIELDS, lo, hi
        )
    old_deductions = {d["standard"]: d for d in old["deductions"]}
    for ded in new["deductions"]:
        changes += _compare(
            "deduction",
            ded["standard"],
            old_deductions.get(ded["standard"]),
            ded,
            DEDUCTION_FIELDS,
            lo,
            hi,
        )
    return {
        "from": {
            "position": old["position"],
            "as_of": old["as_of"],
            "payable_pence": old["payable_pence"],
            "inputs_digest": old["inputs_digest"],
        },
        "to": {
            "position": new["position"],
            "as_of": new["as_of"],
            "payable_pence": new["payable_pence"],
            "inputs_digest": new["inputs_digest"],
        },
        "payable_change_pence": int(new["payable_pence"]) - int(old["payable_pence"]),
        "changes": changes,
    }
