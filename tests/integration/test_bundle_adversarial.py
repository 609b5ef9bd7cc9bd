"""Forged evidence bundles are refused (issue 11 item 5), never accepted and never a crash.

One real bundle is exported once (SQLite; a bundle does not depend on the
database it came from — test_bundle_export.py exports on both) and then
attacked: hypothesis picks which byte of which event, proof hash,
checkpoint or decision to change; events are swapped, removed and
duplicated; a bundle of another CCG is passed off with this CCG's decision;
checkpoints come from another origin or another key; and arbitrary JSON is
put anywhere in the file. Each must fail — ``verify_bundle`` reporting a
problem or raising ``BundleError``, the command exiting 1 with a message
and no traceback. Every test first checks that the untouched bundle passes,
so a failure to refuse is a failure of the verifier, not of the fixture.
"""

from __future__ import annotations

import base64
import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.cli.main import main
from ledger.integrity.bundle import BundleError, verify_bundle
from ledger.integrity.checkpoint import Signer, parse_checkpoint_body, sign_checkpoint
from ledger.integrity.signing import load_signer
from tests.integration.bundlekit import ORIGIN, SCHEME, export, issued_records, qp, verifier_key

EXAMPLES = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two CCGs' bundles from one ledger, and the ledger's verifier key and signer."""
    where = tmp_path_factory.mktemp("bundles")
    url, key = f"sqlite:///{where / 'ledger.db'}", where / "signing.key"
    issues = issued_records(url)
    bundles = [export(url, key, ccg, issue_id) for ccg, issue_id in issues]
    return {"bundles": bundles, "key": verifier_key(key), "signer": load_signer(key, ORIGIN)[0]}


def fresh(exported: dict[str, Any]) -> dict[str, Any]:
    good: dict[str, Any] = copy.deepcopy(exported["bundles"][0])
    return good


@pytest.fixture
def bundle(exported: dict[str, Any]) -> dict[str, Any]:
    good = fresh(exported)
    assert verify_bundle(good, exported["key"]).ok
    return good


def test_the_exported_bundles_verify(exported: dict[str, Any]) -> None:
    for bundle in exported["bundles"]:
        assert verify_bundle(bundle, exported["key"]).ok


def refused(bundle: Any, key: str) -> str:
    """Why the bundle is refused; fails the test if it is accepted."""
    try:
        report = verify_bundle(bundle, key)
    except BundleError as e:
        return str(e)
    assert not report.ok, "a forged bundle verified"
    return "\n".join(report.problems)


def flip(text: str, byte: int, value: int) -> str:
    """The base64 text of the decoded bytes with one byte changed (never to itself)."""
    raw = bytearray(base64.b64decode(text))
    raw[byte % len(raw)] ^= value or 1
    return base64.b64encode(bytes(raw)).decode()


def proven_items(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    record = bundle["record"]
    return [*record["events"], record["next_event"], bundle["issue_event"]]


# -- one byte changed -------------------------------------------------------------------


@EXAMPLES
@given(which=st.integers(min_value=0), byte=st.integers(min_value=0), value=st.integers(1, 255))
def test_any_byte_of_any_event_changed_is_refused(
    exported: dict[str, Any], which: int, byte: int, value: int
) -> None:
    bundle = fresh(exported)  # each example starts from the exported bundle
    items = proven_items(bundle)
    item = items[which % len(items)]
    item["leaf"] = flip(item["leaf"], byte, value)
    assert refused(bundle, exported["key"])


@EXAMPLES
@given(which=st.integers(min_value=0), byte=st.integers(0, 31), value=st.integers(1, 255))
def test_any_byte_of_any_proof_hash_changed_is_refused(
    exported: dict[str, Any], which: int, byte: int, value: int
) -> None:
    bundle = fresh(exported)  # each example starts from the exported bundle
    paths = [item["inclusion_path"] for item in proven_items(bundle)]
    paths.append(bundle["decision_log"]["consistency_path"])
    slots = [(path, i) for path in paths for i in range(len(path))]
    path, i = slots[which % len(slots)]
    path[i] = flip(path[i], byte, value)
    assert refused(bundle, exported["key"])


@EXAMPLES
@given(position=st.integers(min_value=0), char=st.characters(min_codepoint=32, max_codepoint=126))
def test_any_byte_of_the_checkpoint_changed_is_refused(
    exported: dict[str, Any], position: int, char: str
) -> None:
    bundle = fresh(exported)  # each example starts from the exported bundle
    note = bundle["checkpoint"]["note"]
    at = position % len(note)
    if note[at] == char:
        char = "A" if char != "A" else "B"
    bundle["checkpoint"]["note"] = note[:at] + char + note[at + 1 :]
    assert refused(bundle, exported["key"])


@EXAMPLES
@given(position=st.integers(min_value=0), value=st.integers(0, 255))
def test_any_byte_of_the_decision_changed_in_the_file_is_refused(
    exported: dict[str, Any], position: int, value: int, tmp_path: Path
) -> None:
    """A byte of the file's decision text changed: not JSON, or another decision — both exit 1."""
    bundle = fresh(exported)  # each example starts from the exported bundle
    decision = json.dumps(bundle["decision"], separators=(",", ":")).encode()
    at = position % len(decision)
    if decision[at] == value:
        value ^= 1
    forged = decision[:at] + bytes([value]) + decision[at + 1 :]
    rest = json.dumps({**bundle, "decision": None}).encode()
    data = rest.replace(b'"decision": null', b'"decision": ' + forged, 1)
    path = tmp_path / "forged.json"
    path.write_bytes(data)
    result = CliRunner().invoke(main, ["bundle", "verify", str(path), "--key", exported["key"]])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "NOT VERIFIED" in result.output


