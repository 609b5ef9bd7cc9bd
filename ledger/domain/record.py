"""The aggregate: one CCG's Quality Premium record in one scheme.

Every fact that decides the premium is an immutable event on this aggregate.
Corrections and revisions are new events that supersede older ones in the
aggregate's state; the older events stay in the log, which is what lets a
decision be rebuilt as it stood at any past moment.

The state keeps, for each fact, only the latest value and the version of the
event that established it. That keeps a decision's cost independent of how
long the stream is (with snapshots), while the log keeps everything.

Snapshots store that state as JSON, and eventsourcing's transcoder reads any
object whose only keys are ``_type_`` and ``_data_`` as an encoded value. So no
string a user chooses is ever a key in the state: keys are scheme ids, slots,
periods and criterion names the parser restricts to ``[a-z0-9-]``; the
quality-failure flags, whose ids are free text, are a list, and so are the
HCAI cases attributed to the CCG (``cases``, keyed by nothing: ``ledger/domain/cases.py``).
"""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from ledger.domain.errors import RuleViolation, UnknownMeasure
from ledger.domain.scheme import get_scheme
from ledger.domain.topics import pin_topics

#: Stream ids are derived from (scheme, CCG) so any process finds the same stream.
STREAM_NAMESPACE = uuid5(NAMESPACE_URL, "https://qp-ledger.invalid/streams")


def stream_id(ccg: str, scheme: str) -> UUID:
    return uuid5(STREAM_NAMESPACE, f"{scheme}/{ccg}")


def event_id(originator_id: UUID, version: int) -> str:
    """A stable id for each stored event, derived so replays name the same ids."""
    return str(uuid5(originator_id, str(version)))


#: Stored event class name -> the contract's command/event type.
EVENT_TYPES = {
    "Opened": "record_opened",
    "PopulationRecorded": "population_recorded",
    "LocalMeasuresSelected": "local_measures_selected",
    "ThresholdAgreed": "threshold_agreed",
    "MeasureSubmitted": "measure_submitted",
    "ConstitutionStandardSubmitted": "constitution_standard_submitted",
    "QualityFailureFlagged": "quality_failure_flagged",
    "QualityFailureRescinded": "quality_failure_rescinded",
    "FinancialPositionDeclared": "financial_position_declared",
    "HCAICaseAttributed": "hcai_case_attributed",
    "HCAICaseAttributionEnded": "hcai_case_attribution_ended",
}


