"""Schemes as data: the shipped definitions and the validation of new ones.

The expected values below are copied from docs/contract.md (qp-2013-14) and from the
2014/15 guidance (qp-2014-15), not from the JSON files, so a typo in a shipped
file fails here.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from decimal import Decimal
from importlib import resources
from typing import Any

import pytest

from ledger.domain.errors import SchemeDefinitionError, UnknownScheme
from ledger.domain.scheme import Scheme, get_scheme, parse_scheme, schemes

D = Decimal


def shipped(scheme_id: str) -> dict[str, Any]:
    """The raw JSON of a shipped scheme, freshly parsed (safe to mutate)."""
    text = resources.files("ledger.schemes").joinpath(f"{scheme_id}.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


# --------------------------------------------------------------------------- shipped schemes


def test_both_shipped_schemes_load() -> None:
    loaded = schemes()
    assert {"qp-2013-14", "qp-2014-15"} <= set(loaded)
    for scheme_id, scheme in loaded.items():
        assert isinstance(scheme, Scheme)
        assert scheme.id == scheme_id
        assert get_scheme(scheme_id) is scheme


def test_unknown_scheme_is_refused_naming_the_field() -> None:
    with pytest.raises(UnknownScheme) as info:
        get_scheme("qp-2099-00")
    assert info.value.field == "scheme"
    assert "qp-2099-00" in info.value.message
    assert "qp-2013-14" in info.value.allowed  # type: ignore[operator]


def test_qp_2013_14_measures_match_the_contract() -> None:
    scheme = get_scheme("qp-2013-14")
    # (measure id, share, [(criterion id, direction, fixed target or None when agreed)])
    expected = [
        ("pyll", D("0.125"), [("pyll-rate", "lower", None)]),
        ("avoidable-emergency-admissions", D("0.25"), [("admissions-rate", "lower", None)]),
        (
            "friends-and-family",
            D("0.125"),
            [("rollout", "higher", D(1)), ("experience-score", "higher", None)],
        ),
        ("hcai", D("0.125"), [("mrsa-cases", "lower", D(0)), ("cdiff-cases", "lower", None)]),
        ("local-1", D("0.125"), []),
        ("local-2", D("0.125"), []),
        ("local-3", D("0.125"), []),
    ]
    actual = [
        (m.id, m.share, [(c.id, c.direction, c.fixed_target) for c in m.criteria])
        for m in scheme.measures
    ]
    assert actual == expected
    assert [m.id for m in scheme.measures if m.local] == ["local-1", "local-2", "local-3"]
    assert scheme.local_slots == ("local-1", "local-2", "local-3")
    assert all(isinstance(m.share, Decimal) for m in scheme.measures)
    assert sum(m.share for m in scheme.measures) == 1


def test_qp_2013_14_fixed_targets_are_exact_decimals() -> None:
    hcai = get_scheme("qp-2013-14").measure("hcai")
    ff = get_scheme("qp-2013-14").measure("friends-and-family")
    assert hcai is not None and ff is not None
    mrsa, rollout = hcai.criterion("mrsa-cases"), ff.criterion("rollout")
    assert mrsa is not None and rollout is not None
    assert isinstance(mrsa.fixed_target, Decimal) and mrsa.fixed_target == 0
    assert isinstance(rollout.fixed_target, Decimal) and rollout.fixed_target == 1
    assert hcai.criterion("no-such-criterion") is None


def test_qp_2013_14_constitution_and_money_match_the_contract() -> None:
    scheme = get_scheme("qp-2013-14")
    assert scheme.pence_per_head == 500
    assert scheme.reduction_per_standard == D("0.25")
    assert [(s.id, s.direction, s.threshold) for s in scheme.standards] == [
        ("rtt-18-weeks", "higher", D("0.92")),
        ("ae-4-hours", "higher", D("0.95")),
        ("cancer-2-week-wait", "higher", D("0.93")),
        ("ambulance-cat-a-8-min", "higher", D("0.75")),
    ]
    assert scheme.year == scheme.assessment_period == "2013-14"
    assert scheme.periods == ("2013-14", "2013-14-Q1", "2013-14-Q2", "2013-14-Q3", "2013-14-Q4")
    assert scheme.standard("ae-4-hours") is not None
    assert scheme.standard("pyll") is None
    assert scheme.measure("iapt-access") is None


def test_qp_2014_15_has_six_measures_with_the_guidance_shares() -> None:
    scheme = get_scheme("qp-2014-15")
    assert len(scheme.measures) == 6
    assert {m.id: m.share for m in scheme.measures} == {
        "pyll": D("0.15"),
        "iapt-access": D("0.15"),
        "avoidable-emergency-admissions": D("0.25"),
        "friends-and-family": D("0.15"),
        "medication-safety": D("0.15"),
        "local-1": D("0.15"),
    }
    assert scheme.local_slots == ("local-1",)
    assert sum(m.share for m in scheme.measures) == 1
    assert scheme.pence_per_head == 500
    assert scheme.year == scheme.assessment_period == "2014-15"
    assert len(scheme.standards) == 4


def test_scheme_digest_is_stable_and_tracks_the_definition() -> None:
    data = shipped("qp-2013-14")
    first = parse_scheme(copy.deepcopy(data))
    again = parse_scheme(copy.deepcopy(data))
    assert first.digest.startswith("sha256:")
    assert len(first.digest) == len("sha256:") + 64
    assert first.digest == again.digest == get_scheme("qp-2013-14").digest
    assert first.digest != get_scheme("qp-2014-15").digest
    changed = copy.deepcopy(data)
    changed["constitution"]["standards"][0]["threshold"] = "0.91"
    assert parse_scheme(changed).digest != first.digest


def test_a_new_year_needs_no_code_change() -> None:
    """A valid variant (renamed, other weights) parses into a working scheme."""
    data = shipped("qp-2013-14")
    data["id"] = "qp-2015-16"
    data["year"] = data["assessment_period"] = "2015-16"
    data["measures"] = data["measures"][:4]
    data["measures"][0]["share"] = "0.5"  # 0.5 + 0.25 + 0.125 + 0.125 == 1
    scheme = parse_scheme(data)
    assert scheme.id == "qp-2015-16"
    assert scheme.local_slots == ()
    assert scheme.periods[0] == "2015-16"


# --------------------------------------------------------------------------- rejections

Mutation = Callable[[dict[str, Any]], None]


def _key(part: str) -> int | str:
    return int(part) if part.isdigit() else part


def _parent(data: dict[str, Any], path: str) -> tuple[Any, int | str]:
    """The container holding ``path`` (``a.0.b`` for ``a[0].b``) and the last key."""
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        node = node[_key(part)]
    return node, _key(last)


def _set(path: str, value: Any) -> Mutation:
    def apply(data: dict[str, Any]) -> None:
        node, key = _parent(data, path)
        node[key] = value

    return apply


def _delete(path: str) -> Mutation:
    def apply(data: dict[str, Any]) -> None:
        node, key = _parent(data, path)
        del node[key]

    return apply


def _swap_shares(data: dict[str, Any]) -> None:
    data["measures"][0]["share"] = "0.2"  # 1.075 in all


def bad(path: str, value: Any, case: str) -> Any:
    """A case whose error names the field at ``path`` as written there (``a[0].b``)."""
    return pytest.param(_set(path, value), re.sub(r"\.(\d+)", r"[\1]", path), id=case)


def _bad_rejections() -> list[Any]:
    p = pytest.param
    return [
        # shares
        p(_swap_shares, "measures: shares sum to", id="shares-not-summing-to-1"),
        p(_delete("measures.6"), "measures: shares sum to", id="shares-sum-below-1"),
        bad("measures.0.share", 0.125, "share-a-json-number"),
        bad("measures.0.share", "an eighth", "share-not-decimal"),
        bad("measures.0.share", "NaN", "share-nan"),
        bad("measures.0.share", "Infinity", "share-infinite"),
        bad("measures.0.share", "0", "share-zero"),
        bad("measures.0.share", "-0.125", "share-negative"),
        bad("measures.0.share", "1.125", "share-over-1"),
        # ids
        bad("measures.1.id", "pyll", "duplicate-measure-id"),
        bad("measures.0.id", "PYLL", "measure-id-upper-case"),
        bad("measures.0.id", "", "measure-id-empty"),
        bad("measures.3.criteria.1.id", "mrsa-cases", "duplicate-criterion-id"),
        bad("constitution.standards.1.id", "rtt-18-weeks", "duplicate-standard-id"),
        # directions
        bad("measures.0.criteria.0.direction", "down", "criterion-direction"),
        bad("constitution.standards.2.direction", "Higher", "standard-direction"),
        # targets and thresholds
        bad("measures.3.criteria.0.target", 0, "target-a-json-number"),
        bad("measures.3.criteria.0.target", "zero", "target-not-decimal"),
        bad("constitution.standards.0.threshold", "1.2", "threshold-over-1"),
        bad("constitution.standards.0.threshold", "-0.1", "threshold-negative"),
        bad("constitution.reduction_per_standard", "1.25", "reduction-over-1"),
        bad("constitution.reduction_per_standard", 0.25, "reduction-a-json-number"),
        # local measures and criteria lists
        bad(
            "measures.4.criteria",
            [{"id": "x", "direction": "lower", "target": "agreed"}],
            "local-measure-with-criteria",
        ),
        bad("measures.0.criteria", [], "no-criteria"),
        bad("measures.0.criteria", "pyll-rate", "criteria-not-list"),
        bad("measures.0.criteria.0", "pyll-rate", "criterion-str"),
        # year, money, shapes
        bad("year", "2013-15", "year-not-consecutive"),
        bad("year", "2013/14", "year-bad-format"),
        bad("assessment_period", "2013-14-Q4", "assessment-period"),
        bad("pence_per_head", 0, "pence-zero"),
        bad("pence_per_head", -500, "pence-negative"),
        bad("pence_per_head", "500", "pence-string"),
        bad("pence_per_head", 500.0, "pence-float"),
        bad("pence_per_head", True, "pence-bool"),
        bad("appeal_window_days", 0, "appeal-window-zero"),
        bad("measures", {}, "measures-not-list"),
        bad("measures.0", ["pyll"], "measure-not-object"),
        bad("constitution", [], "constitution-not-object"),
        bad("constitution.standards.0", "rtt", "std-not-obj"),
        bad("title", 2013, "title-not-string"),
    ]


@pytest.mark.parametrize(("mutate", "names"), _bad_rejections())
def test_parse_scheme_rejects_bad_definitions_naming_the_field(
    mutate: Mutation, names: str
) -> None:
    data = copy.deepcopy(shipped("qp-2013-14"))
    mutate(data)
    with pytest.raises(SchemeDefinitionError) as info:
        parse_scheme(data, source="qp-2013-14.json")
    message = str(info.value)
    assert message.startswith("qp-2013-14.json"), message
    assert names in message, message


REQUIRED = [
    "id",
    "title",
    "year",
    "assessment_period",
    "pence_per_head",
    "appeal_window_days",
    "measures",
    "constitution",
    "measures.0.id",
    "measures.0.name",
    "measures.0.share",
    "measures.0.criteria",
    "measures.4.name",
    "measures.4.share",
    "measures.2.criteria.1.id",
    "measures.2.criteria.1.direction",
    "measures.2.criteria.1.target",
    "constitution.reduction_per_standard",
    "constitution.standards",
    "constitution.standards.3.id",
    "constitution.standards.3.name",
    "constitution.standards.3.direction",
    "constitution.standards.3.threshold",
]


def _dotted_to_where(path: str) -> str:
    """``measures.0.criteria.1.id`` -> ``measures[0].criteria[1].id`` (how errors name it)."""
    out = ""
    for part in path.split("."):
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out


@pytest.mark.parametrize("path", REQUIRED)
def test_parse_scheme_names_a_missing_field(path: str) -> None:
    data = copy.deepcopy(shipped("qp-2013-14"))
    _delete(path)(data)
    with pytest.raises(SchemeDefinitionError) as info:
        parse_scheme(data, source="s")
    message = str(info.value)
    assert f"s.{_dotted_to_where(path)}" in message, message
    assert "missing" in message


@pytest.mark.parametrize("data", [None, [], "qp-2013-14", 2013])
def test_parse_scheme_rejects_a_definition_that_is_not_an_object(data: Any) -> None:
    with pytest.raises(SchemeDefinitionError, match=r"^source\.json: expected a JSON object"):
        parse_scheme(data, source="source.json")


def test_parse_scheme_does_not_modify_its_input() -> None:
    data = shipped("qp-2014-15")
    before = copy.deepcopy(data)
    parse_scheme(data)
    assert data == before


@pytest.mark.parametrize("local", ["false", "no", 1])
def test_parse_scheme_rejects_a_non_boolean_local_flag(local: Any) -> None:
    data = copy.deepcopy(shipped("qp-2013-14"))
    data["measures"][4]["local"] = local  # local-1: criteria absent, so bool() accepts it
    with pytest.raises(SchemeDefinitionError, match=r"measures\[4\]\.local"):
        parse_scheme(data, source="s")
