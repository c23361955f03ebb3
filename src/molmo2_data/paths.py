"""Where data lives on disk.

One root (``MOLMO_DATA_DIR``, default ``~/.cache/molmo2-data``) holds everything, laid out so
that a table, its media and its derived indexes can be found from a dataset name alone::

    $MOLMO_DATA_DIR/
      tables/<dataset>/<config>/<split>.arrow   # published schema, Arrow IPC stream (memory-mapped)
      media/images/<sha256(url)>                # URL images, named like the official cache
      media/videos/<source>/<video id>.<ext>    # videos (mp4, mkv, webm, mov)
      media/clocks/<example_id>.png             # rendered clock faces (pixmo-clocks has no images)
      custom/...                                # free space for user data
      index/<dataset>/<config>/<split>.npz      # cached grouping / filtering / availability index
      ground_truth/<dataset>.json               # only for generated sample data
      www/...                                   # only for sample data: files the URL columns name
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

DEFAULT_DATA_DIR = Path("~/.cache/molmo2-data")
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".mov")


def data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The data root: an explicit argument, else ``$MOLMO_DATA_DIR``, else ``~/.cache/molmo2-data``."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("MOLMO_DATA_DIR")
    return Path(env).expanduser() if env else DEFAULT_DATA_DIR.expanduser()


def table_path(dataset: str, config: str, split: str, root: str | os.PathLike[str] | None = None) -> Path:
    return data_root(root) / "tables" / dataset / config / f"{split}.arrow"


def index_path(dataset: str, config: str, split: str, root: str | os.PathLike[str] | None = None) -> Path:
    return data_root(root) / "index" / dataset / config / f"{split}.npz"


def url_key(url: str) -> str:
    """The official cache key of a URL: sha256 of its UTF-8 bytes."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


def image_dir(root: str | os.PathLike[str] | None = None) -> Path:
    return data_root(root) / "media" / "images"


def url_image_path(url: str, root: str | os.PathLike[str] | None = None) -> Path:
    return image_dir(root) / url_key(url)


def video_dir(source: str, root: str | os.PathLike[str] | None = None) -> Path:
    return data_root(root) / "media" / "videos" / source


def files_dir(root: str | os.PathLike[str] | None = None) -> Path:
    """Media files named by a relative path in their table (the official ``DATA_HOME`` layout: COCO,
    TextVQA, Mantis images, ...)."""
    return data_root(root) / "media" / "files"


def manual_dir(dataset: str, root: str | os.PathLike[str] | None = None) -> Path:
    """Where files fetched by hand for ``dataset`` are put (annotation JSON, a builder's output)."""
    return data_root(root) / "manual" / dataset


def clock_dir(root: str | os.PathLike[str] | None = None) -> Path:
    return data_root(root) / "media" / "clocks"


def ground_truth_path(dataset: str, root: str | os.PathLike[str] | None = None) -> Path:
    return data_root(root) / "ground_truth" / f"{dataset}.json"
