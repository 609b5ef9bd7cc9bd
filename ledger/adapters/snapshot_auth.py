"""Snapshot authentication: an HMAC over each snapshot, with a key that is not in the database.

A snapshot is a shortcut past a record's events, and the events are what the
proofs cover; a snapshot edited in the database (a target of 2800 made 1)
would otherwise be served, issued and "reproduced" as if it were the record.
So each snapshot is written with an HMAC-SHA256 over its stream, version,
topic and stored state, in ``<app>_snapshot_macs`` (same transaction), keyed
by a secret kept in a file beside the checkpoint signing key. A snapshot
whose code is missing or wrong is never used: the record is rebuilt from
its events and the row is named in the log. Whoever can edit the database
but not read that file cannot forge a snapshot.

The key file: ``QP_LEDGER_SNAPSHOT_KEY_FILE``, else the signing key's file
name with ``-snapshot.key`` for ``-signing.key`` (``qp-ledger-snapshot.key``
beside ``qp-ledger-signing.key``). Created (mode 0600) at the first snapshot
written; reading never creates it (no key: no snapshot is trusted).
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from sqlalchemy import Engine, MetaData, Table, delete, inspect, select
from sqlalchemy.exc import SQLAlchemyError

from ledger.integrity.signing import key_file as signing_key_file
from ledger.integrity.snapshot_mac import macs_table, snapshot_mac

SNAPSHOT_KEY_FILE = "QP_LEDGER_SNAPSHOT_KEY_FILE"

log = logging.getLogger(__name__)


def snapshot_key_file(database_url: str | None, environ: Mapping[str, str] | None = None) -> Path:
    """Where the snapshot key lives: configured, else beside the signing key."""
    env = os.environ if environ is None else environ
    value = env.get(SNAPSHOT_KEY_FILE, "").strip()
    if value:
        return Path(value)
    signing = signing_key_file(database_url, env)
    name = signing.name
    if name.endswith("-signing.key"):
        return signing.with_name(name.removesuffix("-signing.key") + "-snapshot.key")
    return signing.with_name(f"{signing.stem}-snapshot.key")


def stored_snapshot_mac(key: bytes, snapshot: StoredEvent) -> bytes:
    return snapshot_mac(
        key, snapshot.originator_id, snapshot.originator_version, snapshot.topic, snapshot.state
    )


class SnapshotKey:
    """The key, read from its file once it exists; created only when a snapshot is written."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._key: bytes | None = None if path is not None else secrets.token_bytes(32)

    def get(self, create: bool = False) -> bytes | None:
        if self._key is not None or self.path is None:
            return self._key
        try:
            self._key = bytes.fromhex(self.path.read_text().strip())
        except FileNotFoundError:
            if create:
                self._key = self._create(self.path)
        except (OSError, ValueError) as e:
            log.error(
                "snapshot key file %s cannot be used (%s): no snapshot is trusted", self.path, e
            )
        return self._key

    @staticmethod
    def _create(path: Path) -> bytes | None:
        """A new key, written atomically (another process may be creating it too)."""
        key = secrets.token_bytes(32)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(key.hex() + "\n")
            try:
                os.link(temporary, path)
            except FileExistsError:
                return bytes.fromhex(path.read_text().strip())
            finally:
                temporary.unlink(missing_ok=True)
        except (OSError, ValueError) as e:
            log.error("cannot create snapshot key file %s (%s): snapshots are not written", path, e)
            return None
        log.info("created snapshot authentication key %s (mode 0600)", path.resolve())
        return key


class MacStore:
    """The codes of one snapshot store: a table beside the snapshots, or a dict in memory."""

    def __init__(self, recorder: Any, key: SnapshotKey) -> None:
        self.recorder, self.key = recorder, key
        datastore = getattr(recorder, "datastore", None)
        self.table: Table | None = None
        self.memory: dict[tuple[str, int], bytes] = {}
        if datastore is not None and hasattr(recorder, "events_table_name"):
            self.table = macs_table(recorder.events_table_name)
            if not inspect(datastore.engine).has_table(self.table.name):
                self._create(datastore.engine, recorder.events_table_name)

    def _create(self, engine: Engine, snapshots: str) -> None:
        """Create the codes table; retire snapshots written before there was one.

        A database from before snapshots were authenticated holds snapshots
        with no code, which would never be used (and each read would say so)
        and which ``verify`` would name. They are only a cache, so they are
        deleted in the transaction that creates the table: records rebuild
        from their events, and the next 50th version writes an authenticated
        one. If another process creates the table first, this one's
        transaction fails and deletes nothing (snapshots written since have
        codes).
        """
        assert self.table is not None
        try:
            with engine.begin() as conn:
                self.table.create(conn)
                retired = 0
                if inspect(conn).has_table(snapshots):
                    retired = conn.execute(delete(Table(snapshots, MetaData()))).rowcount
        except SQLAlchemyError:  # another process created it between check and create
            if not inspect(engine).has_table(self.table.name):
                raise
            return
        if retired:
            log.warning(
                "deleted %d snapshot(s) written before snapshots were authenticated "
                "(a cache: records rebuild from their events; new snapshots carry codes)",
                retired,
            )

    def insert(self, stored: Sequence[StoredEvent], key: bytes) -> None:
        """Store snapshots with their codes, in one transaction where the store has them."""
        codes = {
            (str(UUID(str(s.originator_id))), int(s.originator_version)): stored_snapshot_mac(
                key, s
            )
            for s in stored
        }
        if self.table is None:
            self.recorder.insert_events(list(stored))
            self.memory.update(codes)
            return
        rows = [
            {"originator_id": oid, "originator_version": version, "mac": mac}
            for (oid, version), mac in codes.items()
        ]
        with self.recorder.transaction(commit=True) as session:
            self.recorder._insert_stored_events(session, stored)
            session.execute(self.table.insert(), rows)

    def stored_mac(self, snapshot: StoredEvent) -> bytes | None:
        stream, version = str(UUID(str(snapshot.originator_id))), int(snapshot.originator_version)
        if self.table is None:
            return self.memory.get((stream, version))
        c = self.table.c
        with self.recorder.datastore.engine.connect() as conn:
            value = conn.execute(
                select(c.mac).where(c.originator_id == stream, c.originator_version == version)
            ).scalar()
        return bytes(value) if isinstance(value, bytes | bytearray | memoryview) else None

    def authentic(self, snapshot: StoredEvent) -> str | None:
        """None if the snapshot may be used; otherwise why not."""
        key = self.key.get()
        if key is None:
            return "there is no snapshot key to check it with"
        stored = self.stored_mac(snapshot)
        if stored is None:
            return "it has no authentication code"
        if not hmac.compare_digest(stored, stored_snapshot_mac(key, snapshot)):
            return "its authentication code does not match (edited in the database?)"
        return None
