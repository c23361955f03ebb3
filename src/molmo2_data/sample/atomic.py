"""Atomic, concurrency-safe file writes for the sample writers.

Why: ``molmo2-data sample`` runs may overlap (two shells, two test sessions, a loader reading while a
run rewrites), and sample files are hard-linked (``www/`` copy <-> local media store). So every file is
written to a temp name unique to the process *and* thread, next to its target, then renamed over it:
readers see the old file or the new one, never half of one, and a hard-linked file is replaced by a new
inode instead of being rewritten in place under whoever holds the old one.
"""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def temp_name(path: Path) -> Path:
    """A sibling of ``path`` no other process or thread uses; keeps the suffix (PyAV picks the container
    format from it)."""
    tag = f"{os.getpid()}-{threading.get_ident()}-{uuid.uuid4().hex[:8]}"
    return path.with_name(f".{path.stem}.tmp-{tag}{path.suffix}")


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path to write; on success it is renamed over ``path``, on error removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def link_or_copy(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Make ``dst`` a hard link of ``src`` (a copy across file systems), replacing ``dst`` by rename."""
    with atomic_path(dst) as tmp:
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
    return Path(dst)
