"""What every sample writer gets: where to put tables, media and ground truth, and its own rng."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from molmo2_data import paths
from molmo2_data.sample import atomic
from molmo2_data.tables import write_table

# URL columns of the sample tables point here; the files they name are written under ``<root>/www``
# (``www/<path>`` for ``SAMPLE_URL_BASE + <path>``) so a local HTTP server can serve them.
SAMPLE_URL_BASE = "http://molmo2-sample.invalid/"


@dataclass
class SampleContext:
    root: Path
    seed: int
    _truth: dict[str, dict[str, Any]] = field(default_factory=dict)
    _shared: dict[str, Any] = field(default_factory=dict)

    def rng(self, name: str) -> np.random.RandomState:
        """A generator private to one writer: the same for a seed whatever other writers ran."""
        digest = hashlib.sha256(f"{self.seed}:{name}".encode()).digest()
        return np.random.RandomState(int.from_bytes(digest[:4], "little"))

    def write_table(self, dataset: str, split: str, table: pa.Table, config: str = "default") -> Path:
        """Write a table atomically under a temp name unique to this process and thread."""
        path = paths.table_path(dataset, config, split, self.root)
        with atomic.atomic_path(path) as tmp:
            write_table(table, tmp)
        return path

    def add_url_file(self, rel_path: str, data: bytes) -> str:
        """Publish bytes at ``SAMPLE_URL_BASE + rel_path`` (under www/) and place them in the local
        image store as if downloaded (a hard link of the www/ file). Returns the URL.

        Both names are replaced by rename, never rewritten in place: the two are hard links of one inode
        from the previous run, which a running loader may be reading."""
        url = SAMPLE_URL_BASE + rel_path
        www = atomic.write_bytes(self.root / "www" / rel_path, data)
        atomic.link_or_copy(www, paths.url_image_path(url, self.root))
        return url

    def video_path(self, source: str, name: str) -> Path:
        p = paths.video_dir(source, self.root) / name
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def record_truth(self, dataset: str, key: str | int, value: Any) -> None:
        """Record what a writer drew, for tests that check annotations against pixels."""
        self._truth.setdefault(dataset, {})[str(key)] = value

    def shared(self, key: str, make):
        """Build an artefact once and share it between writers (e.g. the synthetic YouTube videos)."""
        if key not in self._shared:
            self._shared[key] = make(self)
        return self._shared[key]

    def flush_truth(self) -> None:
        for dataset, values in self._truth.items():
            atomic.write_text(paths.ground_truth_path(dataset, self.root),
                              json.dumps(values, indent=1, default=_json_default))


def _json_default(o: Any) -> Any:
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.integer | np.floating | np.bool_):
        return o.item()
    raise TypeError(type(o))


def load_truth(dataset: str, root: str | os.PathLike | None = None) -> dict[str, Any]:
    return json.loads(paths.ground_truth_path(dataset, root).read_text())
