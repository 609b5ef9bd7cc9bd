"""Is a projector alive and keeping up? For container health checks.

The database alone cannot say: a dead projector leaves its tracking rows
exactly as a caught-up idle one does, and its lag only shows once new
events arrive. So a running ``qp-ledger project --heartbeat-file F``
rewrites F (its positions and the time) every half second while all its
projector threads are running, and ``qp-ledger projections status
--heartbeat-file F --max-age S --max-lag-seconds L`` -- the health check,
run beside it in the same container -- fails when F is older than S or any
read model is more than L seconds behind the log.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any


def beat(path: Path, positions: dict[str, int]) -> None:
    """Record that the projector is alive, atomically (a reader never sees half a file)."""
    body = json.dumps({"pid": os.getpid(), "at": time.time(), "positions": positions})
    partial = path.with_name(path.name + ".partial")
    partial.write_text(body)
    os.replace(partial, path)


def heartbeat_problem(path: Path, max_age: float, *, now: float | None = None) -> str | None:
    """Why the heartbeat says the projector is not alive, or None when it is."""
    try:
        beat_at = float(json.loads(path.read_text())["at"])
    except FileNotFoundError:
        return f"no heartbeat at {path}: the projector is not running (or has not started)"
    except (OSError, ValueError, KeyError, TypeError) as e:
        return f"unreadable heartbeat at {path}: {e}"
    age = (time.time() if now is None else now) - beat_at
    if age > max_age:
        return f"the projector's last heartbeat was {age:.0f}s ago (allowed: {max_age:.0f}s)"
    return None


def lag_problem(lag: dict[str, Any], max_lag_seconds: float) -> str | None:
    """Which read model is too far behind the log, or None."""
    behind = {
        name: p["lag_seconds"]
        for name, p in lag["projections"].items()
        if p["lag_seconds"] > max_lag_seconds
    }
    if not behind:
        return None
    worst = max(behind, key=behind.__getitem__)
    return f"{worst} is {behind[worst]:.0f}s behind the log (allowed: {max_lag_seconds:.0f}s)" + (
        f"; also {', '.join(sorted(set(behind) - {worst}))}" if len(behind) > 1 else ""
    )
