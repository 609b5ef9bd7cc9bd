"""Check an evidence bundle from the file alone: no database, no trust in whoever sent it.

A bundle (format ``qp-ledger/bundle/v1``, docs/bundle.md) holds one issued
decision with everything needed to re-derive it: the scheme, the CCG's whole
record up to the decision's position as canonical leaves, an inclusion
proof for each against a signed checkpoint, the issue event itself, and a
consistency proof from the tree the decision names to the checkpoint.

:func:`verify_bundle` checks, in order: the checkpoint's signature; that the
decision's own tree head is a prefix of the signed log; each event's
inclusion proof, that the events are versions 1..n of this CCG's record in
this scheme, each chained to the one before, all at or before the decision's
position, and (when the record has one) that the next event of the record
comes after it; that the issue event is in the log and holds exactly this
decision; then it rebuilds the facts from the events, re-runs the engine of
the recorded version with the bundled scheme and compares every field.

Every failure is a line naming the event, proof or field; malformed input of
any shape is a :class:`BundleError` with a message, never another exception.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger.domain.determinations import determinations_id
from ledger.domain.errors import SchemeDefinitionError
from ledger.domain.record import stream_id
from ledger.domain.scheme import parse_scheme, schemes
from ledger.engine.decide import ENGINES
from ledger.engine.diff import differences
from ledger.integrity.bundle_record import RecordError, issued, rebuild_facts
from ledger.integrity.checkpoint import Checkpoint, CheckpointError, verify_checkpoint
from ledger.integrity.cosignature import verify_cosignatures
from ledger.integrity.leaf import LeafEvent, LeafFormatError, decode_leaf
from ledger.integrity.merkle import leaf_hash
from ledger.integrity.verifier import (
    ProofError,
    decode_base64,
    verify_consistency,
    verify_inclusion,
)

FORMAT = "qp-ledger/bundle/v1"
SELF_KEY_NOTE = (
    "WARNING: checked against the key inside the bundle. That proves only that the bundle is "
    "consistent with itself; give the ledger's published key (--key) to prove it is the "
    "ledger's log."
)


class BundleError(ValueError):
    """Not a bundle this verifier can read; the message says what is wrong and where."""


def _get(obj: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(obj, dict):
        raise BundleError(f"{where or 'the bundle'} must be a JSON object")
    if key not in obj:
        raise BundleError(f"{where + '.' if where else ''}{key} is missing")
    value = obj[key]
    if not isinstance(value, kind) or isinstance(value, bool):  # JSON true is not a number
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise BundleError(f"{where + '.' if where else ''}{key} must be {names}")
    return value


def _b64(text: Any, where: str) -> bytes:
    """Canonical standard base64 only: one text per value, so no byte of it is slack."""
    raw = decode_base64(text, where, BundleError)
    if base64.b64encode(raw).decode("ascii") != text:
        raise BundleError(f"{where} is not canonical base64")
    return raw


@dataclass(frozen=True)
class ProvenLeaf:
    """A bundled event: its leaf bytes, decoded fields and inclusion proof."""

    index: int
    data: bytes
    event: LeafEvent
    path: list[bytes]

    @property
    def hash(self) -> bytes:
        return leaf_hash(self.data)


def _leaf(item: Any, where: str) -> ProvenLeaf:
    index = _get(item, "leaf_index", int, where)
    data = _b64(_get(item, "leaf", str, where), f"{where}.leaf")
    path = _get(item, "inclusion_path", list, where)
    hashes = [_b64(h, f"{where}.inclusion_path[{i}]") for i, h in enumerate(path)]
    try:
        event = decode_leaf(data)
    except LeafFormatError as e:
        raise BundleError(f"{where}.leaf is not a canonical leaf: {e}") from None
    return ProvenLeaf(index, data, event, hashes)


@dataclass
class BundleReport:
    """What was proven (``facts``), what could not be (``problems``), and caveats."""

    facts: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _included(leaf: ProvenLeaf, cp: Checkpoint, name: str, report: BundleReport) -> None:
    try:
        ok = verify_inclusion(leaf.hash, leaf.index, cp.size, leaf.path, cp.root)
    except ProofError as e:
        report.problems.append(f"{name}: inclusion proof is malformed: {e}")
        return
    if not ok:
        report.problems.append(
            f"{name}: inclusion proof does not verify against the checkpoint "
            "(the event or its proof was altered)"
        )


def _checkpoint(
    bundle: dict[str, Any],
    key: str | None,
    report: BundleReport,
    witnesses: Sequence[str] = (),
    required: int | None = None,
) -> Checkpoint:
    signed = _get(bundle, "checkpoint", dict, "")
    note = _get(signed, "note", str, "checkpoint")
    own = _get(signed, "verifier_key", str, "checkpoint")
    if key is None:
        report.notes.append(SELF_KEY_NOTE)
    elif key.strip() != own:
        raise BundleError(f"checkpoint.verifier_key: the bundle names {own!r:.120}, not your key")
    try:
        cp = verify_checkpoint(note, key if key is not None else own)
    except CheckpointError as e:
        raise BundleError(f"checkpoint: NOT VERIFIED: {e}") from None
    report.facts.append(
        f"checkpoint: signed by {key or own}; origin {cp.origin}, tree size {cp.size}, "
        f"root {cp.root.hex()}"
    )
    if witnesses or required:
        # Cosignatures are lines of the note itself (C2SP tlog-cosignature).
        count = len(set(witnesses)) if required is None else required
        try:
            cosigned = verify_cosignatures(note, witnesses, count)
        except CheckpointError as e:
            raise BundleError(f"checkpoint: NOT VERIFIED: {e}") from None
        names = ", ".join(str(c.key) for c in cosigned)
        report.facts.append(f"checkpoint: cosigned by {len(cosigned)} witness(es): {names}")
    return cp


def _decision_log(bundle: dict[str, Any], decision: dict[str, Any], cp: Checkpoint) -> str | None:
    log = _get(decision, "log", dict, "decision")
    size = _get(log, "tree_size", int, "decision.log")
    root_text = _get(log, "root_hash", str, "decision.log")
    if not root_text.startswith("sha256:") or len(root_text) != 71:
        raise BundleError("decision.log.root_hash must be sha256:<64 hex digits>")
    try:
        root = bytes.fromhex(root_text[7:])
    except ValueError:
        raise BundleError("decision.log.root_hash must be sha256:<64 hex digits>") from None
    proof = _get(bundle, "decision_log", dict, "")
    sizes = tuple(_get(proof, f"tree_size_{n}", int, "decision_log") for n in (1, 2))
    if sizes != (size, cp.size):
        return (
            f"decision_log: the proof is for sizes {sizes[0]}->{sizes[1]}, not the decision's "
            f"{size} -> the checkpoint's {cp.size}"
        )
    path = _get(proof, "consistency_path", list, "decision_log")
    hashes = [_b64(h, f"decision_log.consistency_path[{i}]") for i, h in enumerate(path)]
    try:
        ok = size <= cp.size and verify_consistency(size, cp.size, hashes, root, cp.root)
    except ProofError as e:
        return f"decision.log: the consistency proof is malformed: {e}"
    if not ok:
        return (
            f"decision.log: the tree the decision was computed from (size {size}) is not a "
            f"prefix of the checkpoint's log (size {cp.size})"
        )
    return None


def _record(
    bundle: dict[str, Any], ccg: str, scheme: str, position: int, cp: Checkpoint, r: BundleReport
) -> list[ProvenLeaf]:
    record = _get(bundle, "record", dict, "")
    items = _get(record, "events", list, "record")
    expected = str(stream_id(ccg, scheme))
    if _get(record, "stream_id", str, "record") != expected:
        r.problems.append(f"record.stream_id: is not {expected}, the record of {ccg} in {scheme}")
    events = [_leaf(item, f"record.events[{i}]") for i, item in enumerate(items)]
    previous: ProvenLeaf | None = None
    for i, leaf in enumerate(events):
        e = leaf.event
        name = f"event {i + 1} (version {e.version}, position {e.position}, leaf {leaf.index})"
        if e.stream_id != expected:
            r.problems.append(
                f"{name}: stream {e.stream_id} is not the record of {ccg} in {scheme}"
            )
        if e.version != i + 1:
            r.problems.append(f"{name}: expected version {i + 1}: the record must be 1..n in order")
        chained = previous.hash if previous else b""
        if e.previous_hash != chained:
            r.problems.append(f"{name}: does not chain to the event before it in the record")
        if previous and (e.position, leaf.index) <= (previous.event.position, previous.index):
            r.problems.append(f"{name}: is not after the event before it in the log")
        if e.position > position:
            r.problems.append(f"{name}: is after the decision's position {position}")
        _included(leaf, cp, name, r)
        previous = leaf
    successor = record.get("next_event")
    if successor is None:
        r.notes.append(
            "the bundle says the record had no later event when the checkpoint was signed "
            "(a Merkle log cannot prove an absence; ask the ledger for version "
            f"{len(events) + 1} of the record to confirm)"
        )
    else:
        nxt = _leaf(successor, "record.next_event")
        name = f"next event (version {nxt.event.version}, position {nxt.event.position})"
        if nxt.event.stream_id != expected or nxt.event.version != len(events) + 1:
            r.problems.append(f"{name}: is not version {len(events) + 1} of the record")
        if nxt.event.previous_hash != (previous.hash if previous else b""):
            r.problems.append(f"{name}: does not chain to the last bundled event")
        if nxt.event.position <= position:
            r.problems.append(
                f"{name}: is at or before the decision's position {position}, so the bundle "
                "leaves out an event the decision should have read"
            )
        _included(nxt, cp, name, r)
    return events


def _issue(
    bundle: dict[str, Any], decision: dict[str, Any], cp: Checkpoint, report: BundleReport
) -> None:
    leaf = _leaf(_get(bundle, "issue_event", dict, ""), "issue_event")
    before = len(report.problems)
    ccg, scheme, issue_id = (bundle[k] for k in ("ccg", "scheme", "issue_id"))
    _included(leaf, cp, "issue event", report)
    if leaf.event.stream_id != str(determinations_id(ccg, scheme)):
        report.problems.append(f"issue event: is not in the decisions of {ccg} in {scheme}")
        return
    try:
        recorded = issued(leaf.event)
    except RecordError as e:
        report.problems.append(f"issue event: {e}")
        return
    if recorded["issue_id"] != issue_id:
        report.problems.append(f"issue event: issues {recorded['issue_id']}, not {issue_id}")
    for d in _differences(recorded["document"], decision):
        report.problems.append(
            f"decision field {d['path'] or '(whole)'}: the bundle has {d['new']!r}, the issue "
            f"event recorded {d['old']!r}"
        )
    if len(report.problems) == before:
        report.facts.append(
            f"issued: {issue_id} by {recorded['actor']}, in the log at position "
            f"{leaf.event.position}, exactly this decision document"
        )


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr)


def _differences(old: Any, new: Any) -> list[dict[str, Any]]:
    """Field by field, and strict: a missing key is not null, 1 is not 1.0 or true."""
    found = differences(old, new)
    if not found and _canonical(old) != _canonical(new):
        old_keys, new_keys = _keys(old), _keys(new)
        gone, added = sorted(old_keys - new_keys), sorted(new_keys - old_keys)
        found = [{"path": "(keys or number types)", "old": gone, "new": added}]
    return found


def _keys(value: Any, prefix: str = "") -> set[str]:
    if isinstance(value, dict):
        return {p for k, v in value.items() for p in {f"{prefix}{k}"} | _keys(v, f"{prefix}{k}.")}
    if isinstance(value, list):
        return {p for i, v in enumerate(value) for p in _keys(v, f"{prefix}{i}.")}
    return set()


def _rerun(
    bundle: dict[str, Any], decision: dict[str, Any], events: list[ProvenLeaf], r: BundleReport
) -> None:
    ccg, scheme_id = bundle["ccg"], bundle["scheme"]
    try:
        scheme = parse_scheme(_get(bundle, "scheme_data", dict, ""), source="scheme_data")
    except SchemeDefinitionError as e:
        r.problems.append(f"scheme_data: {e}")
        return
    if scheme.id != scheme_id:
        r.problems.append(f"scheme_data: is scheme {scheme.id!r}, not {scheme_id!r}")
        return
    shipped = schemes().get(scheme.id)
    if shipped is not None and shipped.digest != scheme.digest:
        r.notes.append(f"the bundled {scheme.id} differs from the one this verifier ships")
    version = bundle["engine_version"]
    engine = ENGINES.get(version)
    if engine is None:
        r.problems.append(f"engine_version: {version!r} is not available here ({sorted(ENGINES)})")
        return
    try:
        facts = rebuild_facts([p.event for p in events], ccg, scheme_id, decision["position"], None)
        again = engine(scheme, facts).document
    except RecordError as e:
        r.problems.append(f"record: {e}")
        return
    # "as_of" and "log" say where the decision was asked for, not what it read; both are
    # checked above (the issue event holds them; the consistency proof covers "log").
    ignore: Callable[[dict[str, Any]], dict[str, Any]] = lambda d: {**d, "as_of": 0, "log": 0}  # noqa: E731
    diffs = _differences(ignore(decision), ignore(again))
    for d in diffs:
        r.problems.append(
            f"decision field {d['path']}: issued {d['old']!r}, the engine re-run gives {d['new']!r}"
        )
    if not diffs:
        r.facts.append(
            f"decision: re-run with {version} from the bundled events and scheme: identical "
            f"field by field (payable {decision.get('payable_pence')} pence, "
            f"{decision.get('status')})"
        )


def verify_bundle(
    bundle: Any,
    key: str | None = None,
    witnesses: Sequence[str] = (),
    required: int | None = None,
) -> BundleReport:
    """Check a parsed bundle (see the module docstring); ``key``: the published verifier key.

    ``witnesses``: witness keys whose cosignatures the checkpoint must carry,
    ``required`` of them (default: all).

    Raises :class:`BundleError` for input that is not a readable bundle (or a
    checkpoint that does not verify: nothing else can be trusted then).
    """
    report = BundleReport()
    if _get(bundle, "format", str, "") != FORMAT:
        raise BundleError(f"format must be {FORMAT!r}, not {bundle['format']!r:.60}")
    ccg = _get(bundle, "ccg", str, "")
    scheme = _get(bundle, "scheme", str, "")
    _get(bundle, "issue_id", str, "")
    decision = _get(bundle, "decision", dict, "")
    position = _get(decision, "position", int, "decision")
    for name, value in (("ccg", ccg), ("scheme", scheme)):
        if decision.get(name) != value:
            raise BundleError(
                f"decision.{name} is {decision.get(name)!r}, the bundle's is {value!r}"
            )
    if decision.get("engine_version") != _get(bundle, "engine_version", str, ""):
        raise BundleError("engine_version differs from the decision's")
    cp = _checkpoint(bundle, key, report, witnesses, required)
    problem = _decision_log(bundle, decision, cp)
    if problem:
        report.problems.append(problem)
    before = len(report.problems)
    events = _record(bundle, ccg, scheme, position, cp, report)
    if events and len(report.problems) == before:
        first, last = events[0].event.position, events[-1].event.position
        report.facts.append(
            f"record: {len(events)} events of {ccg} in {scheme} (positions {first}..{last}), "
            f"versions 1..{len(events)} chained, each proven in the checkpoint's log"
        )
    _issue(bundle, decision, cp, report)
    if not report.problems:
        _rerun(bundle, decision, events, report)
    return report
