"""Issuing decisions, reproducing them, and explaining what changed between two.

The Board issues decisions; auditors reproduce them. An issued decision is an
event holding the whole document and the log position it was computed at, so
it can be recomputed at that position at any later time (with the engine
version it was issued with, or another) and compared field by field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ledger.domain.ccgs import ccgs
from ledger.domain.clock import us_to_iso
from ledger.domain.determinations import CCGDeterminations
from ledger.domain.errors import DecisionUnchanged, InvalidCommand, NotFound, NothingRecorded
from ledger.domain.facts import EventRef, Facts
from ledger.domain.record import CCGPremiumRecord, event_id, stream_id
from ledger.domain.record_facts import facts_from_record, typed_versions
from ledger.domain.scheme import get_scheme
from ledger.engine.decide import decide_with_engine
from ledger.engine.diff import differences, explain
from ledger.service.contiguous import contiguous_projection
from ledger.service.desk import Desk

#: The longest Idempotency-Key (the ledger's idempotency table holds up to this).
MAX_KEY = 200


def _issued_at_version(desk: CCGDeterminations, version: int) -> str:
    return next(i for i, e in desk.issued.items() if e["version"] == version)


class Issuing(Desk):
    """The Board's issues, and what an auditor asks of them."""

    def issue(
        self,
        ccg: str,
        scheme: str,
        *,
        actor: str,
        reason: str | None = None,
        appeal_id: str | None = None,
        idempotency_key: str | None = None,
        force: bool = False,
    ) -> dict[str, Any]:
        """Issue the decision as it stands now (the Board's determination).

        The document, its log position, engine version and inputs digest are
        stored as they are; a later issue names the one it replaces. A retry
        with the same ``idempotency_key`` returns the first issue.

        Refused, unless ``force``, when the record holds no events
        (:class:`NothingRecorded`: there is nothing to determine) or when the
        inputs digest equals the latest issue's (:class:`DecisionUnchanged`:
        the same facts give the same decision). A revision after an upheld
        appeal is due whatever the remedy changed, so it is never "unchanged".
        """

        def change(desk: CCGDeterminations) -> str:
            desk.check_revision_allowed(appeal_id)
            document = self.ledger.decision(ccg, scheme).document
            if not force:
                self._check_recorded(ccg, scheme, document, "there is no decision to issue")
                if appeal_id is None:
                    self._check_changed(desk, document)
            issue_id = f"{ccg}.{scheme}.{len(desk.issued) + 1}"
            desk.issue_decision(
                issue_id,
                document,
                int(document["position"]),
                document["engine_version"],
                document["inputs_digest"],
                desk.latest,
                appeal_id,
                document.get("log"),  # the Merkle tree head it was computed from
                actor,
                reason,
            )
            return issue_id

        keyed = self._keyed(
            idempotency_key,
            actor,
            "issue_decision",
            ccg,
            scheme,
            {"reason": reason, "appeal_id": appeal_id},
            _issued_at_version,
        )
        issue_id = self._retrying(ccg, scheme, actor, change, keyed)
        return self.issued_decision(ccg, scheme, issue_id)

    def _check_changed(self, desk: CCGDeterminations, document: dict[str, Any]) -> None:
        latest = desk.issued.get(desk.latest) if desk.latest else None
        if latest is None or latest["document"]["inputs_digest"] != document["inputs_digest"]:
            return
        raise DecisionUnchanged(
            f"the decision for {desk.ccg} in {desk.scheme} has not changed since "
            f"{latest['issue_id']} was issued (computed at log position {latest['position']}; "
            f"same inputs digest {document['inputs_digest']}), so issuing it again would "
            "only repeat it"
        )

    def issue_all(
        self,
        scheme: str,
        *,
        actor: str,
        reason: str | None = None,
        progress: Callable[[Iterable[str]], Iterable[str]] | None = None,
        idempotency_key: str | None = None,
        force: bool = False,
    ) -> dict[str, Any]:
        """Issue the current decision of every CCG in a scheme (one Board command).

        Each CCG's issue is its own transaction. With ``idempotency_key`` each is
        stored under ``KEY@CCG``, so a retry after a failure part-way returns the
        issues already made and makes only the missing ones.

        A CCG whose issue would be refused (nothing recorded, or unchanged since
        its latest issue) is skipped and reported under ``skipped`` rather than
        failing the whole command: the year-end run issues what is due and says
        what it left. ``force`` issues every CCG regardless.
        """
        get_scheme(scheme)
        if idempotency_key is not None and (
            not isinstance(idempotency_key, str) or len(idempotency_key) > MAX_KEY - 4
        ):
            raise InvalidCommand(
                f"Idempotency-Key: at most {MAX_KEY - 4} characters when issuing a whole "
                "scheme (each CCG's issue is stored under KEY@CCG)",
                field="Idempotency-Key",
            )
        codes: Iterable[str] = list(ccgs())
        if progress is not None:
            codes = progress(codes)
        out = []
        skipped = []
        for ccg in codes:
            key = None if idempotency_key is None else f"{idempotency_key}@{ccg}"
            try:
                issued = self.issue(
                    ccg, scheme, actor=actor, reason=reason, idempotency_key=key, force=force
                )
            except (NothingRecorded, DecisionUnchanged) as e:
                skipped.append({"ccg": ccg, "code": e.code, "reason": e.message})
                continue
            out.append(
                {
                    k: issued[k]
                    for k in ("issue_id", "ccg", "position", "payable_pence", "status", "replaces")
                }
            )
        return {"scheme": scheme, "count": len(out), "issued": out, "skipped": skipped}

    def _summary(self, desk: CCGDeterminations, entry: dict[str, Any]) -> dict[str, Any]:
        doc = entry["document"]
        return {
            "issue_id": entry["issue_id"],
            "ccg": desk.ccg,
            "scheme": desk.scheme,
            "issued_at": self._recorded_at(desk.ccg, desk.scheme, entry["version"]),
            "issued_by": entry["actor"],
            "position": entry["position"],
            "status": doc["status"],
            "payable_pence": doc["payable_pence"],
            "engine_version": doc["engine_version"],
            "inputs_digest": doc["inputs_digest"],
            "replaces": entry["replaces"],
            "superseded_by": entry["superseded_by"],
            "appeal_id": entry["appeal_id"],
            "checkpoint": entry.get("checkpoint"),
        }

    def issued(self, ccg: str, scheme: str) -> list[dict[str, Any]]:
        """The chain of issued decisions for a CCG, oldest first."""
        desk = self._load(ccg, scheme)
        if desk is None:
            return []
        return [self._summary(desk, e) for e in desk.issued.values()]

    def issued_decision(self, ccg: str, scheme: str, issue_id: str) -> dict[str, Any]:
        desk = self._load(ccg, scheme)
        if desk is None:
            raise NotFound(
                f"issue_id: no decision has been issued to {ccg} in {scheme}", field="issue_id"
            )
        entry = desk.issue_ref(issue_id)
        return {**self._summary(desk, entry), "document": entry["document"]}

    def reproduce(
        self, ccg: str, scheme: str, issue_id: str, engine_version: str | None = None
    ) -> dict[str, Any]:
        """Recompute an issued decision at its own position and compare it field by field."""
        issued = self.issued_decision(ccg, scheme, issue_id)
        original = issued["document"]
        facts = self._facts_from_events(ccg, scheme, int(original["position"]))
        version = engine_version or original["engine_version"]
        again = decide_with_engine(version, get_scheme(scheme), facts).document
        self.ledger.attach_log(again)
        # "as_of" echoes how the replay was asked for, not an input: compare the rest.
        diffs = differences({**original, "as_of": None}, {**again, "as_of": None})
        return {
            "issue_id": issue_id,
            "engine_version": version,
            "result": "identical" if not diffs else "different",
            "differences": diffs,
        }

    def _facts_from_events(self, ccg: str, scheme: str, position: int) -> Facts:
        """The facts at ``position`` from the record's events alone, never from a snapshot.

        A reproduction is the auditor's check: it must not read the shortcut
        (a snapshot, a cached decision) whose correctness it is meant to show.
        The events are what ``verify`` and the proofs cover; the stream's
        version comes from the index, checked against the events
        (ledger/adapters/index_guard.py).
        """
        self.ledger.check_subject(ccg, scheme)
        store = self.ledger.log_store
        oid = stream_id(ccg, scheme)
        known = store.recorded_us(position)
        moment = us_to_iso(known) if known is not None else None
        version = store.stream_version_at(str(oid), position) or 0
        if not version:
            return Facts(ccg=ccg, scheme=scheme, position=position, as_of=moment)
        events = self.ledger.repository.event_store.get(oid, lte=version)
        record = contiguous_projection(None, events)
        if not isinstance(record, CCGPremiumRecord):
            raise NotFound(f"{ccg} has no record in {scheme} at position {position}")
        versions = typed_versions(record)
        located = store.locate(str(oid), sorted(versions)) if versions else {}
        refs = {
            v: EventRef(id=event_id(oid, v), position=p, type=versions[v], recorded_at=us_to_iso(t))
            for v, (p, t) in located.items()
        }
        return facts_from_record(record, refs, position, moment)

    def diff(
        self, ccg: str, scheme: str, old: dict[str, Any], new: dict[str, Any]
    ) -> dict[str, Any]:
        """Explain the change between two decisions, each named by issue, time or position.

        A point where the record held nothing has no decision to compare, so it
        is refused (:class:`NothingRecorded`, naming the end) like a decision there.
        """
        return explain(
            self._document(ccg, scheme, old, "from"), self._document(ccg, scheme, new, "to")
        )

    def _document(self, ccg: str, scheme: str, spec: dict[str, Any], end: str) -> dict[str, Any]:
        if spec.get("issue_id"):
            document: dict[str, Any] = self.issued_decision(ccg, scheme, spec["issue_id"])[
                "document"
            ]
            return document
        try:
            return self.decision(
                ccg, scheme, as_of=spec.get("as_of"), position=spec.get("position")
            ).document
        except NothingRecorded as e:
            given = next((k for k in ("position", "as_of") if spec.get(k) is not None), None)
            raise NothingRecorded(
                f"{end}: {e.message}",
                field=f"{end}_{given}" if given else end,
                allowed=e.allowed,
            ) from None
