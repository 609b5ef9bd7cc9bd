"""Readable reports of the ledger's documents, for people at a terminal.

The JSON documents (``--json``) are the contract; these are the same facts
set out for reading: tables, money in pounds, each changed line with the
events that changed it. Every command formats money and results through the
helpers here, so a figure reads the same in ``decision``, ``issue`` and ``diff``.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any


def met(value: bool | None) -> str:
    return {True: "met", False: "NOT MET", None: "pending"}[value]


def pounds(pence: int | None) -> str:
    return "-" if pence is None else f"£{pence / 100:,.2f}"


def signed_pounds(pence: int) -> str:
    return ("+" if pence > 0 else "-" if pence < 0 else "") + pounds(abs(pence))


def gate_state(value: bool | None) -> str:
    return {True: "open", False: "CLOSED", None: "undecided (counts as open)"}[value]


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], right: Sequence[int] = ()) -> str:
    """Columns as wide as their widest cell; the columns in ``right`` right-aligned."""
    cells = [[str(c) for c in header], *[["-" if c is None else str(c) for c in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for row in cells:
        padded = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def render_decision(d: dict[str, Any]) -> str:
    """A readable table of the decision document (the JSON is the contract)."""
    out = [
        f"Quality Premium decision — CCG {d['ccg']}, scheme {d['scheme']}",
        f"as of {d['as_of'] or '(empty log)'} (log position {d['position']}) — {d['status']}",
        f"population {d['population'] if d['population'] is not None else 'not recorded'}; "
        f"maximum {pounds(d['maximum_pence'])}",
        "",
        f"{'measure':<34}{'share':>7}  {'result':<9}{'earned':>16}",
    ]
    for c in d["components"]:
        out.append(
            f"{c['measure']:<34}{c['share']:>7}  {met(c['met']):<9}{pounds(c['earned_pence']):>16}"
        )
        for cr in c["criteria"]:
            out.append(
                f"    {cr['criterion']:<30} value {cr['value']!s:<10} target "
                f"{cr['target']!s:<10} {met(cr['met'])}"
            )
            # A count derived from HCAI cases (issue 14): which cases, and whose call it was.
            for case in cr.get("cases", []):
                where = "counted"
                if not case["counted"]:
                    where = f"now {case['now_assigned_to']}"
                    if case.get("now_assigned_by"):
                        where += f" ({case['now_pir_reference']} by {case['now_assigned_by']})"
                out.append(
                    f"        case {case['case_id']} ({case['trust']}, {case['specimen_date']}): "
                    f"{case['pir_reference']} by {case['assigned_by']} — {where}"
                )
    out.append("")
    for g in d["gates"]:
        out.append(f"gate {g['gate']:<22} {gate_state(g['open'])}")
    for x in d["deductions"]:
        out.append(
            f"standard {x['standard']:<22} value {x['value']!s:<8} threshold "
            f"{x['threshold']!s:<6} {met(x['met']):<8} reduction {x['reduction']}"
        )
    out += [
        "",
        f"earned  {pounds(d['earned_pence'])}",
        f"payable {pounds(d['payable_pence'])}",
        f"engine {d['engine_version']}; inputs {d['inputs_digest']}",
    ]
    return "\n".join(out)


def event_names(events: Sequence[dict[str, Any]]) -> list[str]:
    """Each event as a reader looks for it: what it was, where in the log, its id."""
    return [f"{e['type']} at log position {e['position']} (event {e['id']})" for e in events]


def _issue_note(i: dict[str, Any]) -> str:
    notes = []
    if i.get("replaces"):
        notes.append(f"replaces {i['replaces']}")
    if i.get("appeal_id"):
        notes.append(f"revision after appeal {i['appeal_id']}")
    if i.get("superseded_by"):
        notes.append(f"superseded by {i['superseded_by']}")
    return "; ".join(notes)


def render_issued(issued: dict[str, Any], *, just_issued: bool = False) -> str:
    """One issued decision: who issued it when, what it replaced, then the decision itself."""
    verb = "Issued" if just_issued else "Issued decision"
    log = issued.get("checkpoint") or {}
    out = [
        f"{verb} {issued['issue_id']} — CCG {issued['ccg']}, scheme {issued['scheme']}",
        f"issued {issued['issued_at']} by {issued['issued_by']}",
        f"payable {pounds(issued['payable_pence'])} ({issued['status']}), computed at log "
        f"position {issued['position']}",
    ]
    if log:
        out.append(f"log: Merkle tree size {log['tree_size']}, root {log['root_hash']}")
    note = _issue_note(issued)
    if note:
        out.append(note)
    if "document" in issued:
        out += ["", render_decision(issued["document"])]
    return "\n".join(out)


def render_issue_all(result: dict[str, Any]) -> str:
    issued, skipped = result["issued"], result["skipped"]
    out = [
        f"Issued {len(issued)} decision{'s' if len(issued) != 1 else ''} in {result['scheme']}; "
        f"skipped {len(skipped)}."
    ]
    if issued:
        rows = [
            (
                i["ccg"],
                i["issue_id"],
                i["position"],
                i["status"],
                pounds(i["payable_pence"]),
                i["replaces"],
            )
            for i in issued
        ]
        header = ("ccg", "issue id", "position", "status", "payable", "replaces")
        out += ["", table(header, rows, right=(2, 4))]
        total = sum(int(i["payable_pence"]) for i in issued)
        out.append(f"total payable {pounds(total)}")
    why = {
        "nothing-recorded": "nothing recorded yet",
        "decision-unchanged": "unchanged since their latest issue",
    }
    for code, label in why.items():
        ccgs = [s["ccg"] for s in skipped if s["code"] == code]
        if ccgs:
            out += ["", f"skipped, {label} ({len(ccgs)}):"]
            out += textwrap.wrap(" ".join(ccgs), 76, initial_indent="  ", subsequent_indent="  ")
    if skipped:
        out += ["", "(--force issues those too)"]
    return "\n".join(out)


def render_chain(chain: dict[str, Any]) -> str:
    """Every decision issued to a CCG and every appeal, oldest first."""
    out = [f"Decisions issued to CCG {chain['ccg']}, scheme {chain['scheme']}", ""]
    if chain["issued"]:
        rows = [
            (
                i["issue_id"],
                i["issued_at"],
                i["issued_by"],
                i["position"],
                i["status"],
                pounds(i["payable_pence"]),
                _issue_note(i),
            )
            for i in chain["issued"]
        ]
        header = ("issue id", "issued at", "by", "position", "status", "payable", "")
        out.append(table(header, rows, right=(3, 5)))
    else:
        out.append("none issued yet")
    out += ["", "Appeals", ""]
    if chain["appeals"]:
        appeals = [
            (
                a["appeal_id"],
                a["issue_id"],
                a["status"],
                a["lodged_at"],
                a["actor"],
                len(a["evidence"]),
                a.get("revised_by"),
            )
            for a in chain["appeals"]
        ]
        header = ("appeal id", "against", "status", "lodged at", "by", "evidence", "revised by")
        out.append(table(header, appeals, right=(5,)))
    else:
        out.append("none")
    return "\n".join(out)


def render_appeal(a: dict[str, Any]) -> str:
    out = [
        f"Appeal {a['appeal_id']} against {a['issue_id']} — {a['status']}",
        f"CCG {a['ccg']}, scheme {a['scheme']}; lodged {a['lodged_at']} by {a['actor']}",
        f"grounds: {_words(a, 'grounds')}",
        f"disputes: {', '.join(a['disputes']) if a['disputes'] else '(none named)'}",
        "",
        f"evidence ({len(a['evidence'])}):" if a["evidence"] else "evidence: none yet",
    ]
    for e in a["evidence"]:
        out.append(f"  {e['added_at']} by {e['actor']}: {_words(e, 'text')}")
        for f in e["attachments"]:
            out.append(
                f"    attachment {f['name']}: {f['media_type']}, {f['size']:,} bytes, "
                f"sha256 {f['sha256']}"
            )
    if a["status"] == "lodged":
        out += ["", "open: awaiting the Board's determination"]
        return "\n".join(out)
    by = a.get("determined_by")
    out += [
        "",
        f"determined {a['status']} {a.get('determined_at', '')}" + (f" by {by}" if by else ""),
        f"reasons: {_words(a, 'determination')}",
    ]
    if a["remedy"]:
        out.append("remedy, recorded on the CCG's record:")
        out += [f"  {r['type']} at log position {r['position']}" for r in a["remedy"]]
    if a["status"] == "upheld":
        out.append(
            f"revised by {a['revised_by']}"
            if a.get("revised_by")
            else f"not yet revised: issue the revised decision with --appeal {a['appeal_id']}"
        )
    return "\n".join(out)


def _words(item: dict[str, Any], field: str) -> str:
    """An appeal's words, or how they were erased (as history shows an erased reason)."""
    how = item.get("erased", {}).get(field)
    if how is None:
        return str(item[field])
    return f"[{field} erased by {how['by']} at {how['at']}: {how['why']}]"


