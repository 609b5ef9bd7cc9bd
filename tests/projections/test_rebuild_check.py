"""Rebuild into fresh tables with an atomic switch; check finds the first difference."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import inspect, select, update

from ledger.projections import PROJECTIONS, ProjectorGroup, rebuild
from ledger.projections.__main__ import main as cli
from ledger.projections.registry import read_model
from tests.projections.projkit import SCHEME, Harness, demo


def tables(h: Harness, name: str) -> dict[str, Any]:
    with h.db.read() as conn:
        generation = h.db.active_generation(conn, name)
    assert generation is not None
    return h.db.tables(name, generation, read_model(name).define_tables)


def test_rebuild_while_a_projector_runs_switches_without_going_back(harness: Harness) -> None:
    commands = demo(6)
    harness.load(commands[:150])
    live = ProjectorGroup(harness.ledger, harness.db, list(PROJECTIONS), batch_size=20)
    live.start()
    seen: dict[str, list[int]] = {name: [] for name in PROJECTIONS}
    stop_reading = threading.Event()

    def reader() -> None:
        while not stop_reading.is_set():
            for name, s in harness.read.status().items():
                seen[name].append(s["position"])
            time.sleep(0.01)

    watcher = threading.Thread(target=reader)
    watcher.start()
    try:
        harness.load(commands[150:300])
        results = rebuild(harness.ledger, harness.db, batch_size=50)
        harness.load(commands[300:])
        head = harness.ledger.max_position()
        deadline = time.monotonic() + 60
        while set(live.positions().values()) != {head}:
            assert time.monotonic() < deadline and not live.errors, live.errors
            time.sleep(0.05)
    finally:
        live.stop()
        live.join(30)
        stop_reading.set()
        watcher.join()
    assert not live.errors
    assert [r.generation for r in results] == [2, 2, 2]
    assert all(r.replaced == 1 for r in results)
    for name, positions in seen.items():
        assert positions == sorted(positions), f"{name} went backwards"
    # The live projectors found their generation retired and moved to the new one.
    assert all(p.view.generation == 2 for p in live.projectors)
    assert sum(p.stats.conflicts for p in live.projectors) >= 3
    report = harness.check()
    assert report.clean, report.difference


def test_rebuild_one_read_model_keeps_the_previous_generation_only(harness: Harness) -> None:
    harness.load(demo(2))
    harness.project()
    for expected in (2, 3, 4):
        (result,) = rebuild(harness.ledger, harness.db, ["summaries"])
        assert result.generation == expected and result.events > 0
    names = set(inspect(harness.db.engine).get_table_names())
    assert "qpproj_summaries_g4_groups" in names and "qpproj_summaries_g3_groups" in names
    assert "qpproj_summaries_g2_groups" not in names and "qpproj_summaries_g1_groups" not in names
    assert "qpproj_decisions_g1_current" in names  # the others were left alone
    assert harness.read.status()["decisions"]["generation"] == 1
    assert harness.check().clean


Tamper = Callable[[Harness], None]


def _set(name: str, table: str, where: dict[str, Any], **values: Any) -> Tamper:
    def tamper(h: Harness) -> None:
        t = tables(h, name)[table]
        with h.db.write() as conn:
            conn.execute(update(t).where(*(t.c[k] == v for k, v in where.items())).values(**values))

    return tamper


def _delete_first_timeline_row(h: Harness) -> None:
    t = tables(h, "decisions")["timeline"]
    with h.db.write() as conn:
        first = conn.execute(select(t.c.position).order_by(t.c.position).limit(1)).scalar()
        conn.execute(t.delete().where(t.c.position == first))


def _bump_tracking(h: Harness) -> None:
    t = h.db.tracking
    with h.db.write() as conn:
        conn.execute(
            update(t)
            .where(t.c.projection == "attainment")
            .values(events_applied=t.c.events_applied + 1)
        )


KEY = {"scheme": SCHEME, "ccg": "00C"}
TAMPERING: dict[str, tuple[Tamper, str]] = {
    "payable": (
        _set("decisions", "current", KEY, payable_pence=1),
        "decisions: qpproj_decisions_g1_current[scheme=qp-2013-14, ccg=00C] payable_pence: "
        "the read model has 1",
    ),
    "document": (
        _set("decisions", "current", KEY, document='{"status": "final"}'),
        "current[scheme=qp-2013-14, ccg=00C] document.",
    ),
    "timeline": (_delete_first_timeline_row, "is missing from the read model"),
    "applied-twice": (
        _set("summaries", "groups", {"level": "nation"}, events_applied=999_999),
        "qpproj_summaries_g1_groups[scheme=qp-2013-14, level=nation, code=E92000001] "
        "events_applied",
    ),
    "tracking": (
        _bump_tracking,
        "qpproj_tracking[projection=attainment, generation=1] events_applied",
    ),
}


@pytest.mark.parametrize("case", list(TAMPERING))
def test_check_names_the_first_difference(sqlite_url: str, case: str) -> None:
    h = Harness(sqlite_url)
    try:
        h.load(demo(2))
        h.project()
        assert h.check().clean
        tamper, expected = TAMPERING[case]
        tamper(h)
        report = h.check()
        assert not report.clean
        assert expected in str(report.difference), str(report.difference)
        result = CliRunner().invoke(cli, ["projections", "check", "--database-url", sqlite_url])
        assert result.exit_code == 1
        assert f"error: first difference: {report.difference}" in result.output
    finally:
        h.close()


def test_the_cli_projects_rebuilds_checks_and_reports_status(sqlite_url: str) -> None:
    h = Harness(sqlite_url)
    try:
        h.load(demo(1))
        runner = CliRunner()
        args = ["--database-url", sqlite_url]
        result = runner.invoke(cli, ["projections", "check", *args])
        assert result.exit_code == 1 and "not built yet" in result.output
        result = runner.invoke(cli, ["project", "--once", *args])
        assert result.exit_code == 0, result.output
        head = h.ledger.max_position()
        assert json.loads(result.output.splitlines()[-1]) == {
            "positions": dict.fromkeys(PROJECTIONS, head)
        }
        result = runner.invoke(cli, ["projections", "rebuild", "decisions", *args])
        assert result.exit_code == 0, result.output
        line = json.loads(result.output.strip().splitlines()[-1])
        assert line["name"] == "decisions" and line["generation"] == 2 and line["position"] == head
        result = runner.invoke(cli, ["projections", "check", *args])
        assert result.exit_code == 0 and json.loads(result.output)["clean"] is True
        result = runner.invoke(cli, ["projections", "status", *args])
        status = json.loads(result.output)
        assert status["head"] == head
        assert status["projections"]["decisions"]["generation"] == 2
        assert status["projections"]["summaries"]["lag_positions"] == 0
        result = runner.invoke(cli, ["projections", "rebuild", "nonsense", *args])
        assert result.exit_code == 2
    finally:
        h.close()
