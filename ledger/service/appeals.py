"""The appeal lifecycle: a CCG lodges an appeal and adds evidence; the Board determines it.

An upheld appeal's remedy is ledger events on the CCG's record, saved in one
transaction with the determination, so an appeal is never upheld without its
remedy (or the reverse).

The grounds, the evidence's text and the determination are people's words,
erasable (UK GDPR): they are given to the aggregate sealed (its state and
snapshots hold their digest; ledger/adapters/sealing.py), and every read
shows them from the sealed-text table by the event's version, or ``None``
and how they were erased (ledger/service/erasure.py).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from eventsourcing.utils import get_topic

from ledger.adapters.sealing import sealed_words
from ledger.domain.ccgs import ccgs
from ledger.domain.commands import CaseCommand, parse_command
from ledger.domain.determinations import OUTCOMES, CCGDeterminations, determinations_id
from ledger.domain.errors import InvalidCommand, LedgerError, NotFound, RuleViolation
from ledger.domain.record import event_id, stream_id
from ledger.domain.scheme import get_scheme
from ledger.service.issuing import Issuing
from ledger.service.retry import retry_on_conflict

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_MEDIA_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+$")
_APPEAL_TOPICS = [
    get_topic(CCGDeterminations.AppealLodged),  # type: ignore[attr-defined]
    get_topic(CCGDeterminations.AppealDetermined),  # type: ignore[attr-defined]
]


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


class Appeals(Issuing):
    """Appeals against issued decisions, and the Board's determinations of them."""

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
            desk.check_can_appeal(issue_id, self.ledger.log_store.clock(), issued_us, window)
            appeal_id = f"{ccg}.{scheme}.appeal-{len(desk.appeals) + 1}"
            desk.lodge_appeal(
                appeal_id, issue_id, sealed_words(text), list(disputes or []), actor, None
            )
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
            desk.add_evidence(appeal_id, sealed_words(body), files, actor, None)

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
            if isinstance(command, CaseCommand):
                # A case command changes the case's own stream and the records it moves
                # between, so it cannot be one CCG record's remedy: it is recorded on its
                # own (POST …/hcai-cases/…), and the appeal determined after it.
                raise RuleViolation(
                    f"remedy[{i}]: {command.type} changes an HCAI case, not only {ccg}'s "
                    "record; record it as a case command, then determine the appeal",
                    field=f"remedy[{i}]",
                )
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

        def attempt() -> dict[str, Any]:
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
                    command.apply_to(record, actor, command.reason or why)
                except LedgerError as e:
                    raise type(e)(f"remedy[{i}]: {e.message}", field=f"remedy[{i}]") from None
            versions = list(range(start + 1, record.version + 1))
            remedy_refs = [
                {"stream": str(stream_id(ccg, scheme)), "version": v, "type": commands[i].type}
                for i, v in enumerate(versions)
            ]
            desk.determine_appeal(appeal_id, outcome, sealed_words(text), remedy_refs, actor, None)
            # The desk's event is saved last, so the key's row names its version.
            self.ledger.save(record, desk, idempotency=None if keyed is None else keyed.retry)
            return self.appeal(ccg, scheme, appeal_id)

        def after_conflict() -> None:
            self.ledger.forget(determinations_id(ccg, scheme))
            self.ledger.forget(stream_id(ccg, scheme))

        return retry_on_conflict(
            attempt,
            after_conflict=after_conflict,
            gave_up=f"too many concurrent changes to {ccg}",
        )

    def appeal(self, ccg: str, scheme: str, appeal_id: str) -> dict[str, Any]:
        desk = self._load(ccg, scheme)
        if desk is None:
            raise NotFound(f"appeal_id: {ccg} has no appeals in {scheme}", field="appeal_id")
        appeal = dict(desk.appeal_ref(appeal_id))
        words, erased = self._words(ccg, scheme, appeal)
        lodged, determined = appeal["version"], appeal.get("determined_version")
        appeal["grounds"] = words[(lodged, "grounds")]
        if determined is not None:
            appeal["determination"] = words[(determined, "determination")]
        notes = {
            field: how
            for version, field in ((lodged, "grounds"), (determined, "determination"))
            if (how := erased.get(version or 0, {}).get(field)) is not None
        }
        if notes:
            appeal["erased"] = notes
        # The events' ids: what `qp-ledger erase` and POST /erasures name.
        oid = determinations_id(ccg, scheme)
        appeal["lodged_event_id"] = event_id(oid, lodged)
        if determined is not None:
            appeal["determined_event_id"] = event_id(oid, determined)
        appeal["lodged_at"] = self._recorded_at(ccg, scheme, appeal.pop("version"))
        if "determined_version" in appeal:
            appeal["determined_at"] = self._recorded_at(
                ccg, scheme, appeal.pop("determined_version")
            )
        located = self.ledger.log_store.locate(
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
                "text": words[(e["version"], "text")],
                "event_id": event_id(oid, e["version"]),
                "added_at": self._recorded_at(ccg, scheme, e["version"]),
                **(
                    {"erased": {"text": erased[e["version"]]["text"]}}
                    if "text" in erased.get(e["version"], {})
                    else {}
                ),
            }
            for e in appeal["evidence"]
        ]
        return {"ccg": ccg, "scheme": scheme, **appeal}

    def _words(
        self, ccg: str, scheme: str, appeal: dict[str, Any]
    ) -> tuple[dict[tuple[int, str], Any], dict[int, dict[str, Any]]]:
        """An appeal's words by (version, field), unsealed, and how erased ones were erased."""
        values = {(appeal["version"], "grounds"): appeal["grounds"]}
        for e in appeal["evidence"]:
            values[(e["version"], "text")] = e["text"]
        if "determined_version" in appeal:
            values[(appeal["determined_version"], "determination")] = appeal["determination"]
        return self.ledger.unseal_fields(determinations_id(ccg, scheme), values)

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
        ids = [determinations_id(ccg, scheme) for ccg in ccgs()]
        status: dict[tuple[Any, str], str] = {}
        for stored in self.ledger.log_store.events_with_topics(ids, _APPEAL_TOPICS):
            event = self.ledger.mapper.to_domain_event(stored)
            outcome = getattr(event, "outcome", "lodged")  # AppealLodged has none yet
            status[(stored.originator_id, event.appeal_id)] = outcome  # type: ignore[attr-defined]
        counts = Counter(status.values())
        return {s: counts[s] for s in ("lodged", *OUTCOMES)}
