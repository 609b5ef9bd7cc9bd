"""Hostile input on a real database: one bad line is one rejection, the rest is stored.

Issue 9, items 2-4, on SQLite and PostgreSQL:

* an import holding a duplicate key, a lone surrogate, JSON nested 3,000 deep,
  a NUL, bytes that are not UTF-8, or numbers beyond the documented limits
  rejects exactly those lines with a clear message, stores the valid lines of
  the same chunk, and (from the command line) still prints its summary;
* quality-failure flag ids are user text; none of them (``_type_`` and
  ``_data_`` included) can change how a snapshot of the CCG's record is read
  back, and snapshots written before the fix still load or are bypassed.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import EventStore, MapperDeserialisationError
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ledger.domain.ccgs import ccgs
from ledger.domain.record import CCGPremiumRecord, stream_id
from ledger.service.application import QPLedger

SCHEME = "qp-2013-14"
YEAR = "2013-14"
SCRIPT = shutil.which("qp-ledger", path=str(Path(sys.executable).parent)) or "qp-ledger"


def cmd(kind: str, ccg: str = "06F", **fields: Any) -> dict[str, Any]:
    return {"type": kind, "ccg": ccg, "scheme": SCHEME, **fields}


def line(command: dict[str, Any]) -> bytes:
    return json.dumps(command).encode()


POPULATION = '{"type": "population_recorded", "ccg": "06F", "scheme": "qp-2013-14", '
THRESHOLD = (
    '{"type": "threshold_agreed", "ccg": "06F", "scheme": "qp-2013-14", "measure": "pyll", '
    '"criterion": "pyll-rate", "target": 2000, "baseline": '
)

#: One chunk: valid lines around every kind of hostile line, as the bytes of a file.
HOSTILE_FILE: list[bytes] = [
    line(cmd("population_recorded", population=452_475, source="ONS")),  # 1 ok
    (POPULATION + '"population": 452475, "source": "ONS", "population": 1}').encode(),  # 2
    (POPULATION + '"population": 1, "source": "\\udc80"}').encode(),  # 3
    b"[" * 3000 + b"]" * 3000,  # 4
    (POPULATION + '"population": 1, "source": "a\\u0000b"}').encode(),  # 5
    (POPULATION + '"population": 1, "source": "').encode() + b'\xff\xfe"}',  # 6
    (THRESHOLD + "1e-400}").encode(),  # 7
    (POPULATION + '"population": 1' + "0" * 5000 + ', "source": "ONS"}').encode(),  # 8
    (THRESHOLD + "NaN}").encode(),  # 9
    b"",  # 10 blank: skipped
    line(
        cmd("threshold_agreed", measure="pyll", criterion="pyll-rate", baseline=2100, target=2000)
    ),  # 11 ok
]

EXPECTED_ERRORS = {
    2: ("invalid-json", "duplicate key 'population': each field may appear only once"),
    3: ("invalid-json", "source: holds a lone surrogate (\\udc80), which is not a Unicode"),
    4: ("invalid-json", "JSON nested 3000 levels deep; the ledger reads at most 32"),
    5: ("invalid-json", "source: holds the NUL character (\\u0000)"),
    6: ("invalid-json", f"not UTF-8 text: byte 0xff at column {len(HOSTILE_FILE[5]) - 3}"),
    7: ("invalid-command", "baseline: 1E-400 is too small: the ledger keeps 0 or numbers"),
    8: ("invalid-json", "population: a number 5001 characters long"),
    9: ("invalid-command", "baseline: must be a finite number"),
}


def check_hostile_report(errors: list[dict[str, Any]]) -> None:
    assert [e["line"] for e in errors] == sorted(EXPECTED_ERRORS)
    for error in errors:
        code, message = EXPECTED_ERRORS[error["line"]]
        assert error["code"] == code
        assert error["message"].startswith(message), error["message"]


def check_only_the_valid_lines_are_stored(ledger: QPLedger) -> None:
    """06F opened by line 1, then lines 1 and 11: three events, and the first population."""
    assert ledger.max_position() == 3
    history = ledger.history("06F", SCHEME)
    assert [e["type"] for e in history] == [
        "record_opened",
        "population_recorded",
        "threshold_agreed",
    ]
    assert history[1]["fields"]["population"] == 452_475  # not the duplicate's 1
    decision = ledger.decision("06F", SCHEME).document
    assert decision["population"] == 452_475
    pyll = next(c for c in decision["components"] if c["measure"] == "pyll")
    assert pyll["criteria"][0]["baseline"] == 2100


@pytest.mark.parametrize("batch_size", [200, 1])
def test_an_import_rejects_each_hostile_line_and_stores_the_rest(
    ledger: QPLedger, batch_size: int
) -> None:
    report = ledger.import_lines(HOSTILE_FILE, actor="test:import", batch_size=batch_size)
    assert report.summary() == {"stored": 2, "rejected": 8, "last_position": 3}
    check_hostile_report(report.errors)
    check_only_the_valid_lines_are_stored(ledger)


def test_the_command_line_import_prints_its_summary_and_exits_1(
    database_url: str, tmp_path: Path
) -> None:
    source = tmp_path / "hostile.jsonl"
    source.write_bytes(b"\xef\xbb\xbf" + b"\n".join(HOSTILE_FILE) + b"\n")  # with a BOM
    env = {k: v for k, v in os.environ.items() if not k.startswith("QP_LEDGER_")}
    result = subprocess.run(
        [SCRIPT, "import", str(source), "--actor", "cli:test", "--database-url", database_url],
        capture_output=True,
        env=env,
        timeout=120,
    )
    stdout, stderr = result.stdout.decode(), result.stderr.decode()
    assert result.returncode == 1, stderr
    assert "Traceback" not in stderr
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert {k: summary[k] for k in ("stored", "rejected", "last_position")} == {
        "stored": 2,
        "rejected": 8,
        "last_position": 3,
    }
    check_hostile_report(summary["errors"])
    rejected = [row for row in stderr.splitlines() if row.startswith("line ")]
    assert rejected[0] == (
        "line 2: rejected: duplicate key 'population': each field may appear only once in a command"
    )
    assert rejected[1] == (
        "line 3: rejected: source: holds a lone surrogate (\\udc80), which is not a Unicode "
        "character; send text as valid UTF-8"
    )
    assert len(rejected) == 8
    ledger = QPLedger(database_url)
    try:
        check_only_the_valid_lines_are_stored(ledger)
    finally:
        ledger.close()


def test_a_python_caller_cannot_store_text_that_is_not_unicode(ledger: QPLedger) -> None:
    from ledger.domain.errors import InvalidCommand

    with pytest.raises(InvalidCommand) as caught:
        ledger.execute(cmd("quality_failure_flagged", flag_id="QF-\udc80", description="x"))
    assert caught.value.message.startswith("flag_id: holds a lone surrogate (\\udc80)")
    assert ledger.max_position() == 0


# ------------------------------------------------------------ snapshots (item 4)


def flag(ccg: str, flag_id: str, description: str = "never event") -> dict[str, Any]:
    return cmd("quality_failure_flagged", ccg, flag_id=flag_id, description=description)


def quality_gate(ledger: QPLedger, ccg: str) -> dict[str, Any]:
    gate: dict[str, Any] = ledger.decision(ccg, SCHEME).document["gates"][0]
    assert gate["gate"] == "quality-failure"
    return gate


def test_flag_ids_named_like_the_transcoders_markers_survive_the_50th_event(
    database_url: str,
) -> None:
    """The issue's reproduction: ``_type_`` and ``_data_``, then a snapshot at version 50."""
    ledger = QPLedger(database_url)
    try:
        ledger.execute(flag("06F", "_type_"))
        ledger.execute(flag("06F", "_data_"))
        value = {"standard": "ae-4-hours", "period": YEAR}
        lines = [json.dumps(cmd("constitution_standard_submitted", value=0.9, **value))] * 50
        assert ledger.import_lines(lines).summary()["rejected"] == 0
    finally:
        ledger.close()

    fresh = QPLedger(database_url)  # no cached record: it must come from the snapshot
    try:
        oid = stream_id("06F", SCHEME)
        snapshots = list(fresh.snapshots.get(oid))  # type: ignore[union-attr]
        assert [s.originator_version for s in snapshots] == [50]
        assert [f["flag_id"] for f in snapshots[0].state["flags"]] == ["_type_", "_data_"]
        assert quality_gate(fresh, "06F")["active_flags"] == ["_data_", "_type_"]
        report = fresh.import_lines(
            [json.dumps(cmd("quality_failure_rescinded", flag_id="_type_"))]
        )
        assert report.summary() == {"stored": 1, "rejected": 0, "last_position": 54}
        assert quality_gate(fresh, "06F")["active_flags"] == ["_data_"]
        assert fresh.stream_version("06F", SCHEME) == 54
    finally:
        fresh.close()