def _value(field: str, value: Any) -> str:
    if field.endswith("_pence") and isinstance(value, int) and not isinstance(value, bool):
        return pounds(value)
    if field in ("met",) or field.endswith(".met"):
        return met(value) if value in (True, False, None) else str(value)
    if field == "open":
        return {True: "open", False: "CLOSED", None: "undecided"}.get(value, str(value))
    return "-" if value is None else str(value)


def render_reproduction(r: dict[str, Any]) -> str:
    head = f"Reproduced {r['issue_id']} at its own log position with engine {r['engine_version']}"
    if r["result"] == "identical":
        return f"{head}: identical"
    out = [f"{head}: DIFFERENT ({len(r['differences'])} field(s))", ""]
    rows = [
        (d["path"], _value(d["path"], d["old"]), _value(d["path"], d["new"]))
        for d in r["differences"]
    ]
    out.append(table(("field", "as issued", "recomputed"), rows))
    return "\n".join(out)


def render_diff(diff: dict[str, Any], ccg: str, scheme: str, labels: tuple[str, str]) -> str:
    """Each changed line, old and new, and the events between the two points that changed it."""
    out = [f"What changed for CCG {ccg}, scheme {scheme}"]
    for end, label in zip(("from", "to"), labels, strict=True):
        p = diff[end]
        moment = f" ({p['as_of']})" if p["as_of"] else ""
        out.append(
            f"{end + ':':<5} {label}, log position {p['position']}{moment}: "
            f"payable {pounds(p['payable_pence'])}"
        )
    changes = diff["changes"]
    out.append(
        f"payable change {signed_pounds(int(diff['payable_change_pence']))}; "
        f"{len(changes)} line{'s' if len(changes) != 1 else ''} changed"
    )
    if not changes:
        if diff["from"]["inputs_digest"] == diff["to"]["inputs_digest"]:
            out.append("the inputs are the same at both points (same inputs digest)")
        return "\n".join(out)
    rows = [
        (
            c["line"],
            c["key"],
            "" if c["field"] == c["key"] else c["field"],
            _value(c["field"], c["old"]),
            _value(c["field"], c["new"]),
        )
        for c in changes
    ]
    lines = table(("line", "what", "field", "was", "now"), rows).splitlines()
    out += ["", lines[0]]
    for change, line in zip(changes, lines[1:], strict=True):
        out.append(line)
        out += [f"    changed by {name}" for name in event_names(change["events"])]
    return "\n".join(out)
