"""Issuing decisions, reproducing them, explaining changes, and the appeal lifecycle.

Part of the application service (``QPLedger.determinations``): the Board
issues decisions, auditors reproduce them, CCGs appeal them. An issued
decision is an event holding the whole document and the log position it was
computed at, so it can be recomputed at that position at any later time and
compared field by field with what was issued.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.utils import get_topic

from ledger.domain.ccgs import ccgs
from ledger.domain.clock import us_to_iso
from ledger.domain.commands import parse_command
from ledger.domain.determinations import OUTCOMES, CCGDeterminations, determinations_id
from ledger.domain.errors import (
    ConcurrencyConflict,
    DecisionUnchanged,
    InvalidCommand,
    LedgerError,
    NotFound,
    NothingRecorded,
    RuleViolation,
)
from ledger.domain.record import stream_id
from ledger.domain.scheme import get_scheme
from ledger.engine.decide import Decision, decide_with_engine
from ledger.engine.diff import differences, explain

if TYPE_CHECKING:
    from ledger.service.application import QPLedger

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_MEDIA_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+$")
MAX_ATTEMPTS = 20
_APPEAL_TOPICS = [
    get_topic(CCGDeterminations.AppealLodged),  # type: ignore[attr-defined]
    get_topic(CCGDeterminations.AppealDetermined),  # type: ignore[attr-defined]
]
#: The longest Idempotency-Key (the ledger's idempotency table holds up to this).
MAX_KEY = 200


@dataclass(frozen=True)
class _Keyed:
    """A keyed write: the row to store with it, and how to find its result again."""

    retry: dict[str, Any]
    found: Callable[[CCGDeterminations, int], Any]


def _issued_at_version(desk: CCGDeterminations, version: int) -> str:
    return next(i for i, e in desk.issued.items() if e["version"] == version)


def _appeal_lodged_at_version(desk: CCGDeterminations, version: int) -> str:
    return next(a for a, e in desk.appeals.items() if e["version"] == version)


def _text(value: Any, field: str, *, limit: int = 10_000) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidCommand(f"{field}: a non-empty string is required", field=field)
    if len(value) > limit:
        raise InvalidCommand(f"{field}: longer than {limit} characters", field=field)
    return value


def _attachments(raw: Any) -> list[dict[str, Any]]:
    """Attachments are recorded by digest, size and media type; the bytes live elsewhere."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidCommand("attachments: must be a list", field="attachments")
    out = []
    for i, item in enumerate(raw):
        where = f"attachments[{i}]"
        if not isinstance(item, dict) or set(item) - {"name", "sha256", "size", "media_type"}:
            raise InvalidCommand(
                f"{where}: must be an object with name, sha256, size, media_type", field=where
            )
        digest, size, media = item.get("sha256"), item.get("size"), item.get("media_type")
        if not isinstance(digest, str) or not _SHA256.match(digest):
            raise InvalidCommand(
                f"{where}.sha256: 64 lower-case hex digits required", field=f"{where}.sha256"
            )
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise InvalidCommand(
                f"{where}.size: a whole number of bytes >= 0 required", field=f"{where}.size"
            )
        if not isinstance(media, str) or not _MEDIA_TYPE.match(media):
            raise InvalidCommand(
                f"{where}.media_type: a media type such as application/pdf is required",
                field=f"{where}.media_type",
            )
        out.append(
            {
                "name": _text(item.get("name"), f"{where}.name", limit=255),
                "sha256": digest,
                "size": size,
                "media_type": media,
            }
        )
    return out


