"""Where data lives on disk.

One root (``MOLMO_DATA_DIR``, default ``~/.cache/molmo2-data``) holds everything, laid out so
that a table, its media and its derived indexes can be found from a dataset name alone::

    $MOLMO_DATA_DIR/
      tables/<dataset>/<config>/<split>.arrow   # published schema, Arrow IPC stream (memory-mapped)
      media/images/<sha256(url)>                # URL images, named like the official cache
      media/videos/<source>/<video id>.<ext>    # videos (mp4, mkv, webm, mov)
      media/videos/<source>/<video id>_2fps.mp4 # prepared copy at 2 fps (``molmo2-data prepare videos``)
      media/clocks/<example_id>.png             # rendered clock faces (pixmo-clocks has no images)
      custom/...                                # free space for user data
      index/<dataset>/<config>/<split>.npz      # cached grouping / filtering / availability index
      manifests/prepared-videos.jsonl           # one line per prepared video (source stamp, sha256)
      ground_truth/<dataset>.json               # only for generated sample data
      www/...                                   # only for sample data: files the URL columns name
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

DEFAULT_DATA_DIR = Path("~/.cache/molmo2-data")
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".mov")
_PREPARED_STEM = re.compile(r"^(?P<stem>.+)_(?P<fps>[0-9]+(?:\.[0-9]+)?)fps$")


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


# Prepared videos (``molmo2-data prepare videos``, docs/prepare.md): ``<id>_2fps.mp4`` beside ``<id>.<ext>``,
# the name the official loaders use for 2 fps re-encodes. The name alone tells a reader the grid its frames
# lie on, so it can tell whether the times it samples are ones the prepared file holds exactly.


def prepared_video_name(stem: str, fps: float) -> str:
    """File name of the prepared copy of video ``stem`` at ``fps`` (``abc``, 2 -> ``abc_2fps.mp4``)."""
    return f"{stem}_{fps:g}fps.mp4"


def split_prepared_stem(stem: str) -> tuple[str, float] | None:
    """(original stem, fps) of a prepared video's stem (``abc_2fps`` -> ("abc", 2.0)); None for others."""
    m = _PREPARED_STEM.match(stem)
    return (m.group("stem"), float(m.group("fps"))) if m and float(m.group("fps")) > 0 else None


def prepared_rate(path: str | os.PathLike[str]) -> float | None:
    """The frame rate a prepared video's name states (``.../abc_2fps.mp4`` -> 2.0), None for others."""
    parts = split_prepared_stem(os.path.splitext(os.path.basename(path))[0])
    return None if parts is None else parts[1]


def original_of_prepared(path: str | os.PathLike[str]) -> str | None:
    """The original video beside a prepared one (``abc_2fps.mp4`` -> ``abc.mp4``, ``.mkv``, ...), None
    when the name is not a prepared one or no original is there (e.g. an official 2 fps download)."""
    folder, name = os.path.split(os.fspath(path))
    parts = split_prepared_stem(os.path.splitext(name)[0])
    if parts is None:
        return None
    for ext in VIDEO_EXTENSIONS:
        for candidate in (parts[0] + ext, parts[0] + ext.upper()):
            full = os.path.join(folder, candidate)
            if os.path.isfile(full):
                return full
    return None


def prepared_manifest_path(root: str | os.PathLike[str] | None = None) -> Path:
    return data_root(root) / "manifests" / "prepared-videos.jsonl"
