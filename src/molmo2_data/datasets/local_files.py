"""Readers whose tables name image files by a relative path (the official ``DATA_HOME`` layout).

The Ai2 mirrors of the academic sets (``allenai/molmo2-vqa2-2014``, ...) store ``image`` as a path
relative to the official data home (COCO, TextVQA, Visual Genome, Mantis images unpacked there), and the
hand-fetched sets (InfographicVQA, ST-VQA) name files inside their download folder. Which files exist is
decided once per index build from one directory listing per directory; rows whose files are missing
are counted under "image file missing" and left out, as URL images are.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa

from molmo2_data import paths
from molmo2_data.datasets.base import TableDataset
from molmo2_data.datasets.media_store import all_present, list_names, unique_with_inverse
from molmo2_data.example import ImageRef


def present_paths(rel_paths: pa.Array | pa.ChunkedArray, base: Path) -> np.ndarray:
    """Per value: does ``base / value`` exist as a file? (Null or empty paths: no.) One listing per
    distinct directory."""
    distinct, inverse = unique_with_inverse(rel_paths)
    by_dir: dict[str, list[int]] = defaultdict(list)
    for i, v in enumerate(distinct):
        if v:
            by_dir[os.path.dirname(v)].append(i)
    ok = np.zeros(len(distinct), dtype=bool)
    for d, idx in by_dir.items():
        names = list_names(base / d)
        for i in idx:
            ok[i] = os.path.basename(distinct[i]) in names
    return ok[inverse] if len(distinct) else np.zeros(len(inverse), dtype=bool)


def rows_with_files(column: pa.ChunkedArray | pa.Array, base: Path) -> np.ndarray:
    """Per row of a path (string) or path-list column: are all its files there (and is there one)?"""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if not (pa.types.is_list(column.type) or pa.types.is_large_list(column.type)):
        return present_paths(column, base)
    return all_present(column, lambda flat: present_paths(flat, base))


class LocalImageDataset(TableDataset):
    """A reader whose ``IMAGE_COLUMN`` holds relative paths (one string, or a list for multi-image rows)
    under :meth:`files_base`: ``media/files`` (the official data home) or, with ``FILES_IN_MANUAL``,
    the dataset's ``manual/<name>`` folder. ``FILES_HOWTO`` says what to fetch and where it goes."""

    MEDIA: ClassVar[str] = "local_image"
    IMAGE_COLUMN: ClassVar[str] = "image"
    FILES_IN_MANUAL: ClassVar[bool] = False
    FILES_HOWTO: ClassVar[str] = ""

    @classmethod
    def files_base_for(cls, root: str | os.PathLike | None) -> Path:
        return paths.manual_dir(cls.NAME, root) if cls.FILES_IN_MANUAL else paths.files_dir(root)

    def files_base(self) -> Path:
        return self.files_base_for(self.root)

    def media_fingerprint(self) -> object:
        base = self.files_base()
        try:  # the base and its first level of folders (one per source: coco, text_vqa, ...)
            return [os.stat(base).st_mtime_ns] + sorted(e.stat().st_mtime_ns for e in os.scandir(base) if e.is_dir())
        except OSError:
            return "absent"

    def files_filter(self, table: pa.Table) -> np.ndarray:
        from molmo2_data.datasets.pixmo import _drop

        return _drop(self.skipped, rows_with_files(table.column(self.IMAGE_COLUMN), self.files_base()),
                     "image file missing")

    def local_image(self, rel_path: str) -> ImageRef:
        return ImageRef(path=os.path.join(self.files_base(), rel_path))
