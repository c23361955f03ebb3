"""The media store on disk: final names are verified files, ``<key>.<pid>.part`` are bodies in flight.

A file gets its final name only after verification (an atomic rename), so the store itself is the
record of success; ``.part`` files of processes that are gone (a ``kill -9``) are deleted on the next
run, those of live downloaders are kept.
"""

from __future__ import annotations

import os
from pathlib import Path

from molmo2_data.processes import process_alive

PART_SUFFIX = ".part"


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
        try:
            pid = int(e.name[: -len(PART_SUFFIX)].rsplit(".", 1)[1])
        except (IndexError, ValueError):
            pid = None
        if pid is not None and pid != os.getpid() and process_alive(pid):
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
