"""A rebuild (one pass, deciding only where a row needs it) builds what the projectors build.

The projectors decide after every event and apply batches incrementally;
the rebuild folds the whole log and decides after a CCG's first event, after
events that changed what its last decision read, and once at the end
(``ledger/projections/bulk.py``). Every read-model table must come out the
same, row for row, on both backends.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ledger.demo.cases import demo_case_commands
from ledger.domain.scheme import get_scheme
from ledger.engine.decide import decide
from ledger.projections import PROJECTIONS, rebuild
from ledger.projections.bulk import fold_log
from ledger.projections.folding import DecisionFolder
from ledger.projections.reads import Snapshot, traced
from ledger.projections.registry import read_model
from ledger.projections.scan import log_head, record_events
from tests.projections.projkit import Harness, demo


def stored(h: Harness) -> dict[str, Any]:
    """Every row of every active read-model table (generation-free names), and the tracking."""
    out: dict[str, Any] = {}
    with h.db.read() as conn:
        for name in PROJECTIONS:
            generation = h.db.active_generation(conn, name)
            assert generation is not None
            t = h.db.tracking
            out[f"{name}/tracking"] = conn.execute(
                select(t.c.notification_id, t.c.events_applied).where(
                    t.c.projection == name, t.c.generation == generation
                )
            ).one()
            tables = h.db.tables(name, generation, read_model(name).define_tables)
            for key, table in tables.items():
                rows = [dict(r) for r in conn.execute(select(table)).mappings()]
                pk = [c.name for c in table.primary_key.columns]
                out[f"{name}/{key}"] = sorted(rows, key=lambda r: tuple(r[k] for k in pk))
    return out


def test_rebuild_equals_the_incremental_projectors_row_for_row(harness: Harness) -> None:
    # 20 CCGs (local measures, quality failures flagged and rescinded) and the
    # HCAI case story (cases attributed, reassigned, withdrawn) in a second scheme.
    harness.load([*demo(20), *demo_case_commands()])
    harness.project(batch_size=37)
    incremental = stored(harness)
    assert incremental["decisions/timeline"]

    results = rebuild(harness.ledger, harness.db)
    assert {r.generation for r in results} == {2}
    rebuilt = stored(harness)

    assert rebuilt.keys() == incremental.keys()
    for key in incremental:
        assert rebuilt[key] == incremental[key], key
    assert harness.check().clean

    # The group totals alone need no timeline: one decision per CCG.
    rebuild(harness.ledger, harness.db, ["summaries", "attainment"])
    totals_only = stored(harness)
    for key in incremental:
        assert totals_only[key] == incremental[key], key
    folded = fold_log(harness.ledger, log_head(harness.ledger), timeline=False)
    assert folded.decisions_computed == len(folded.latest)
    assert not folded.timeline


def test_the_engine_reads_the_same_through_traced_facts(sqlite_url: str) -> None:
    """Traced facts give the engine's own document; an event that leaves the entries it
    read alone leaves status and payable alone (what lets the rebuild skip the engine)."""
    h = Harness(sqlite_url)
    try:
        h.load(demo(3))
        folder = DecisionFolder(h.ledger)
        snapshots: dict[Any, tuple[Snapshot, tuple[str, int]]] = {}
        skipped = 0
        for position, recorded_us, event in record_events(h.ledger, 0, log_head(h.ledger)):
            record = folder.fold(h.ledger.mapper.to_domain_event(event), position, recorded_us)  # type: ignore[arg-type]
            facts = folder.facts(record, position)
            scheme = get_scheme(record.scheme)
            plain = decide(scheme, facts).document
            with_digest, reads = traced(facts)
            assert decide(scheme, with_digest).document == plain
            without, _ = traced(facts, digest=False)
            quick = decide(scheme, without).document
            assert {**quick, "inputs_digest": plain["inputs_digest"]} == plain
            outcome = (plain["status"], plain["payable_pence"])
            kept = snapshots.get(record.id)
            if kept is not None and kept[0].unchanged(record):
                skipped += 1
                assert outcome == kept[1]
            else:
                snapshots[record.id] = (Snapshot(record, reads), outcome)
        assert skipped > 0
        folded = fold_log(h.ledger, log_head(h.ledger))
        assert folded.decisions_computed < folded.events
    finally:
        h.close()