# -- events in the wrong place, or from another record ------------------------------------


def test_swapped_removed_and_duplicated_events_are_refused(
    bundle: dict[str, Any], exported: dict[str, Any]
) -> None:
    key = exported["key"]
    events = bundle["record"]["events"]
    swapped = copy.deepcopy(bundle)
    swapped["record"]["events"][3:5] = [events[4], events[3]]
    assert "event 4 (version 5" in refused(swapped, key)
    removed = copy.deepcopy(bundle)
    del removed["record"]["events"][7]
    assert "event 8 (version 9" in refused(removed, key)
    duplicated = copy.deepcopy(bundle)
    duplicated["record"]["events"].insert(2, events[2])
    assert "expected version 4" in refused(duplicated, key)
    cut = copy.deepcopy(bundle)  # the last event dropped, and with it the proof of completeness
    del cut["record"]["events"][-1]
    cut["record"]["next_event"] = None
    assert "decision field inputs_digest" in refused(cut, key)
    shifted = copy.deepcopy(bundle)  # the last event passed off as the record's next one
    shifted["record"]["next_event"] = shifted["record"]["events"].pop()
    assert "is at or before the decision's position" in refused(shifted, key)


def test_another_ccgs_record_with_this_decision_is_refused(exported: dict[str, Any]) -> None:
    mine, theirs = (copy.deepcopy(b) for b in exported["bundles"])
    key = exported["key"]
    assert verify_bundle(theirs, key).ok
    theirs_with_my_decision = {
        **theirs,
        **{k: mine[k] for k in ("ccg", "issue_id", "decision", "issue_event")},
    }
    assert f"is not the record of {mine['ccg']} in {SCHEME}" in refused(
        theirs_with_my_decision, key
    )
    my_record_their_issue = {**mine, "issue_event": theirs["issue_event"]}
    assert f"is not in the decisions of {mine['ccg']}" in refused(my_record_their_issue, key)


