"""Resolve the media a table names (URLs, video ids, rendered files) to local files.

Availability is decided once per index build from directory listings (one ``scandir`` per
directory, not one ``stat`` per row), so building the index of a million-row table stays fast.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from molmo2_data import paths
from molmo2_data.paths import VIDEO_EXTENSIONS, url_key


def list_names(directory: str | os.PathLike) -> set[str]:
    """File names in a directory (empty set when it does not exist); temp files excluded."""
    try:
        with os.scandir(directory) as it:
            return {e.name for e in it if not e.name.endswith((".tmp", ".part")) and ".tmp" not in e.name}
    except FileNotFoundError:
        return set()


def unique_with_inverse(values: pa.Array | pa.ChunkedArray) -> tuple[list, np.ndarray]:
    """Distinct values (as Python objects) and, per row, the index of its value (None among the
    values when some are null)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    enc = pc.dictionary_encode(values)
    distinct = enc.dictionary.to_pylist()
    if enc.indices.null_count:  # null values: one more distinct value, None (callers treat it as absent)
        inverse = pc.fill_null(enc.indices, len(distinct)).to_numpy(zero_copy_only=False).astype(np.int64)
        return distinct + [None], inverse
    return distinct, enc.indices.to_numpy(zero_copy_only=False)


def url_images_present(urls: pa.Array | pa.ChunkedArray, root: str | os.PathLike | None = None) -> np.ndarray:
    """Per row: is the image of this URL in the local image store? Null URLs count as absent."""
    present = list_names(paths.image_dir(root))
    distinct, inverse = unique_with_inverse(urls)
    ok = np.array([u is not None and url_key(u) in present for u in distinct], dtype=bool)
    out = ok[inverse] if len(distinct) else np.zeros(len(inverse), dtype=bool)
    return out & ~np.asarray(pc.is_null(urls).to_numpy(zero_copy_only=False), dtype=bool)


def all_present(lists: pa.ChunkedArray | pa.Array, present: Callable[[pa.Array], np.ndarray]) -> np.ndarray:
    """Per row of a ``list<str>`` column: are ALL its items present (``present`` judges the flattened
    items) and is the list non-empty?"""
    if isinstance(lists, pa.ChunkedArray):
        lists = lists.combine_chunks()
    parent = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False)
    ok_flat = present(pc.list_flatten(lists))
    missing = np.bincount(parent[~ok_flat], minlength=len(lists))
    lengths = pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False)
    return (missing == 0) & (lengths > 0)


def url_lists_present(url_lists: pa.ChunkedArray | pa.Array, root: str | os.PathLike | None = None) -> np.ndarray:
    """Per row of a ``list<str>`` column: are ALL its images present (and is the list non-empty)?"""
    return all_present(url_lists, lambda flat: url_images_present(flat, root))


@lru_cache(maxsize=64)
def _image_dir(root: str | None) -> str:
    return str(paths.image_dir(root))


def url_image_file(url: str, root: str | os.PathLike | None = None) -> str:
    """Local file of a URL image (called per example: string joins, no Path objects)."""
    return os.path.join(_image_dir(None if root is None else os.fspath(root)), url_key(url))


class VideoFinder:
    """Find a video file by id under one or more source directories of ``media/videos``.

    A video ``abc`` matches ``abc.mp4``, ``abc.mkv``, ... and the 2 fps re-encodes ``abc_2fps.mp4``
    the official VideoPoint loader expects; ids may contain sub-directories ("mose/train/x").

    When a folder holds both, ``find`` returns the prepared copy (``abc_2fps.mp4`` before other
    ``abc_<r>fps.mp4``, then the original ``abc.<ext>``): it holds exactly the frames the loader samples
    at 2 fps, and the loader itself falls back to the original beside it for times off that grid
    (``vision.video.preprocess_video``). ``find_original`` returns the original only. Directories are
    searched in the order given; within one, names are taken in sorted order, so the choice does not
    depend on the file system's listing order.
    """

    def __init__(self, sources: Iterable[str], root: str | os.PathLike | None = None):
        self.dirs = [paths.video_dir(s, root) for s in sources]
        self._by_stem: dict[str, str] = {}
        self._originals: dict[str, str] = {}
        for d in self.dirs:
            by_name: dict[str, str] = {}  # every video file by its own stem (a prepared one too)
            prepared: dict[str, list[tuple[float, str]]] = {}
            for dirpath, _dirnames, filenames in os.walk(d):
                rel = Path(dirpath).relative_to(d)
                for fn in sorted(filenames):
                    stem, ext = os.path.splitext(fn)
                    if ext.lower() not in VIDEO_EXTENSIONS:
                        continue
                    key = str(rel / stem) if str(rel) != "." else stem
                    full = os.path.join(dirpath, fn)
                    by_name.setdefault(key, full)
                    parts = paths.split_prepared_stem(os.path.basename(key))
                    if parts is not None:
                        prepared.setdefault(key[: len(key) - len(stem)] + parts[0], []).append((parts[1], full))
            for key, path in by_name.items():
                self._by_stem.setdefault(key, path)
                if paths.split_prepared_stem(os.path.basename(key)) is None:
                    self._originals.setdefault(key, path)
            for key, variants in prepared.items():
                best = min(variants, key=lambda v: (v[0] != 2.0, -v[0], v[1]))[1]
                if key not in self._by_stem or self._by_stem[key] == by_name.get(key):
                    self._by_stem[key] = best

    def find(self, video_id: str | None) -> str | None:
        if not video_id:
            return None
        stem, ext = os.path.splitext(video_id)
        key = stem if ext.lower() in VIDEO_EXTENSIONS else video_id
        return self._by_stem.get(key)

    def find_original(self, video_id: str | None) -> str | None:
        """The original file of a video, never a prepared copy (None when only a prepared one exists)."""
        if not video_id:
            return None
        stem, ext = os.path.splitext(video_id)
        return self._originals.get(stem if ext.lower() in VIDEO_EXTENSIONS else video_id)

    def present(self, ids: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, list[str | None]]:
        """Per row presence, and the path of each distinct id (in dictionary order)."""
        distinct, inverse = unique_with_inverse(ids)
        found = [self.find(v) for v in distinct]
        ok = np.array([f is not None for f in found], dtype=bool)
        return (ok[inverse] if len(distinct) else np.zeros(len(inverse), dtype=bool)), found