#: Free text, with the transcoder's own markers and look-alikes made likely.
user_text = st.one_of(
    st.sampled_from(["_type_", "_data_", "__type__", "_type_ ", "decimal_str", "uuid_hex"]),
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
        min_size=1,
        max_size=30,
    ),
).filter(lambda text: bool(text.strip()))

_ccg_codes = itertools.cycle(list(ccgs()))


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    ids=st.lists(user_text, min_size=1, max_size=4, unique=True),
    description=user_text,
    rescind_first=st.booleans(),
)
@example(ids=["_type_", "_data_"], description="x", rescind_first=False)
@example(ids=["_data_", "_type_"], description="_type_", rescind_first=True)
@example(ids=["uuid_hex", "_type_", "_data_"], description="🙂", rescind_first=True)
def test_no_flag_id_changes_how_a_snapshot_is_read(
    database_url: str, ids: list[str], description: str, rescind_first: bool
) -> None:
    ccg = next(_ccg_codes)  # a CCG with no record yet in this test's database
    oid = stream_id(ccg, SCHEME)
    writer = QPLedger(database_url)
    try:
        if writer.stream_version(ccg, SCHEME):
            return  # every CCG used once already: this database is full
        for flag_id in ids:
            writer.execute(flag(ccg, flag_id, description), actor="board:test")
        if rescind_first:
            writer.execute(cmd("quality_failure_rescinded", ccg, flag_id=ids[0]))
        writer.take_snapshot(oid)  # a real snapshot row, written by the library
    finally:
        writer.close()

    reader = QPLedger(database_url)
    try:
        version = 1 + len(ids) + rescind_first
        (snapshot,) = reader.snapshots.get(oid, desc=True, limit=1)  # type: ignore[union-attr]
        assert snapshot.originator_version == version
        assert [f["flag_id"] for f in snapshot.state["flags"]] == ids
        assert [f["description"] for f in snapshot.state["flags"]] == [description] * len(ids)
        active = sorted(ids[1:] if rescind_first else ids)
        assert quality_gate(reader, ccg)["active_flags"] == active
        # and the record read from the snapshot takes the next command
        if active:
            reader.execute(cmd("quality_failure_rescinded", ccg, flag_id=active[0]))
            assert quality_gate(reader, ccg)["active_flags"] == active[1:]
    finally:
        reader.close()


