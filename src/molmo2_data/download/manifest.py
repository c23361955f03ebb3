"""Per-dataset download manifests: one JSON line per finished URL, append-only.

Append-only JSON lines survive ``kill -9``: a record is either a complete line or a torn last line,
which is ignored. The image store itself is the truth for "verified" (a file only gets its final name
after verification); the manifest adds what the store cannot say: why a URL failed, and whether the
failure is permanent (not retried unless ``--retry-failed``) or transient (retried next run).

Sharded runs (``--shard i/N``) write ``<name>.<i>-of-<N>.jsonl``; readers merge every file of a
dataset, so manifests copied from several machines into one ``manifests/`` directory just work.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

OK = "ok"
FAILED = "failed"  # permanent: not retried unless --retry-failed
TRANSIENT = "transient"  # retried on the next run


@dataclass
class Record:
    url: str
    status: str
    reason: str = ""
    bytes: int = 0
    sha256: str = ""
    attempts: int = 0
    time: float = 0.0


def manifest_dir(root: Path) -> Path:
    return Path(root) / "manifests"


def manifest_path(root: Path, dataset: str, shard: tuple[int, int] | None = None) -> Path:
    suffix = f".{shard[0]}-of-{shard[1]}" if shard and shard[1] > 1 else ""
    return manifest_dir(root) / f"{dataset}{suffix}.jsonl"


def manifest_files(root: Path, dataset: str) -> list[Path]:
    """The dataset's own manifest and every shard manifest (merged on read)."""
    d = manifest_dir(root)
    if not d.is_dir():
        return []
    out = []
    for p in sorted(d.iterdir()):
        n = p.name
        if n == f"{dataset}.jsonl" or (n.startswith(f"{dataset}.") and n.endswith(".jsonl")
                                        and "-of-" in n[len(dataset) + 1:]):
            out.append(p)
    return out


def load_records(root: Path, dataset: str) -> dict[str, Record]:
    """Latest record per URL over all manifests of a dataset (later lines and files win)."""
    latest: dict[str, Record] = {}
    for path in manifest_files(root, dataset):
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    d = json.loads(line)
                    rec = Record(**{k: d[k] for k in Record.__dataclass_fields__ if k in d})
                except (ValueError, TypeError, KeyError):
                    continue  # torn line after a kill
                prev = latest.get(rec.url)
                if prev is None or rec.time >= prev.time:
                    latest[rec.url] = rec
    return latest


def failure_reasons(records: dict[str, Record]) -> Counter[str]:
    return Counter(f"{r.status}: {r.reason}" for r in records.values() if r.status != OK)


class ManifestWriter:
    """Appends records, flushed line by line so a kill loses at most the line being written."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f: IO[str] | None = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        self._pending = 0

    def write(self, rec: Record) -> None:
        if not rec.time:
            rec.time = time.time()
        assert self._f is not None
        self._f.write(json.dumps(asdict(rec), separators=(",", ":")) + "\n")
        self._pending += 1
        if self._pending >= 64 or rec.status != OK:
            self.flush()

    def flush(self) -> None:
        if self._f is not None:
            self._f.flush()
            self._pending = 0

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None

    def __enter__(self) -> ManifestWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def remove_manifests(root: Path, dataset: str) -> None:
    for p in manifest_files(root, dataset):
        os.unlink(p)