class CCGPremiumRecord(Aggregate):
    """The record of one CCG's Quality Premium for one scheme year."""

    #: Version of the state a snapshot holds. 2: ``flags`` is a list of
    #: ``{flag_id, description, active, versions}``, no longer a dict keyed by
    #: the user's flag_id (flag ids ``_type_`` and ``_data_`` made it unreadable).
    #: 3: ``cases``, the HCAI cases assigned to the CCG (issue 14).
    #: 4: threshold, value and standard entries say their own measure, criterion
    #: and period, so nothing has to split the ``"measure/criterion/period"`` keys.
    class_version = 4

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """A version-1 snapshot (flags keyed by id, in the order flagged) read as version 2."""
        state["flags"] = [{"flag_id": k, **v} for k, v in state["flags"].items()]

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        """A version-2 snapshot predates case events, so no case was ever attributed."""
        state["cases"] = []

    @staticmethod
    def upcast_v3_v4(state: dict[str, Any]) -> None:
        """A version-3 snapshot's entries are named only by their keys: the one place
        that reads the key format back."""
        for key, entry in state["thresholds"].items():
            entry["measure"], entry["criterion"] = key.split("/")
        for key, entry in state["values"].items():
            entry["measure"], entry["criterion"], entry["period"] = key.split("/")
        for key, entry in state["standards"].items():
            entry["standard"], entry["period"] = key.split("/")

    @staticmethod
    def create_id(ccg: str, scheme: str, actor: str) -> UUID:
        return stream_id(ccg, scheme)

    @event("Opened")
    def __init__(self, ccg: str, scheme: str, actor: str) -> None:
        self.ccg = ccg
        self.scheme = scheme
        self.population: dict[str, Any] | None = None
        self.local_measures: dict[str, dict[str, Any]] = {}
        self.thresholds: dict[str, dict[str, Any]] = {}
        self.values: dict[str, dict[str, Any]] = {}
        self.standards: dict[str, dict[str, Any]] = {}
        #: In the order flagged; ids are unique (check_flag_is_new).
        self.flags: list[dict[str, Any]] = []
        self.financial: dict[str, Any] | None = None
        #: HCAI cases ever assigned to this CCG, in the order first assigned:
        #: ``{case_id, organism, specimen_date, trust, responsible_ccg, assigned_by,
        #: pir_reference, case_event, active, versions}``; ``active`` while it is
        #: assigned here, ``versions`` the events that attributed and ended it.
        self.cases: list[dict[str, Any]] = []

    def _next(self) -> int:
        # Inside an @event body the aggregate's version has not moved on yet,
        # so the event being applied is the next one.
        return int(self.version) + 1

    # -- rules that depend on what the record already holds -----------------

    def criterion_direction(self, measure: str, criterion: str) -> str:
        """Check the criterion exists now (local ones only once selected)."""
        scheme = get_scheme(self.scheme)
        spec = scheme.measure(measure)
        assert spec is not None  # checked when the command was parsed
        if not spec.local:
            found = spec.criterion(criterion)
            assert found is not None
            return found.direction
        selected = self.local_measures.get(measure)
        if selected is None:
            raise RuleViolation(
                f"measure: {measure} has not been selected yet; send local_measures_selected first",
                field="measure",
            )
        if selected["criterion"] != criterion:
            raise UnknownMeasure(
                f"criterion: {measure} was selected with criterion {selected['criterion']!r}, "
                f"not {criterion!r}",
                field="criterion",
                allowed=[selected["criterion"]],
            )
        return str(selected["direction"])

    def flag(self, flag_id: str) -> dict[str, Any] | None:
        """The quality-failure flag with this id, active or rescinded, if ever flagged."""
        return next((f for f in self.flags if f["flag_id"] == flag_id), None)

    def check_flag_is_new(self, flag_id: str) -> None:
        if self.flag(flag_id) is not None:
            raise RuleViolation(
                f"flag_id: {flag_id!r} has already been used for {self.ccg} in {self.scheme}",
                field="flag_id",
            )

    def check_flag_is_active(self, flag_id: str) -> None:
        flag = self.flag(flag_id)
        if flag is None or not flag["active"]:
            state = "was already rescinded" if flag else "was never flagged"
            raise RuleViolation(
                f"flag_id: {flag_id!r} is not an active quality failure for {self.ccg} ({state})",
                field="flag_id",
                allowed=sorted(f["flag_id"] for f in self.flags if f["active"]),
            )

    # -- events: each body is how the fact changes the record ----------------
    # Each is called by its command's ``apply_to`` (ledger/domain/commands/record.py),
    # after the rules above that the command depends on.

    @event("PopulationRecorded")
    def record_population(
        self, population: int, source: str, actor: str, reason: str | None
    ) -> None:
        self.population = {"population": population, "source": source, "version": self._next()}

    @event("LocalMeasuresSelected")
    def select_local_measures(
        self, measures: list[dict[str, str]], actor: str, reason: str | None
    ) -> None:
        version = self._next()
        self.local_measures = {m["slot"]: {**m, "version": version} for m in measures}

    @event("ThresholdAgreed")
    def agree_threshold(
        self,
        measure: str,
        criterion: str,
        baseline: Any,
        target: Any,
        actor: str,
        reason: str | None,
    ) -> None:
        self.thresholds[f"{measure}/{criterion}"] = {
            "measure": measure,
            "criterion": criterion,
            "baseline": baseline,
            "target": target,
            "version": self._next(),
        }

    @event("MeasureSubmitted")
    def submit_measure(
        self, measure: str, criterion: str, period: str, value: Any, actor: str, reason: str | None
    ) -> None:
        self.values[f"{measure}/{criterion}/{period}"] = {
            "measure": measure,
            "criterion": criterion,
            "period": period,
            "value": value,
            "version": self._next(),
        }

    @event("ConstitutionStandardSubmitted")
    def submit_standard(
        self, standard: str, period: str, value: Any, actor: str, reason: str | None
    ) -> None:
        self.standards[f"{standard}/{period}"] = {
            "standard": standard,
            "period": period,
            "value": value,
            "version": self._next(),
        }

    @event("QualityFailureFlagged")
    def flag_quality_failure(
        self, flag_id: str, description: str, actor: str, reason: str | None
    ) -> None:
        flagged = [self._next(), "quality_failure_flagged"]
        self.flags = [
            *self.flags,
            {"flag_id": flag_id, "description": description, "active": True, "versions": [flagged]},
        ]

    @event("QualityFailureRescinded")
    def rescind_quality_failure(self, flag_id: str, actor: str, reason: str | None) -> None:
        flag = self.flag(flag_id)
        assert flag is not None  # check_flag_is_active ran first
        flag["active"] = False
        flag["versions"] = [*flag["versions"], [self._next(), "quality_failure_rescinded"]]

    @event("FinancialPositionDeclared")
    def declare_financial_position(
        self, outturn: str, amount_pence: int, actor: str, reason: str | None
    ) -> None:
        self.financial = {"outturn": outturn, "amount_pence": amount_pence, "version": self._next()}

    def attributed_case(self, case_id: str) -> dict[str, Any] | None:
        return next((c for c in self.cases if c["case_id"] == case_id), None)

    @event("HCAICaseAttributed")
    def attribute_case(
        self,
        case_id: str,
        organism: str,
        specimen_date: str,
        trust: str,
        responsible_ccg: str,
        assigned_by: str,
        pir_reference: str,
        case_event: str,
        actor: str,
        reason: str | None,
    ) -> None:
        """A post-infection review assigned the case to this CCG (again, after a challenge)."""
        case = {
            "case_id": case_id,
            "organism": organism,
            "specimen_date": specimen_date,
            "trust": trust,
            "responsible_ccg": responsible_ccg,
            "assigned_by": assigned_by,
            "pir_reference": pir_reference,
        }
        attributed = [self._next(), "hcai_case_attributed"]
        earlier = self.attributed_case(case["case_id"])
        if earlier is None:
            entry = {**case, "case_event": case_event, "active": True, "versions": [attributed]}
            self.cases = [*self.cases, entry]
        else:
            for key in ("now", "now_assigned_by", "now_pir_reference"):
                earlier.pop(key, None)
            earlier.update(case, case_event=case_event, active=True)
            earlier["versions"] = [*earlier["versions"], attributed]

    @event("HCAICaseAttributionEnded")
    def end_case_attribution(
        self,
        case_id: str,
        now: str,
        now_assigned_by: str | None,
        now_pir_reference: str | None,
        case_event: str,
        actor: str,
        reason: str | None,
    ) -> None:
        """The case was reassigned elsewhere (``now``: the new assignee, and by whom) or
        withdrawn (``now`` is ``withdrawn``, with no assignment)."""
        case = self.attributed_case(case_id)
        assert case is not None  # only a case attributed here is ever ended here
        case["active"] = False
        case["now"] = now
        case["now_assigned_by"] = now_assigned_by
        case["now_pir_reference"] = now_pir_reference
        case["case_event"] = case_event
        case["versions"] = [*case["versions"], [self._next(), "hcai_case_attribution_ended"]]


pin_topics("ledger.domain", CCGPremiumRecord)