def put_version_1_snapshot(ledger: QPLedger, ccg: str, flags: dict[str, Any]) -> None:
    """A snapshot as the code before class_version 2 wrote it: flags keyed by flag_id."""
    record = ledger.repository.get(stream_id(ccg, SCHEME))
    snapshot = CCGPremiumRecord.Snapshot.take(record)
    snapshot.state.pop("class_version")
    snapshot.state["flags"] = flags
    ledger.snapshots.put([snapshot])  # type: ignore[union-attr]


def test_a_version_1_snapshot_is_upcast(ledger: QPLedger) -> None:
    ledger.execute(flag("06F", "QF-1"))
    ledger.execute(flag("06F", "QF-2"))
    ledger.execute(cmd("quality_failure_rescinded", flag_id="QF-1"))
    before = ledger.decision("06F", SCHEME).document
    old_flags = {
        "QF-1": {
            "description": "never event",
            "active": False,
            "versions": [[2, "quality_failure_flagged"], [4, "quality_failure_rescinded"]],
        },
        "QF-2": {
            "description": "never event",
            "active": True,
            "versions": [[3, "quality_failure_flagged"]],
        },
    }
    put_version_1_snapshot(ledger, "06F", old_flags)

    fresh = QPLedger(ledger.database_url)
    try:
        (snapshot,) = fresh.snapshots.get(stream_id("06F", SCHEME))  # type: ignore[union-attr]
        assert "class_version" not in snapshot.state  # really the old shape
        assert fresh.decision("06F", SCHEME).document == before
        fresh.execute(cmd("quality_failure_rescinded", flag_id="QF-2"))
        assert quality_gate(fresh, "06F")["active_flags"] == []
    finally:
        fresh.close()


def test_a_version_1_snapshot_that_cannot_be_read_is_bypassed(ledger: QPLedger) -> None:
    """What the old code wrote for flag ids ``_type_`` and ``_data_``: rebuilt from events."""
    ledger.execute(flag("06F", "_type_"))
    ledger.execute(flag("06F", "_data_"))
    before = ledger.decision("06F", SCHEME).document
    poisoned = {
        flag_id: {
            "description": "never event",
            "active": True,
            "versions": [[version, "quality_failure_flagged"]],
        }
        for flag_id, version in (("_type_", 2), ("_data_", 3))
    }
    put_version_1_snapshot(ledger, "06F", poisoned)
    oid = stream_id("06F", SCHEME)
    plain = EventStore(ledger.mapper, ledger.snapshots.recorder)  # type: ignore[union-attr]
    with pytest.raises(MapperDeserialisationError, match="unhashable type: 'dict'"):
        list(plain.get(oid))  # the failure the issue saw, now stored for real

    fresh = QPLedger(ledger.database_url)
    try:
        assert list(fresh.snapshots.get(oid)) == []  # type: ignore[union-attr]
        assert fresh.decision("06F", SCHEME).document == before
        fresh.execute(cmd("quality_failure_rescinded", flag_id="_data_"))
        assert quality_gate(fresh, "06F")["active_flags"] == ["_type_"]
        assert fresh.max_position() == 4
    finally:
        fresh.close()
