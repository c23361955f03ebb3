"""Process liveness, shared by the download workers (stale ``.part`` owners) and the loader's worker
watchdog (a parent that is gone)."""

from __future__ import annotations

import os


def process_alive(pid: int) -> bool:
    """True for a running process; False for a gone one and for a zombie (a killed process not yet
    reaped still answers ``kill(pid, 0)``)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return True
