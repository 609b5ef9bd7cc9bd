"""Every table the ledger owns, tampered with in SQL: verify names the row, nothing is served wrong.

On SQLite and PostgreSQL, one log is written through the application (two
CCGs' records, 00T's long enough for snapshots at versions 50 and 100, every
write with an Idempotency-Key), then copied once per tamper kind: an edit, a
deletion, an insertion and a reordering in each of the events, position
index, index codes, snapshots, snapshot codes, idempotency, key codes,
leaf-hash and Merkle-node tables (tokens excepted). For each copy:

* ``qp-ledger verify`` must fail and name the table's row (or the event's
  position);
* every decision read (current and at several positions, both CCGs) must
  be the one served before the tamper, or an error naming the row: never a
  different decision. The kinds allowed to differ, each caught by ``verify``,
  are listed in ``SERVED_DIFFERENTLY`` with the reason (an edited, inserted or
  reordered *event*: the events are the record and a replay does not re-hash
  them). None of them differs in this log today: the list says what a replay
  does not promise, not what it does.

For the idempotency rows and their key codes, a retry of two keyed writes
(and of a made-up key) must also get the first write's receipt or an error
naming the row: never another receipt, never a second write.

What cannot be detected is listed in ``NOT_DETECTABLE`` with the reason and
is asserted to stay undetected, so the list cannot silently go stale. The
tally of kinds tried and detected per backend is printed at the end
(``-s``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, Table, create_engine, select, text

from ledger.cli.main import main
from ledger.integrity.snapshot_mac import snapshot_mac
from ledger.service.application import QPLedger
from tests.conftest import POSTGRES_URL, SERVER_URL, require_postgres, reset_postgres
from tests.ledgerkit import SCHEME, population

LONG, SHORT = "00T", "06F"
#: Points the decisions are read at (None: now).
POINTS = (None, 3, 30, 52, 60, 101)
#: Every kind is detected since idempotency rows have key codes (ledger/integrity/key_codes.py).
NOT_DETECTABLE: dict[str, str] = {}
#: Groups after whose tampering keyed writes are retried (``_retries``).
RETRIED = ("idempotency", "codes", "since")
#: Kinds whose served decisions may differ (each is detected by ``verify``):
SERVED_DIFFERENTLY = {
    # the events themselves were changed: they are the record, the proofs catch it
    "events.edit": "the events are the record",
    "events.insert": "the events are the record",
    "events.reorder": "the events are the record",
}
RESULTS: dict[str, dict[str, dict[str, Any]]] = {}


class Tables:
    """The ledger's tables of one database, with an engine to change them."""

    def __init__(self, url: str) -> None:
        ledger = QPLedger(url)
        try:
            store = ledger.store
            self.events: Table = store.events_record_cls.__table__  # type: ignore[attr-defined]
            self.index, self.idempotency = store.index, store.idempotency
            self.leaves, self.nodes = store.integrity.leaves, store.integrity.nodes
            snapshots = ledger.snapshots
            self.snapshots: Table = snapshots.recorder.events_record_cls.__table__  # type: ignore[union-attr]
            self.macs: Table = snapshots.macs.table  # type: ignore[union-attr]
            self.codes, self.since = store.key_codes.table, store.key_codes.since_table
            self.index_codes = store.index_codes.table
            self.index_since = store.index_codes.since_table
        finally:
            ledger.close()
        self.engine: Engine = create_engine(url)

    def one(self, query: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(query).one()

    def run(self, *statements: Any) -> None:
        with self.engine.begin() as conn:
            for statement in statements:
                assert conn.execute(statement).rowcount != 0, statement


def _position(t: Tables, ccg: str, version: int) -> int:
    """The log position of a stream version (from the untouched index)."""
    from ledger.domain.record import stream_id

    idx = t.index.c
    return int(
        t.one(
            select(idx.position).where(
                idx.originator_id == str(stream_id(ccg, SCHEME)), idx.originator_version == version
            )
        )[0]
    )


def _swap(
    table: Table, column: str, where_a: Any, where_b: Any, a: Any, b: Any, temp: Any
) -> list[Any]:
    return [
        table.update().where(where_a).values({column: temp}),
        table.update().where(where_b).values({column: a}),
        table.update().where(table.c[column] == temp).values({column: b}),
    ]


def _events(t: Tables, kind: str) -> None:
    ev = t.events.c
    p, q = _position(t, LONG, 40), _position(t, LONG, 41)
    if kind == "edit":
        state = t.one(select(ev.state).where(ev.id == p))[0]
        t.run(
            t.events.update().where(ev.id == p).values(state=bytes(state).replace(b"1000", b"9000"))
        )
    elif kind == "delete":
        t.run(t.events.delete().where(ev.id == p))
    elif kind == "insert":
        row = t.one(select(t.events).where(ev.id == _position(t, SHORT, 4)))._mapping
        t.run(t.events.insert().values({**row, "id": 10_000, "originator_version": 5}))
    else:  # reorder: exchange two events' places in the log
        t.run(*_swap(t.events, "id", ev.id == p, ev.id == q, p, q, -1))


def _index(t: Tables, kind: str) -> None:
    idx = t.index.c
    p, q = _position(t, LONG, 40), _position(t, LONG, 41)
    last = _position(t, LONG, 105)
    row = idx.position == p
    if kind == "edit_stream":  # the row moved to another stream (issue 11's 00D case)
        t.run(
            t.index.update()
            .where(idx.position == last)
            .values(originator_id="00000000-0000-0000-0000-000000000000")
        )
    elif kind == "edit_version":
        t.run(t.index.update().where(row).values(originator_version=900))
    elif kind == "edit_time":  # the head's time: what a decision "now" is stamped with
        t.run(
            t.index.update().where(idx.position == last).values(recorded_us=idx.recorded_us + 1000)
        )
    elif kind == "edit_time_earlier":  # a time in the middle: an event reference quotes it
        t.run(t.index.update().where(row).values(recorded_us=idx.recorded_us - 1))
    elif kind == "delete":
        t.run(t.index.delete().where(idx.position == last))
    elif kind == "insert":
        t.run(
            t.index.insert().values(
                position=last + 50,
                originator_id=t.one(select(idx.originator_id).where(row))[0],
                originator_version=106,
                recorded_us=t.one(select(idx.recorded_us).where(idx.position == last))[0] + 10,
            )
        )
    else:  # reorder: two rows exchange their versions
        t.run(*_swap(t.index, "originator_version", row, idx.position == q, 40, 41, -7))


def _snapshot_key(t: Tables, version: int) -> Any:
    return t.snapshots.c.originator_version == version


def _snapshots(t: Tables, kind: str) -> None:
    sn = t.snapshots.c
    v100 = _snapshot_key(t, 100)
    if kind == "edit":  # the population in the version-100 snapshot
        state = bytes(t.one(select(sn.state).where(v100))[0])
        edited = re.sub(rb'"population":\{"population":\d+', b'"population":{"population":1', state)
        assert edited != state
        t.run(t.snapshots.update().where(v100).values(state=edited))
    elif kind == "delete":
        t.run(t.snapshots.delete().where(v100))
    elif kind == "insert":  # version 50's state, claimed for version 75
        row = t.one(select(t.snapshots).where(_snapshot_key(t, 50)))._mapping
        t.run(t.snapshots.insert().values({**row, "originator_version": 75}))
    else:  # reorder: the two snapshots exchange states
        a = t.one(select(sn.state).where(_snapshot_key(t, 50)))[0]
        b = t.one(select(sn.state).where(v100))[0]
        t.run(
            t.snapshots.update().where(_snapshot_key(t, 50)).values(state=b),
            t.snapshots.update().where(v100).values(state=a),
        )


def _macs(t: Tables, kind: str) -> None:
    mc = t.macs.c
    v50, v100 = mc.originator_version == 50, mc.originator_version == 100
    if kind == "edit":
        mac = bytes(t.one(select(mc.mac).where(v100))[0])
        t.run(t.macs.update().where(v100).values(mac=bytes([mac[0] ^ 1]) + mac[1:]))
    elif kind == "delete":
        t.run(t.macs.delete().where(v100))
    elif kind == "insert":
        row = t.one(select(t.macs).where(v50))._mapping
        t.run(t.macs.insert().values({**row, "originator_version": 75}))
    else:
        a, b = t.one(select(mc.mac).where(v50))[0], t.one(select(mc.mac).where(v100))[0]
        t.run(t.macs.update().where(v50).values(mac=b), t.macs.update().where(v100).values(mac=a))


def _idempotency(t: Tables, kind: str) -> None:
    ik = t.idempotency.c
    k1, k2 = ik.key == "00T-40", ik.key == "00T-41"
    if kind == "edit_version":
        t.run(t.idempotency.update().where(k1).values(version=ik.version + 1))
    elif kind == "edit_position":
        t.run(t.idempotency.update().where(k1).values(position=ik.position + 1))
    elif kind == "edit_time":
        t.run(t.idempotency.update().where(k1).values(recorded_us=ik.recorded_us - 1))
    elif kind == "edit_digest":
        t.run(t.idempotency.update().where(k1).values(request_digest="sha256:" + "0" * 64))
    elif kind == "delete":
        t.run(t.idempotency.delete().where(k1))
    elif kind == "insert":
        row = t.one(select(t.idempotency).where(k1))._mapping
        t.run(t.idempotency.insert().values({**row, "key": "made-up"}))
    else:
        a = t.one(select(ik.version, ik.position, ik.recorded_us).where(k1))
        b = t.one(select(ik.version, ik.position, ik.recorded_us).where(k2))
        t.run(
            t.idempotency.update().where(k1).values(version=b[0], position=b[1], recorded_us=b[2]),
            t.idempotency.update().where(k2).values(version=a[0], position=a[1], recorded_us=a[2]),
        )


def _codes(t: Tables, kind: str) -> None:
    kc, ik = t.codes.c, t.idempotency.c
    # the codes of the writes of keys 00T-40 and 00T-41 (the ones retried)
    p, q = (int(t.one(select(ik.position).where(ik.key == k))[0]) for k in ("00T-40", "00T-41"))
    if kind == "edit":
        mac = bytes(t.one(select(kc.mac).where(kc.position == p))[0])
        t.run(t.codes.update().where(kc.position == p).values(mac=bytes([mac[0] ^ 1]) + mac[1:]))
    elif kind == "delete":
        t.run(t.codes.delete().where(kc.position == p))
    elif kind == "insert":  # an unkeyed event's code, claimed for a position with no event
        mac = t.one(select(kc.mac).where(kc.position == _position(t, SHORT, 1)))[0]
        t.run(t.codes.insert().values(position=10_000, tag=None, mac=mac))
    else:  # the codes of two keyed writes exchanged
        a = t.one(select(kc.tag, kc.mac).where(kc.position == p))
        b = t.one(select(kc.tag, kc.mac).where(kc.position == q))
        t.run(
            t.codes.update().where(kc.position == p).values(tag=None, mac=b[1]),
            t.codes.update().where(kc.position == q).values(tag=a[0], mac=a[1]),
            t.codes.update().where(kc.position == p).values(tag=b[0]),
        )


def _since(t: Tables, kind: str) -> None:
    since = t.since.c.since
    if kind == "edit":  # a later epoch would pass the first writes off as written before codes
        t.run(t.since.update().values(since=since + 10))
    elif kind == "delete":
        t.run(t.since.delete())
    else:  # insert: a second epoch
        t.run(t.since.insert().values(since=_position(t, LONG, 50)))


def _index_codes(t: Tables, kind: str) -> None:
    ic = t.index_codes.c
    p, q = _position(t, LONG, 40), _position(t, LONG, 41)
    if kind == "edit":
        mac = bytes(t.one(select(ic.mac).where(ic.position == p))[0])
        t.run(t.index_codes.update().where(ic.position == p).values(mac=mac[::-1]))
    elif kind == "delete":
        t.run(t.index_codes.delete().where(ic.position == p))
    elif kind == "insert":  # a code claimed for a position with no index row
        mac = t.one(select(ic.mac).where(ic.position == p))[0]
        t.run(t.index_codes.insert().values(position=10_000, mac=mac))
    else:  # the codes of two rows exchanged
        a = t.one(select(ic.mac).where(ic.position == p))[0]
        b = t.one(select(ic.mac).where(ic.position == q))[0]
        t.run(
            t.index_codes.update().where(ic.position == p).values(mac=b),
            t.index_codes.update().where(ic.position == q).values(mac=a),
        )


def _index_since(t: Tables, kind: str) -> None:
    since = t.index_since.c.since
    if kind == "edit":  # a later epoch would pass the first rows off as written before codes
        t.run(t.index_since.update().values(since=since + 10))
    elif kind == "delete":
        t.run(t.index_since.delete())
    else:  # insert: a second epoch
        t.run(t.index_since.insert().values(since=_position(t, LONG, 50)))


def _leaves(t: Tables, kind: str) -> None:
    lv = t.leaves.c
    p, q = _position(t, LONG, 40), _position(t, LONG, 41)
    if kind == "edit":
        t.run(t.leaves.update().where(lv.position == p).values(leaf_hash=b"\x01" * 32))
    elif kind == "delete":
        t.run(t.leaves.delete().where(lv.position == p))
    elif kind == "insert":
        row = t.one(select(t.leaves).where(lv.position == p))._mapping
        t.run(t.leaves.insert().values({**row, "position": 10_000, "leaf_index": 10_000}))
    else:
        a, b = (
            t.one(select(lv.leaf_index).where(lv.position == p))[0],
            t.one(select(lv.leaf_index).where(lv.position == q))[0],
        )
        t.run(*_swap(t.leaves, "leaf_index", lv.position == p, lv.position == q, a, b, -5))


def _nodes(t: Tables, kind: str) -> None:
    nv = t.nodes.c
    n1 = (nv.level == 1) & (nv.idx == 20)
    n2 = (nv.level == 1) & (nv.idx == 21)
    if kind == "edit":
        t.run(t.nodes.update().where(n1).values(hash=b"\x02" * 32))
    elif kind == "delete":
        t.run(t.nodes.delete().where(n1))
    elif kind == "insert":
        t.run(t.nodes.insert().values(level=1, idx=5000, hash=b"\x03" * 32))
    else:
        a, b = t.one(select(nv.hash).where(n1))[0], t.one(select(nv.hash).where(n2))[0]
        t.run(t.nodes.update().where(n1).values(hash=b), t.nodes.update().where(n2).values(hash=a))


TAMPERS: dict[str, tuple[Callable[[Tables, str], None], str, tuple[str, ...]]] = {
    "events": (_events, "qpledger_events", ("edit", "delete", "insert", "reorder")),
    "index": (
        _index,
        "qpledger_event_index",
        (
            "edit_stream",
            "edit_version",
            "edit_time",
            "edit_time_earlier",
            "delete",
            "insert",
            "reorder",
        ),
    ),
    "index_codes": (_index_codes, "qpledger_index_codes", ("edit", "delete", "insert", "reorder")),
    "index_since": (_index_since, "qpledger_index_codes_since", ("edit", "delete", "insert")),
    "snapshots": (_snapshots, "qpledger_snapshots", ("edit", "delete", "insert", "reorder")),
    "macs": (_macs, "qpledger_snapshot_macs", ("edit", "delete", "insert", "reorder")),
    "idempotency": (
        _idempotency,
        "qpledger_idempotency",
        (
            "edit_version",
            "edit_position",
            "edit_time",
            "edit_digest",
            "delete",
            "insert",
            "reorder",
        ),
    ),
    "codes": (_codes, "qpledger_key_codes", ("edit", "delete", "insert", "reorder")),
    "since": (_since, "qpledger_key_codes_since", ("edit", "delete", "insert")),
    "leaves": (_leaves, "qpledger_event_hashes", ("edit", "delete", "insert", "reorder")),
    "nodes": (_nodes, "qpledger_merkle_nodes", ("edit", "delete", "insert", "reorder")),
}
#: A snapshot and its code are one pair: a problem with either names the pair's row.
RELATED = {
    "qpledger_snapshots": ("qpledger_snapshot_macs",),
    "qpledger_snapshot_macs": ("qpledger_snapshots",),
    # An idempotency row and the key code of its write, likewise.
    "qpledger_idempotency": ("qpledger_key_codes",),
    "qpledger_key_codes": ("qpledger_idempotency", "qpledger_key_codes_since"),
    "qpledger_key_codes_since": ("qpledger_key_codes",),
    # An index row and its index code, likewise.
    "qpledger_index_codes": ("qpledger_event_index", "qpledger_index_codes_since"),
    "qpledger_index_codes_since": ("qpledger_index_codes",),
}
KINDS = [f"{group}.{kind}" for group, (_, _, kinds) in TAMPERS.items() for kind in kinds]


def _decisions(url: str) -> dict[str, Any]:
    """Every decision read the suite compares: a document, or the error's text."""
    ledger = QPLedger(url)
    out: dict[str, Any] = {}
    try:
        for ccg in (LONG, SHORT):
            for point in POINTS:
                try:
                    out[f"{ccg}@{point}"] = ledger.decision(ccg, SCHEME, position=point).document
                except Exception as e:
                    out[f"{ccg}@{point}"] = f"ERROR {type(e).__name__}: {e}"
    finally:
        ledger.close()
    return out


#: The keyed writes retried (key, population value) and a key never used honestly.
RETRIES = (("00T-40", 100_040), ("00T-41", 100_041), ("made-up", 100_040))


def _retries(url: str) -> dict[str, Any]:
    """Each retry's receipt (position, replayed), or the error's text."""
    ledger = QPLedger(url)
    out: dict[str, Any] = {}
    try:
        for key, value in RETRIES:
            try:
                receipt = ledger.execute(
                    population(LONG, value), actor="board#t", idempotency_key=key
                )
                out[key] = (receipt.position, receipt.replayed)
            except Exception as e:
                out[key] = f"ERROR {type(e).__name__}: {e}"
    finally:
        ledger.close()
    return out


def _retry_outcome(base: Base, retried: dict[str, Any]) -> str:
    """ "same" (the first writes' receipts, a new write for the made-up key), "error naming
    the row", or "wrong" (another receipt, or a second write under a key)."""
    outcome = "same"
    for key, answer in retried.items():
        if isinstance(answer, str):
            if "row" not in answer or not answer.startswith("ERROR IdempotencyTampered"):
                return "wrong"
            outcome = "error naming the row"
        elif key == "made-up":
            if answer[1]:  # a replay of a write that key never made
                return "wrong"
        elif answer != (base.receipts[key], True):
            return "wrong"
    return outcome


class Base:
    """The written log, once per backend, and a fresh copy of it per tamper kind."""

    def __init__(self, url: str, directory: Path) -> None:
        self.url, self.directory, self.copies = url, directory, 0
        ledger = QPLedger(url)
        try:
            for n in range(1, 4):
                ledger.execute(
                    population(SHORT, 200_000 + n), actor="board#t", idempotency_key=f"06F-{n}"
                )
            self.receipts = {}
            for n in range(1, 105):
                receipt = ledger.execute(
                    population(LONG, 100_000 + n), actor="board#t", idempotency_key=f"00T-{n}"
                )
                self.receipts[f"00T-{n}"] = receipt.position
        finally:
            ledger.close()
        self.decisions = _decisions(url)

    def copy(self) -> str:
        self.copies += 1
        if self.url.startswith("sqlite"):
            source = Path(self.url.removeprefix("sqlite:///"))
            target = self.directory / f"copy-{self.copies}.db"
            shutil.copy(source, target)
            for suffix in ("-wal", "-shm"):
                if Path(f"{source}{suffix}").exists():
                    shutil.copy(f"{source}{suffix}", f"{target}{suffix}")
            return f"sqlite:///{target}"
        name = f"{POSTGRES_URL.rsplit('/', 1)[1]}_copy{self.copies}"
        engine = create_engine(SERVER_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
            conn.execute(text(f"CREATE DATABASE {name} TEMPLATE {POSTGRES_URL.rsplit('/', 1)[1]}"))
        engine.dispose()
        return POSTGRES_URL.rsplit("/", 1)[0] + "/" + name

    def drop(self, url: str) -> None:
        if url.startswith("postgresql"):
            engine = create_engine(SERVER_URL, isolation_level="AUTOCOMMIT")
            with engine.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)"))
            engine.dispose()


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("tamper-tables")
    saved = os.environ.get("QP_LEDGER_SNAPSHOT_KEY_FILE")
    os.environ["QP_LEDGER_SNAPSHOT_KEY_FILE"] = str(directory / "snapshot.key")
    yield directory
    if saved is None:
        os.environ.pop("QP_LEDGER_SNAPSHOT_KEY_FILE", None)
    else:
        os.environ["QP_LEDGER_SNAPSHOT_KEY_FILE"] = saved
    for backend, results in RESULTS.items():
        tried = len(results)
        detected = sum(1 for r in results.values() if r["detected"])
        wrong = sorted(k for k, r in results.items() if r["served"] == "different")
        print(
            f"\ntamper kinds on {backend}: {tried} tried, {detected} detected by verify; "
            f"served differently: {wrong}"
        )
        print(json.dumps(results, indent=1, sort_keys=True))


_bases: dict[str, Base] = {}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def base(request: pytest.FixtureRequest, key_dir: Path) -> Base:
    backend = request.param
    if backend not in _bases:
        if backend == "sqlite":
            url = f"sqlite:///{key_dir / 'base.db'}"
        else:
            require_postgres()
            reset_postgres()
            url = POSTGRES_URL
        _bases[backend] = Base(url, key_dir)
    return _bases[backend]


@pytest.mark.parametrize("kind", KINDS)
def test_tamper_is_named_by_verify_and_never_served(base: Base, kind: str) -> None:
    group, what = kind.split(".")
    tamper, table, _ = TAMPERS[group]
    tables_named = {table, *RELATED.get(table, ())}
    url = base.copy()
    try:
        tables = Tables(url)
        try:
            tamper(tables, what)
        finally:
            tables.engine.dispose()
        result = CliRunner().invoke(main, ["verify", "--json", "--database-url", url])
        document = json.loads(result.stdout)
        problems = document["problems"]
        named = [
            p
            for p in problems
            if p.get("table") in tables_named or (p["position"] is not None and "table" not in p)
        ]
        served = _decisions(url)
        retried = _retries(url) if group in RETRIED else {}
    finally:
        base.drop(url)
    outcome = "same"
    for point, before in base.decisions.items():
        after = served[point]
        if after == before:
            continue
        if (
            isinstance(after, str)
            and after.startswith("ERROR")
            and ("position" in after or "row" in after)
        ):
            outcome = "error naming the row" if outcome == "same" else outcome
            continue
        outcome = "different"
    backend = "postgresql" if url.startswith("postgresql") else "sqlite"
    RESULTS.setdefault(backend, {})[kind] = {
        "detected": bool(named) and result.exit_code == 1,
        "first": str(problems[0]) if problems else None,
        "served": outcome,
        **({"retried": _retry_outcome(base, retried)} if retried else {}),
    }
    if kind in NOT_DETECTABLE:
        assert result.exit_code == 0, f"{kind} is now detected: take it off NOT_DETECTABLE"
    else:
        assert result.exit_code == 1, result.stdout
        assert named, problems
    if kind not in SERVED_DIFFERENTLY:
        assert outcome != "different", served
    if retried:
        assert _retry_outcome(base, retried) != "wrong", retried


def test_reproduce_reads_the_events_not_a_snapshot(database_url: str, tmp_path: Path) -> None:
    """Even a snapshot forged *with* the key (so it is served) does not fool ``reproduce``.

    The decision issued from the forged snapshot embeds its population; the
    reproduction folds the events alone and answers "different".
    """
    os.environ["QP_LEDGER_SNAPSHOT_KEY_FILE"] = str(tmp_path / "snapshot.key")
    try:
        ledger = QPLedger(database_url)
        try:
            for n in range(1, 50):  # versions 1..50: the snapshot at 50 is the record now
                ledger.execute(population(LONG, 100_000 + n), actor="board#t")
            honest = ledger.decision(LONG, SCHEME).document
        finally:
            ledger.close()
        tables = Tables(database_url)
        sn, mc = tables.snapshots.c, tables.macs.c
        row = tables.one(select(tables.snapshots).where(sn.originator_version == 50))
        state = re.sub(
            rb'"population":\{"population":\d+', b'"population":{"population":7', bytes(row.state)
        )
        key = bytes.fromhex((tmp_path / "snapshot.key").read_text().strip())
        mac = snapshot_mac(key, row.originator_id, 50, row.topic, state)
        tables.run(
            tables.snapshots.update().where(sn.originator_version == 50).values(state=state),
            tables.macs.update().where(mc.originator_version == 50).values(mac=mac),
        )
        tables.engine.dispose()
        ledger = QPLedger(database_url)
        try:
            served = ledger.decision(LONG, SCHEME).document
            issued = ledger.determinations.issue(LONG, SCHEME, actor="board#t")
            again = ledger.determinations.reproduce(LONG, SCHEME, issued["issue_id"])
        finally:
            ledger.close()
        assert served != honest  # the forged state was served: the key was known
        assert again["result"] == "different", again
    finally:
        os.environ.pop("QP_LEDGER_SNAPSHOT_KEY_FILE", None)