class Determinations:
    """Issued decisions and appeals for every CCG, on top of the ledger."""

    def __init__(self, ledger: QPLedger) -> None:
        self.ledger = ledger

    # -- loading and saving ------------------------------------------------------

    def _load(self, ccg: str, scheme: str) -> CCGDeterminations | None:
        self.ledger.check_subject(ccg, scheme)
        try:
            found: CCGDeterminations = self.ledger.repository.get(determinations_id(ccg, scheme))
        except AggregateNotFoundError:
            return None
        return found

    def _load_or_open(self, ccg: str, scheme: str, actor: str) -> CCGDeterminations:
        return self._load(ccg, scheme) or CCGDeterminations(ccg=ccg, scheme=scheme, actor=actor)

    def _retrying(
        self,
        ccg: str,
        scheme: str,
        actor: str,
        change: Callable[[CCGDeterminations], Any],
        keyed: _Keyed | None = None,
    ) -> Any:
        """Apply a change on fresh state and save; retry if another writer got in first.

        With ``keyed`` (an Idempotency-Key), a write already stored under the key
        is not repeated: its result is found again from the stored row, which was
        written in the same transaction as the first write's event.
        """
        for _ in range(MAX_ATTEMPTS):
            if keyed is not None and (earlier := self._earlier(ccg, scheme, keyed)) is not None:
                return earlier[0]
            desk = self._load_or_open(ccg, scheme, actor)
            try:
                result = change(desk)
            except LedgerError:
                # A racing retry with this key may have committed between the look
                # above and the load (its appeal is now "still open"): that is a
                # replay, not a refusal.
                if keyed is not None and (earlier := self._earlier(ccg, scheme, keyed)):
                    return earlier[0]
                raise
            try:
                self.ledger.save(desk, idempotency=None if keyed is None else keyed.retry)
            except IntegrityError:
                # Another writer moved the stream on, or a racing retry with the
                # same key won: either way, look again.
                self.ledger.forget(determinations_id(ccg, scheme))
                continue
            return result
        raise ConcurrencyConflict(f"too many concurrent changes to {ccg}'s determinations")

    def _earlier(self, ccg: str, scheme: str, keyed: _Keyed) -> tuple[Any] | None:
        """The result of the write already stored under the key, if there is one."""
        row = self.ledger.prior_write(keyed.retry)
        if row is None:
            return None
        desk = self._load(ccg, scheme)
        assert desk is not None  # the row commits with the desk's event
        return (keyed.found(desk, int(row["version"])),)

    def _keyed(
        self,
        key: str | None,
        actor: str,
        kind: str,
        ccg: str,
        scheme: str,
        request: dict[str, Any],
        found: Callable[[CCGDeterminations, int], Any],
    ) -> _Keyed | None:
        if key is None:
            return None
        retry = self.ledger.idempotency_request(actor, key, kind, ccg, scheme, request)
        return _Keyed(retry, found)

    def _recorded_at(self, ccg: str, scheme: str, version: int) -> str:
        located = self.ledger.store.locate(str(determinations_id(ccg, scheme)), [version])
        return us_to_iso(located[version][1]) if version in located else ""

    def _recorded_us(self, ccg: str, scheme: str, version: int) -> int:
        located = self.ledger.store.locate(str(determinations_id(ccg, scheme)), [version])
        return located[version][1]

    # -- deciding ----------------------------------------------------------------

    def decision(
        self, ccg: str, scheme: str, *, as_of: str | None = None, position: int | None = None
    ) -> Decision:
        """The decision at a point, refused when the CCG's record held nothing then.

        Decided from no facts, the engine answers a £0 provisional premium,
        which a reader takes for a finding. What is true is that nothing was
        recorded yet: :class:`NothingRecorded` says so and where the record
        starts, so the user can ask again from there.
        """
        decision = self.ledger.decision(ccg, scheme, as_of=as_of, position=position)
        self._check_recorded(ccg, scheme, decision.document, "there is no decision to show")
        return decision

    def _check_recorded(self, ccg: str, scheme: str, document: dict[str, Any], so: str) -> None:
        point = int(document["position"])
        if self.ledger.stream_version_at(ccg, scheme, point):
            return
        first = self.ledger.store.locate(str(stream_id(ccg, scheme)), [1]).get(1)
        if first is None:
            raise NothingRecorded(
                f"nothing has been recorded yet for {ccg} in {scheme} (its record has no "
                f"events), so {so}",
                field="ccg",
            )
        moment = f" ({document['as_of']})" if document.get("as_of") else ""
        raise NothingRecorded(
            f"nothing was recorded yet for {ccg} in {scheme} at log position {point}{moment}, "
            f"so {so}; its first event is at log position {first[0]}, recorded "
            f"{us_to_iso(first[1])}",
            field="ccg",
            allowed=f"log positions from {first[0]}",
        )

    # -- issuing -----------------------------------------------------------------

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
        facts = self.ledger.facts(ccg, scheme, position=int(original["position"]))
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

    # -- appeals -----------------------------------------------------------------

    def lodge_appeal(
        self,
        ccg: str,
        scheme: str,
        issue_id: str,
        *,
        grounds: str,
        disputes: list[str] | None = None,
        actor: str,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """A CCG appeals one of its issued decisions, within the scheme's window."""
        text = _text(grounds, "grounds")
        if disputes is not None and (
            not isinstance(disputes, list)
            or not all(isinstance(d, str) and d.strip() for d in disputes)
        ):
            raise InvalidCommand(
                "disputes: must be a list of component names or event ids", field="disputes"
            )
        self._check_disputed_cases(ccg, scheme, issue_id, disputes or [])
        window = get_scheme(scheme).appeal_window_days

        def change(desk: CCGDeterminations) -> str:
            entry = desk.issue_ref(issue_id)
            issued_us = self._recorded_us(ccg, scheme, entry["version"])
            desk.check_can_appeal(issue_id, self.ledger.store.clock(), issued_us, window)
            appeal_id = f"{ccg}.{scheme}.appeal-{len(desk.appeals) + 1}"
            desk.lodge_appeal(appeal_id, issue_id, text, list(disputes or []), actor, None)
            return appeal_id

        keyed = self._keyed(
            idempotency_key,
            actor,
            "lodge_appeal",
            ccg,
            scheme,
            {"issue_id": issue_id, "grounds": text, "disputes": list(disputes or [])},
            _appeal_lodged_at_version,
        )
        appeal_id = self._retrying(ccg, scheme, actor, change, keyed)
        return self.appeal(ccg, scheme, appeal_id)

    def _check_disputed_cases(
        self, ccg: str, scheme: str, issue_id: str, disputes: list[str]
    ) -> None:
        """A dispute ``case:<case_id>`` must name a case the issued decision listed (issue 14).

        "Whose case was it" is the usual MRSA appeal; naming the case ties the
        appeal to the case's assignment events the decision already names.
        """
        cases = [d.removeprefix("case:") for d in disputes if d.startswith("case:")]
        if not cases:
            return
        document = self.issued_decision(ccg, scheme, issue_id)["document"]
        listed = sorted(
            {
                case["case_id"]
                for component in document["components"]
                for line in component["criteria"]
                for case in line.get("cases", [])
            }
        )
        for case_id in cases:
            if case_id not in listed:
                raise RuleViolation(
                    f"disputes: case {case_id!r} is not a case the issued decision {issue_id} "
                    "counted or listed",
                    field="disputes",
                    allowed=[f"case:{c}" for c in listed],
                )

    def add_evidence(
        self,
        ccg: str,
        scheme: str,
        appeal_id: str,
        *,
        text: str,
        attachments: list[dict[str, Any]] | None = None,
        actor: str,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        body = _text(text, "text")
        files = _attachments(attachments)

        def change(desk: CCGDeterminations) -> None:
            desk.check_open(appeal_id)
            desk.add_evidence(appeal_id, body, files, actor, None)

        keyed = self._keyed(
            idempotency_key,
            actor,
            "add_evidence",
            ccg,
            scheme,
            {"appeal_id": appeal_id, "text": body, "attachments": files},
            lambda _desk, _version: None,
        )
        self._retrying(ccg, scheme, actor, change, keyed)
        return self.appeal(ccg, scheme, appeal_id)

    def determine_appeal(
        self,
        ccg: str,
        scheme: str,
        appeal_id: str,
        *,
        outcome: str,
        determination: str,
        remedy: list[dict[str, Any]] | None = None,
        actor: str,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """The Board dismisses or upholds an appeal; an upheld remedy is ledger events.

        The remedy's events and the determination are saved in one transaction
        (with the Idempotency-Key's row, when given), so an appeal is never
        upheld without its remedy (or the reverse), nor twice by a retry.
        """
        if outcome not in OUTCOMES:
            raise InvalidCommand(
                f"outcome: {outcome!r} is not dismissed or upheld",
                field="outcome",
                allowed=list(OUTCOMES),
            )
        text = _text(determination, "determination")
        commands = [parse_command(c) for c in (remedy or [])]
        if outcome == "dismissed" and commands:
            raise RuleViolation("remedy: a dismissed appeal has no remedy", field="remedy")
        for i, command in enumerate(commands):
            if (command.ccg, command.scheme) != (ccg, scheme):
                raise RuleViolation(
                    f"remedy[{i}]: a remedy must concern {ccg} in {scheme}", field=f"remedy[{i}]"
                )
        keyed = self._keyed(
            idempotency_key,
            actor,
            "determine_appeal",
            ccg,
            scheme,
            {
                "appeal_id": appeal_id,
                "outcome": outcome,
                "determination": text,
                "remedy": [[c.type, c.fields, c.reason] for c in commands],
            },
            lambda _desk, _version: None,
        )
        for _ in range(MAX_ATTEMPTS):
            if keyed is not None and self._earlier(ccg, scheme, keyed):
                return self.appeal(ccg, scheme, appeal_id)
            desk = self._load(ccg, scheme)
            if desk is None:
                raise NotFound(f"appeal_id: {ccg} has no appeals in {scheme}", field="appeal_id")
            try:
                desk.check_open(appeal_id)
            except LedgerError:
                if keyed is not None and self._earlier(ccg, scheme, keyed):
                    return self.appeal(ccg, scheme, appeal_id)  # a racing retry determined it
                raise
            record = self.ledger.load_record(ccg, scheme, actor)
            start = record.version
            why = f"appeal {appeal_id} upheld"
            for i, command in enumerate(commands):
                try:
                    record.apply_command(command.type, command.fields, actor, command.reason or why)
                except LedgerError as e:
                    raise type(e)(f"remedy[{i}]: {e.message}", field=f"remedy[{i}]") from None
            versions = list(range(start + 1, record.version + 1))
            remedy_refs = [
                {"stream": str(stream_id(ccg, scheme)), "version": v, "type": commands[i].type}
                for i, v in enumerate(versions)
            ]
            desk.determine_appeal(appeal_id, outcome, text, remedy_refs, actor, None)
            try:
                # The desk's event is saved last, so the key's row names its version.
                self.ledger.save(record, desk, idempotency=None if keyed is None else keyed.retry)
            except IntegrityError:
                self.ledger.forget(determinations_id(ccg, scheme))
                self.ledger.forget(stream_id(ccg, scheme))
                continue
            return self.appeal(ccg, scheme, appeal_id)
        raise ConcurrencyConflict(f"too many concurrent changes to {ccg}")

    def appeal(self, ccg: str, scheme: str, appeal_id: str) -> dict[str, Any]:
        desk = self._load(ccg, scheme)
        if desk is None:
            raise NotFound(f"appeal_id: {ccg} has no appeals in {scheme}", field="appeal_id")
        appeal = dict(desk.appeal_ref(appeal_id))
        appeal["lodged_at"] = self._recorded_at(ccg, scheme, appeal.pop("version"))
        if "determined_version" in appeal:
            appeal["determined_at"] = self._recorded_at(
                ccg, scheme, appeal.pop("determined_version")
            )
        located = self.ledger.store.locate(
            str(stream_id(ccg, scheme)), [r["version"] for r in appeal["remedy"]]
        )
        appeal["remedy"] = [
            {**r, "position": located[r["version"]][0]}
            for r in appeal["remedy"]
            if r["version"] in located
        ]
        appeal["evidence"] = [
            {
                **{k: v for k, v in e.items() if k != "version"},
                "added_at": self._recorded_at(ccg, scheme, e["version"]),
            }
            for e in appeal["evidence"]
        ]
        return {"ccg": ccg, "scheme": scheme, **appeal}

    def appeals(self, ccg: str, scheme: str) -> list[dict[str, Any]]:
        desk = self._load(ccg, scheme)
        return [] if desk is None else [self.appeal(ccg, scheme, a) for a in desk.appeals]

    def appeal_counts(self, scheme: str) -> dict[str, int]:
        """How many appeals the scheme has, by status (``lodged``, ``dismissed``, ``upheld``).

        Reporters ask this often and see nothing else, so it reads only the
        lodged and determined events of the scheme's 211 determination streams
        in one indexed query, instead of rebuilding every CCG's appeals.
        """
        get_scheme(scheme)
        recorder = self.ledger.recorder
        records = recorder.events_record_cls  # type: ignore[attr-defined]
        ids = [determinations_id(ccg, scheme) for ccg in ccgs()]
        with recorder.transaction(commit=False) as session:  # type: ignore[attr-defined]
            rows = (
                session.query(
                    records.originator_id,
                    records.originator_version,
                    records.topic,
                    records.state,
                )
                .filter(records.originator_id.in_(ids), records.topic.in_(_APPEAL_TOPICS))
                .order_by(records.originator_id, records.originator_version)
                .all()
            )
        status: dict[tuple[Any, str], str] = {}
        for row in rows:
            state = bytes(row.state) if isinstance(row.state, memoryview) else row.state
            event = self.ledger.mapper.to_domain_event(
                StoredEvent(row.originator_id, row.originator_version, row.topic, state)
            )
            outcome = getattr(event, "outcome", "lodged")  # AppealLodged has none yet
            status[(row.originator_id, event.appeal_id)] = outcome  # type: ignore[attr-defined]
        counts = Counter(status.values())
        return {s: counts[s] for s in ("lodged", *OUTCOMES)}

    def chain(self, ccg: str, scheme: str) -> dict[str, Any]:
        """Everything an auditor needs: every issued decision and every appeal, in order."""
        return {
            "ccg": ccg,
            "scheme": scheme,
            "issued": self.issued(ccg, scheme),
            "appeals": self.appeals(ccg, scheme),
        }
