"""Which parts of a CCG's record a decision's status and payable amount rest on.

A rebuild must know, after every event, whether the CCG's status or payable
amount moved (that is what opens a timeline row), but most events cannot
move them: a monthly figure for a period the scheme does not assess, say.
Rather than copy the engine's rules into the read models to tell which, the
engine is run on facts whose keyed parts (``values``, ``standards``,
``thresholds``, ``local_measures``) record every key it looks up, and every
whole-part read (iterating one counts as reading all of it). The record
entries behind those reads are kept (:class:`Snapshot`); while an event
leaves them all equal, the engine would read exactly the same inputs, so its
status and payable amount are the same and it need not run.

Not counted as reads: the inputs digest (which covers every fact by design,
and only fills ``inputs_digest``) and ``position``/``as_of`` (echoed in the
document, never used in a calculation). The population, financial
position, flags and cases are always treated as read, whole.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any, cast

from ledger.domain.facts import Facts
from ledger.domain.record import CCGPremiumRecord

#: The keyed parts of the facts; each has the same keys as the record attribute of its name
#: (``facts_from_record``).
KEYED = ("values", "standards", "thresholds", "local_measures")
#: Parts always compared whole (record attribute names).
WHOLE = ("population", "financial", "flags", "cases")
ALL = None


class _Trace:
    __slots__ = ("digest", "paused", "reads")

    def __init__(self) -> None:
        self.paused = False
        self.digest = True
        #: part -> keys looked up, or ALL once the part was iterated.
        self.reads: dict[str, set[Any] | None] = {name: set() for name in KEYED}

    def key(self, part: str, key: Any) -> None:
        keys = self.reads[part]
        if keys is not None and not self.paused:
            keys.add(key)

    def whole(self, part: str) -> None:
        if not self.paused:
            self.reads[part] = ALL


class _TracedPart(Mapping[Any, Any]):
    """A read-only mapping that tells its trace what was looked up."""

    __slots__ = ("_data", "_part", "_trace")

    def __init__(self, data: Mapping[Any, Any], part: str, trace: _Trace) -> None:
        self._data, self._part, self._trace = data, part, trace

    def __getitem__(self, key: Any) -> Any:
        self._trace.key(self._part, key)
        return self._data[key]

    def get(self, key: Any, default: Any = None) -> Any:
        self._trace.key(self._part, key)
        return self._data.get(key, default)

    def __contains__(self, key: object) -> bool:
        self._trace.key(self._part, key)
        return key in self._data

    def __iter__(self) -> Iterator[Any]:
        self._trace.whole(self._part)
        return iter(self._data)

    def __len__(self) -> int:
        self._trace.whole(self._part)
        return len(self._data)


@dataclass(frozen=True)
class _TracedFacts(Facts):
    """Facts whose digest (``canonical``) is not counted as a read, or not computed at all."""

    def canonical(self) -> dict[str, Any]:
        trace = cast(_TracedPart, self.values)._trace
        if not trace.digest:
            return {}
        trace.paused = True
        try:
            return super().canonical()
        finally:
            trace.paused = False


def traced(facts: Facts, *, digest: bool = True) -> tuple[Facts, dict[str, set[Any] | None]]:
    """The same facts, recording the engine's reads into the returned dict.

    With ``digest=False`` the decision's ``inputs_digest`` is left meaningless
    (the caller computes it with ``ledger.engine.decide.inputs_digest`` on the
    real facts when it needs it): it is the costliest part of a decision and
    most decisions a rebuild computes are only compared, never stored.
    """
    trace = _Trace()
    trace.digest = digest
    given = {f.name: getattr(facts, f.name) for f in fields(facts)}
    for part in KEYED:
        given[part] = _TracedPart(given[part], part, trace)
    return _TracedFacts(**given), trace.reads


#: Types whose values cannot change in place (what record state holds besides dicts and lists).
_IMMUTABLE = frozenset({str, int, float, bool, type(None), Decimal})


def _copy(value: Any) -> Any:
    """A deep copy of record state (plain dicts, lists and scalars; anything else via deepcopy)."""
    kind = type(value)
    if kind in _IMMUTABLE:
        return value
    if kind is dict:
        if _IMMUTABLE.issuperset(map(type, value.values())):
            return value.copy()
        return {k: _copy(v) for k, v in value.items()}
    if kind is list:
        return [_copy(v) for v in value]
    return copy.deepcopy(value)


class Snapshot:
    """The record entries a decision read, to tell whether a later event touched any."""

    __slots__ = ("keyed", "whole")

    def __init__(self, record: CCGPremiumRecord, reads: dict[str, set[Any] | None]) -> None:
        self.keyed: list[tuple[str, Any, Any]] = []
        self.whole: list[tuple[str, Any]] = [
            (name, _copy(getattr(record, name, None))) for name in WHOLE
        ]
        for part, keys in reads.items():
            if keys is ALL:
                self.whole.append((part, _copy(getattr(record, part))))
            else:
                entries = getattr(record, part)
                self.keyed += [(part, k, _copy(entries.get(k))) for k in keys]

    def unchanged(self, record: CCGPremiumRecord) -> bool:
        """True if every entry read is still equal (so the engine would read the same)."""
        for part, key, entry in self.keyed:
            if getattr(record, part).get(key) != entry:
                return False
        return all(getattr(record, name, None) == kept for name, kept in self.whole)
