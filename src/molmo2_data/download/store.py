"""The media store on disk: final names are verified files, ``<key>.<host>-<pid>.part`` are bodies in
flight.

A file gets its final name only after verification (an atomic rename), so the store itself is the
record of success; ``.part`` files of processes that are gone (a ``kill -9``) are deleted on the next
run, those of live downloaders are kept. The host is in the name because the store may be shared by the
machines of a cluster: a process id means something only on its own host, so another host's part file
is deleted only once it is older than ``FOREIGN_PART_MAX_AGE`` (its writer is surely gone).
"""

from __future__ import annotations

import os
import re
import socket
import time
from pathlib import Path

from molmo2_data.processes import process_alive

PART_SUFFIX = ".part"
FOREIGN_PART_MAX_AGE = 6 * 3600.0  # seconds: a part file of another host older than this is stale
HOST = re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname()) or "host"


def part_name(key: str, pid: int | None = None) -> str:
    """The in-flight name of ``key`` for this process: ``<key>.<host>-<pid>.part``."""
    return f"{key}.{HOST}-{os.getpid() if pid is None else pid}{PART_SUFFIX}"


def _owner(name: str) -> tuple[str | None, int | None]:
    """(host, pid) of a part file's writer; (None, pid) for the older ``<key>.<pid>.part`` names."""
    tag = name[: -len(PART_SUFFIX)].rsplit(".", 1)[-1]
    host, _, pid = tag.rpartition("-")
    try:
        return (host or None), int(pid)
    except ValueError:
        return None, None


def clean_stale_parts(store: Path) -> int:
    """Delete ``.part`` files of processes that are gone (a killed run); keep live writers' files."""
    removed = 0
    try:
        entries = list(os.scandir(store))
    except FileNotFoundError:
        return 0
    for e in entries:
        if not e.name.endswith(PART_SUFFIX):
            continue
        host, pid = _owner(e.name)
        if host is not None and host != HOST:  # a writer on another machine sharing the store
            try:
                if time.time() - e.stat().st_mtime < FOREIGN_PART_MAX_AGE:
                    continue
            except FileNotFoundError:
                continue
        elif pid is not None and pid != os.getpid() and process_alive(pid):
            continue  # another live downloader
        try:
            os.unlink(e.path)
            removed += 1
        except FileNotFoundError:
            pass
    return removed



def present_keys(store: Path) -> set[str]:
    """Names of the verified files in ``store``."""
    try:
        with os.scandir(store) as it:
            return {e.name for e in it if not e.name.endswith(PART_SUFFIX)}
    except FileNotFoundError:
        return set()


def unlink_quiet(p: Path) -> None:
    try:
        os.unlink(p)
    except FileNotFoundError:
        pass
