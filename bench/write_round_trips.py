"""The SQL statements, and so the round trips, of one append through the application (issue 12).

One ``QPLedger.execute`` of a ``measure_submitted`` command on a warm record
(opened and written to before, so it sits in this process's caches), on
SQLite (a scratch file) and PostgreSQL (a scratch database ``qp_bench_<pid>``).
Every statement SQLAlchemy sends is listed (``before_cursor_execute``), and
so are the ones it does not see:

* ``BEGIN``: psycopg2 sends it by itself before a transaction's first
  statement, as a round trip of its own (pysqlite does the same in-process);
* ``COMMIT`` / ``ROLLBACK`` (SQLAlchemy's ``commit``/``rollback`` events);
* a ``NOTIFY`` sent on a raw DBAPI cursor by eventsourcing-sqlalchemy.

The append measured is not the 50th of its stream, so no snapshot is written
(a snapshot is one more transaction every 50 events). Asserts nothing.

    python bench/write_round_trips.py [--url postgresql+psycopg2://...] [--appends 3]
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _common import measure_command as command
from _common import scratch_postgres, server_url
from sqlalchemy import event

from ledger.service.application import QPLedger


@contextmanager
def statements(ledger: QPLedger) -> Iterator[list[str]]:
    """Collect every statement (and implicit BEGIN, COMMIT, raw NOTIFY) sent meanwhile."""
    engine = ledger.store.datastore.engine
    assert engine is not None
    sent: list[str] = []
    open_tx: set[int] = set()

    def on_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if id(conn) not in open_tx and not getattr(conn, "_is_autocommit", False):
            # The driver opens the transaction itself, before this statement.
            open_tx.add(id(conn))
            sent.append("BEGIN (sent by the driver)")
        sent.append(" ".join(statement.split()))

    def on_end(name: str) -> Any:
        def record(conn: Any) -> None:
            if id(conn) in open_tx:
                open_tx.discard(id(conn))
                sent.append(name)

        return record

    on_commit, on_rollback = on_end("COMMIT"), on_end("ROLLBACK")
    store = ledger.store
    raw_notify = type(store)._notify_channel

    def notify(session: Any) -> None:
        if engine.dialect.name == "postgresql":
            sent.append(f"NOTIFY {store.channel_name} (raw DBAPI cursor)")
        raw_notify(store, session)

    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(engine, "commit", on_commit)
    event.listen(engine, "rollback", on_rollback)
    store._notify_channel = notify  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        del store._notify_channel
        event.remove(engine, "before_cursor_execute", on_execute)
        event.remove(engine, "commit", on_commit)
        event.remove(engine, "rollback", on_rollback)


def measure(url: str, label: str, appends: int) -> None:
    ledger = QPLedger(url)
    try:
        ledger.execute(command("06F", -2), actor="bench")  # opens the record
        ledger.execute(command("06F", -1), actor="bench")  # warm: cached, written to
        counts = []
        for i in range(appends):
            with statements(ledger) as sent:
                ledger.execute(command("06F", i), actor="bench")
            counts.append(len(sent))
            if i == 0:
                print(f"\n{label}: one append on a warm record, {len(sent)} round trips")
                for n, text in enumerate(sent, 1):
                    print(f"  {n:2}. {text[:150]}{' ...' if len(text) > 150 else ''}")
        print(f"{label}: round trips of {appends} successive appends: {counts}")
    finally:
        ledger.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--url", default=server_url(), help="any database on the server")
    parser.add_argument("--appends", type=int, default=3, help="appends to count")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        measure(f"sqlite:///{Path(tmp) / 'ledger.db'}", "SQLite", args.appends)
    with scratch_postgres(args.url) as url:
        measure(url, "PostgreSQL", args.appends)


if __name__ == "__main__":
    main()