def test_checkpoints_of_another_origin_or_key_are_refused(
    bundle: dict[str, Any], exported: dict[str, Any]
) -> None:
    key, signer = exported["key"], exported["signer"]
    body = bundle["checkpoint"]["note"].split("\n\n")[0] + "\n"
    head, _ = parse_checkpoint_body(body)
    forged = copy.deepcopy(bundle)
    forged["checkpoint"]["note"] = sign_checkpoint(
        "another.example/log", head.size, head.root, signer
    )
    assert "checkpoint is for log 'another.example/log'" in refused(forged, key)
    stranger = Signer.generate(ORIGIN)
    forged["checkpoint"]["note"] = sign_checkpoint(ORIGIN, head.size, head.root, stranger)
    name_and_id = "+".join(key.split("+")[:2])
    assert f"note is not signed by {name_and_id}" in refused(forged, key)
    forged["checkpoint"]["verifier_key"] = str(stranger.verifier)
    assert "checkpoint.verifier_key: the bundle names" in refused(forged, key)
    # With only the bundle's own key it is self-consistent, and the report says that is all.
    report = verify_bundle(forged)
    assert report.ok and "proves only that the bundle is consistent" in report.notes[0]


# -- not a bundle at all ------------------------------------------------------------------


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:3]):
            out += _paths(v, (*prefix, i))
    return out


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), replacement=JSON | st.just("__delete__"))
def test_any_value_replaced_or_removed_is_refused_with_a_message(
    exported: dict[str, Any], data: st.DataObject, replacement: Any
) -> None:
    bundle = copy.deepcopy(exported["bundles"][0])
    paths = [p for p in _paths(bundle) if p]
    path = data.draw(st.sampled_from(paths))
    parent = bundle
    for part in path[:-1]:
        parent = parent[part]
    if replacement == "__delete__":
        if isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent.pop(path[-1])
    else:
        if parent[path[-1]] == replacement and type(parent[path[-1]]) is type(replacement):
            return
        parent[path[-1]] = replacement
    if path[-1] == "next_event" and replacement in ("__delete__", None):
        return  # dropping the (optional) next event only weakens completeness: tested above
    try:
        report = verify_bundle(bundle, exported["key"])
    except BundleError as e:
        assert str(e)
        return
    assert not report.ok, path


@pytest.mark.parametrize(
    "content",
    [b"", b"not json", b"\xff\xfe", b"[]", b"null", b'{"format": 1}', b"[" * 100_000],
)
def test_malformed_files_exit_1_with_a_message(content: bytes, tmp_path: Path) -> None:
    path = tmp_path / "bundle.json"
    path.write_bytes(content)
    result = CliRunner().invoke(main, ["bundle", "verify", str(path)])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"error: {path} NOT VERIFIED: " in result.output


def test_the_command_needs_no_database_and_names_what_failed(
    bundle: dict[str, Any], exported: dict[str, Any], tmp_path: Path
) -> None:
    bundle["record"]["events"][2]["inclusion_path"][0] = flip(
        bundle["record"]["events"][2]["inclusion_path"][0], 0, 1
    )
    path = tmp_path / "forged.json"
    path.write_text(json.dumps(bundle))
    result = qp("bundle", "verify", str(path), "--key", exported["key"])
    assert result.returncode == 1
    assert "FAILED: event 3 (version 3" in result.stdout
    assert "inclusion proof does not verify against the checkpoint" in result.stdout
    assert result.stderr.startswith(f"error: {path} NOT VERIFIED: event 3 (version 3")
    assert "Traceback" not in result.stderr
    assert qp("bundle", "verify", str(tmp_path / "missing.json")).returncode == 2


def test_the_verifier_imports_no_database_code() -> None:
    """An auditor's machine needs the file and this code, not a database driver or SQLAlchemy."""
    probe = (
        "import sys, ledger.integrity.bundle; "
        "print(sorted(m for m in ('sqlalchemy', 'psycopg2', 'flask') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
