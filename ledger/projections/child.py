"""The projector that ``qp-ledger serve`` keeps beside gunicorn: a process, never threads.

On SQLite, ``serve`` used to run the projector as threads in the gunicorn
master, which then forked its workers. SQLite's own documentation forbids
that: its unix VFS keeps per-process state about every open database file
(the POSIX locks it holds, the WAL index's lock slots), and a forked child
inherits a copy of that state without the locks themselves. A worker forked
while a projector thread held the WAL write lock believed that lock was
still taken by "another connection in this process", so every write it
tried waited out the busy timeout and failed with ``database is locked``;
a projector catching up after ``--demo`` made that almost certain.

So the projector runs as its own program (``python -m ledger.projections
project``), started with fork+exec: it shares the database file through
SQLite's ordinary cross-process locking, exactly like a second terminal
running ``qp-ledger project``. The master holds no SQLite connection when it
forks. The child stops when told to (SIGTERM, finishing or rolling back the
batch in hand), on the user's Ctrl-C (it is in the same process group), and
by itself if the server dies without telling it (``--stop-with-parent``).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys

from ledger.config import DATABASE_URL

log = logging.getLogger("ledger.projections")

#: How long ``stop`` waits for the batch in hand before killing the projector.
STOP_TIMEOUT = 10.0
#: Events per projector transaction beside a SQLite API (measured: about 20 ms each).
SQLITE_BATCH_SIZE = 50


class ProjectorProcess:
    """A ``project`` process following the log of one database, owned by this process."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [
            sys.executable,
            "-m",
            "ledger.projections",
            "project",
            "--stop-with-parent",
            str(os.getpid()),
        ]
        if self.database_url.startswith("sqlite"):
            # Short transactions: SQLite's one write lock is shared with the API's writes.
            argv += ["--batch-size", str(SQLITE_BATCH_SIZE)]
        # By environment, not argv: a password in the URL would show in `ps`.
        env = {**os.environ, DATABASE_URL: self.database_url}
        self.process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL)

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """Ask the projector to stop, wait for its batch, kill it if it will not go."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("projector %s did not stop in %.0fs; killing it", self.pid, timeout)
                self.process.kill()
                self.process.wait()
        return self.process.returncode
