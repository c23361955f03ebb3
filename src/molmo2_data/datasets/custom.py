"""Custom datasets from a small config, without writing a class.

A config names a source (a JSON / JSONL file, a folder of ``<split>.jsonl`` files, a local Hugging Face
dataset folder or parquet file, or a Hub id), a task, and which source column holds which field::

    name: my-shapes
    source: annotations.jsonl          # or {train: train.jsonl, validation: val.jsonl}
    image_dir: images/                 # relative image paths are resolved here
    task: pointing                     # qa | caption | messages | pointing | counting
    columns: {image: file, label: object, points: xy}
    point_scale: pixels                # pixels | percent | unit | <number>
    group_by: file                     # optional: several rows of one image -> one message tree

Fields: image (path, list of up to 5 paths, or an HF image struct), video (a file path, or a list of frame
image paths resolved under ``video_dir``, timed by the ``fps`` (default 2) or ``frame_times`` fields),
question, answer, caption, messages (list of {role, content}), label, points ([[x, y], ...] or [{x, y},
...]), count, id, clip_start, clip_end, style. More than 5 images in one row is a SchemaError (the row is
skipped) naming the video form: the model's multi-image limit would otherwise cut them silently. Configs are registered with :func:`register_custom_dataset`, and every
``*.yaml`` / ``*.json`` config in ``$MOLMO_DATA_DIR/custom/`` is registered on first use (a broken one
is reported, see :func:`broken_configs`, and the others still load). A config may not take the name of
a built-in dataset unless it says ``override: true``.

Bad rows never reach the text: each annotation validates its values (AnnotationError, dropped and
counted in ``Metadata.dropped``); a row with none left raises EmptyExampleError (a counted skip).
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from molmo2_data.config_file import read_config_file
from molmo2_data.datasets import registry
from molmo2_data.datasets.base import AnnotationSet, Dataset, _unknown
from molmo2_data.datasets.custom_source import load_source
from molmo2_data.errors import (
    ConfigError,
    Molmo2DataError,
    SchemaError,
)
from molmo2_data.example import (
    MAX_IMAGES,
    Caption,
    Count,
    Example,
    ImageRef,
    Messages,
    Metadata,
    Pointing,
    VideoRef,
)
from molmo2_data.tables import group_rows

TASKS = ("qa", "caption", "messages", "pointing", "counting")
FIELDS = ("image", "video", "question", "answer", "caption", "messages", "label", "points", "count", "id",
          "clip_start", "clip_end", "style", "fps", "frame_times")
REQUIRED = {"qa": ("question", "answer"), "caption": ("caption",), "messages": ("messages",),
            "pointing": ("label", "points"), "counting": ("label", "count")}
DEFAULT_STYLE = {"qa": "user_qa", "caption": "long_caption", "messages": "user_qa", "pointing": "pointing",
                 "counting": "point_count"}


@dataclass
class CustomDatasetConfig:
    name: str
    source: str | dict[str, str]
    task: str = "qa"
    image_dir: str | None = None
    video_dir: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    point_scale: str | float = "pixels"
    group_by: str | None = None
    style: str | None = None
    override: bool = False  # True: this config may replace a built-in dataset of the same name
    base_dir: str | None = None  # where relative paths in the config are resolved (the config's folder)
    origin: str | None = None  # the config file, for error messages

    def __post_init__(self) -> None:
        where = f"custom dataset {self.name!r}" + (f" ({self.origin})" if self.origin else "")
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError(f"{where}: 'name' must be a non-empty string")
        if not isinstance(self.source, str | Mapping) or not self.source:
            raise ConfigError(f"{where}: 'source' must be a path, a Hub id or a {{split: file}} mapping")
        if not isinstance(self.task, str) or self.task not in TASKS:
            raise ConfigError(_unknown(f"{where}: unknown task", str(self.task), list(TASKS)))
        if not isinstance(self.columns, Mapping):
            raise ConfigError(f"{where}: 'columns' must be a mapping of field -> column")
        for f, col in self.columns.items():
            if f not in FIELDS:
                raise ConfigError(_unknown(f"{where}: unknown field", str(f), list(FIELDS)))
            if not isinstance(col, str) or not col:
                raise ConfigError(f"{where}: columns.{f} must be a column name, got {col!r}")
        s = self.point_scale
        if isinstance(s, bool) or not isinstance(s, int | float | str):
            raise ConfigError(f"{where}: point_scale must be pixels, percent, unit or a positive number, got {s!r}")
        if isinstance(s, str) and s not in ("pixels", "percent", "unit"):
            raise ConfigError(f"{where}: point_scale must be pixels, percent, unit or a positive number, got {s!r}")
        if isinstance(s, int | float) and not (math.isfinite(s) and s > 0):
            raise ConfigError(f"{where}: point_scale must be a positive, finite number, got {s!r}")
        if not isinstance(self.override, bool):
            raise ConfigError(f"{where}: override must be true or false, got {self.override!r}")
        for key in ("image_dir", "video_dir", "group_by", "style"):
            v = getattr(self, key)
            if v is not None and not isinstance(v, str):
                raise ConfigError(f"{where}: {key} must be a string, got {v!r}")

    @property
    def where(self) -> str:
        return f"custom dataset {self.name!r}" + (f" ({self.origin})" if self.origin else "")

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any], base_dir: str | os.PathLike | None = None) -> CustomDatasetConfig:
        origin = m.get("origin")
        at = f" ({origin})" if origin else ""
        unknown = set(m) - {f for f in cls.__dataclass_fields__}
        if unknown:
            raise ConfigError(f"custom dataset config{at}: unknown keys {sorted(map(str, unknown))}")
        if "name" not in m or "source" not in m:
            raise ConfigError(f"custom dataset config{at} needs 'name' and 'source'")
        kw = dict(m)
        kw.setdefault("base_dir", str(base_dir) if base_dir is not None else None)
        return cls(**kw)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> CustomDatasetConfig:
        path = Path(path)
        data = read_config_file(path)
        if not isinstance(data, Mapping):
            raise ConfigError(f"{path}: a custom dataset config must be a mapping, got {type(data).__name__}")
        return cls.from_mapping({**data, "origin": str(path)}, base_dir=path.parent)

    def resolve(self, p: str) -> Path:
        q = Path(p).expanduser()
        return q if q.is_absolute() or self.base_dir is None else Path(self.base_dir) / q

    def col(self, f: str) -> str:
        return self.columns.get(f, f)


class CustomDataset(Dataset):
    """A dataset built from a :class:`CustomDatasetConfig`; one example per row or per group."""

    def __init__(self, config: CustomDatasetConfig, split: str = "train"):
        self.config = config
        self.name = config.name
        self.split = split
        self.skipped: Counter[str] = Counter()
        table = load_source(config, split)
        missing = [config.col(f) for f in REQUIRED[config.task] if config.col(f) not in table.column_names]
        if missing:
            raise ConfigError(f"{config.name}: source lacks column(s) {missing} needed by task {config.task!r} "
                              f"(has {table.column_names}); map them with `columns:`")
        _check_media_columns(config, table.column_names)
        self.table = table
        if config.group_by:
            if config.group_by not in table.column_names:
                raise ConfigError(f"{config.where}: group_by column {config.group_by!r} not in the source "
                                  f"(has {', '.join(table.column_names)})")
            order, offsets, _ = group_rows(table.column(config.group_by).cast(pa.string()))
        else:
            order, offsets = np.arange(table.num_rows), np.arange(table.num_rows + 1)
        self.rows_list = self.table.to_pylist()
        keep = [g for g in range(len(offsets) - 1) if self._media_ok(self.rows_list[order[offsets[g]]])]
        self.groups = [order[offsets[g]:offsets[g + 1]] for g in keep]

    def _media_paths(self, row: Mapping[str, Any]) -> list[Path]:
        out = []
        img = row.get(self.config.col("image"))
        for item in img if isinstance(img, list) else ([img] if img is not None else []):
            if isinstance(item, str):
                out.append(self._image_path(item))
        vid = row.get(self.config.col("video"))
        for item in vid if isinstance(vid, list) else [vid]:
            if isinstance(item, str):
                out.append(self._video_path(item))
        return out

    def _media_ok(self, row: Mapping[str, Any]) -> bool:
        for p in self._media_paths(row):
            if not p.exists():
                self.skipped["media missing locally"] += 1
                return False
        return True

    def _media_path(self, p: str, folder: str | None) -> Path:
        """An absolute path as is; a relative one under ``folder`` (image_dir / video_dir) or the config's."""
        q = Path(p).expanduser()
        if q.is_absolute():
            return q
        return self.config.resolve(folder or ".") / q

    def _image_path(self, p: str) -> Path:
        return self._media_path(p, self.config.image_dir)

    def _video_path(self, p: str) -> Path:
        return self._media_path(p, self.config.video_dir)

    def __len__(self) -> int:
        return len(self.groups)

    def _images(self, row: Mapping[str, Any]) -> tuple[ImageRef, ...]:
        img = row.get(self.config.col("image"))
        items = img if isinstance(img, list) else ([img] if img is not None else [])
        if len(items) > MAX_IMAGES:
            raise SchemaError(f"{self.name}: a row has {len(items)} images in column {self.config.col('image')!r}, more "
                              f"than the {MAX_IMAGES} a multi-image example may hold (the rest would be dropped); "
                              "for video frames map the column to 'video' (columns: {video: ...}, with an 'fps' "
                              "or 'frame_times' field); the row is skipped")
        return tuple(self._image_ref(item, self._image_path, "image") for item in items)

    def _image_ref(self, item: Any, resolve: Any, fld: str) -> ImageRef:
        """A path (resolved with ``resolve``) or an HF image struct as an ImageRef."""
        if isinstance(item, str):
            return ImageRef(path=str(resolve(item)))
        if isinstance(item, Mapping) and item.get("bytes") is not None:  # HF Image struct
            return ImageRef(data=item["bytes"])
        if isinstance(item, Mapping) and item.get("path"):
            return ImageRef(path=str(resolve(item["path"])))
        raise SchemaError(f"{self.name}: cannot read {fld} value of type {type(item).__name__} "
                          f"(column {self.config.col(fld)!r}); the row is skipped")

    def _video(self, row: Mapping[str, Any]) -> VideoRef | None:
        """A video file (optionally clipped), or a list of frame images timed by ``fps`` / ``frame_times``."""
        c = self.config
        vid = row.get(c.col("video"))
        if isinstance(vid, str):
            return VideoRef(path=str(self._video_path(vid)), clip_start=row.get(c.col("clip_start")),
                            clip_end=row.get(c.col("clip_end")))
        if isinstance(vid, list):
            frames = [self._image_ref(f, self._video_path, "video") for f in vid]
            return VideoRef.from_frames(frames, row.get(c.col("frame_times")), row.get(c.col("fps")),
                                        name=f"{self.name}:frames")
        if vid is not None:
            raise SchemaError(f"{self.name}: a video must be a file path or a list of frame paths, got "
                              f"{type(vid).__name__} (column {c.col('video')!r}); the row is skipped")
        return None

    def _scale(self, images: tuple[ImageRef, ...]) -> tuple[float, float]:
        s = self.config.point_scale
        if isinstance(s, int | float):
            return (float(s), float(s))
        if s == "percent":
            return (100.0, 100.0)
        if s == "unit":
            return (1.0, 1.0)
        if not images:
            raise ConfigError(f"{self.name}: point_scale 'pixels' needs an image")
        w, h = images[0].size()
        return (float(w), float(h))

    def _annotation(self, row: Mapping[str, Any], images: tuple[ImageRef, ...]) -> Any:
        """The row's annotation; invalid values (None, NaN, negative counts, empty text, wrong types)
        raise AnnotationError from the annotation class itself."""
        c, task = self.config, self.config.task
        style = row.get(c.col("style")) or c.style or DEFAULT_STYLE[task]
        if task == "qa":
            return Messages.qa(_text(row.get(c.col("question"))), _text(row.get(c.col("answer"))), style)
        if task == "caption":
            return Caption(_text(row.get(c.col("caption"))), style=style)
        if task == "messages":
            return Messages.from_dicts(row.get(c.col("messages")), style=style)
        label = _text(row.get(c.col("label")))
        question = _optional_text(row.get(c.col("question")))
        if task == "counting" and row.get(c.col("points")) is None:
            return Count(label=label, count=row.get(c.col("count")), question=question, style=style)
        arr = _points_array(row.get(c.col("points")))
        count = row.get(c.col("count"))
        return Pointing(label=label, points=arr, scale=self._scale(images),
                        count=count if count is not None else len(arr), question=question,
                        mode="point_count" if task == "counting" else "point", style=style)

    def get(self, item: int, rng: np.random.RandomState) -> Example:
        rows = self.groups[item]
        first = self.rows_list[rows[0]]
        images = self._images(first)
        video = self._video(first)
        anns = AnnotationSet()
        for r in rows:
            anns.add(self._annotation, self.rows_list[r], images)
        ids = {"id": first.get(self.config.col("id"))} if first.get(self.config.col("id")) is not None else {}
        return anns.example(Metadata(dataset=self.name, split=self.split, rows=tuple(int(r) for r in rows),
                                     source_ids=ids), images=images, video=video)


def _text(v: Any) -> Any:
    """Numbers in a text field (an answer of 3) become their text; anything else is left to the
    annotation's own check (None, NaN and non-text values are rejected there, never printed)."""
    if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
        return str(v)
    return v


def _optional_text(v: Any) -> Any:
    """An optional text field: null or blank means absent (the template asks instead)."""
    if v is None or (isinstance(v, str) and not v.strip()):
        return None
    return _text(v)


def _points_array(pts: Any) -> Any:
    """[[x, y], ...] or [{x, y}, ...] -> (N, 2) float array; anything else is handed to Pointing as is
    (it rejects non-numbers with an AnnotationError)."""
    if pts is None:
        return np.zeros((0, 2))
    if isinstance(pts, list | tuple):
        out = []
        for p in pts:
            if isinstance(p, Mapping):
                out.append([p.get("x"), p.get("y")])
            else:
                out.append(p)
        try:
            return np.array(out, dtype=np.float64).reshape(-1, 2) if out else np.zeros((0, 2))
        except (TypeError, ValueError):
            return out
    return pts


def _check_media_columns(config: CustomDatasetConfig, columns: list[str]) -> None:
    """A media column that is mapped (or implied by image_dir / video_dir) but absent would silently
    turn every example text-only: a ConfigError naming the config and the column instead."""
    for fld, folder in (("image", "image_dir"), ("video", "video_dir")):
        col = config.col(fld)
        if col in columns:
            continue
        if fld in config.columns or getattr(config, folder):
            why = f"columns.{fld}" if fld in config.columns else f"{folder} is set, so field {fld!r}"
            raise ConfigError(f"{config.where}: {why} names column {col!r}, which the source does not have "
                              f"(columns: {', '.join(columns)})")


_CUSTOM_NAMES: set[str] = set()  # names registered by custom configs (they may replace each other)


def register_custom_dataset(config: CustomDatasetConfig | Mapping[str, Any] | str | os.PathLike,
                            overwrite: bool = True) -> CustomDatasetConfig:
    """Register a custom dataset (a config object, a dict, or a YAML/JSON file) under its name, so
    ``get_dataset(name)`` and mixtures can use it. A name of a built-in dataset is refused unless the
    config says ``override: true``; ``overwrite`` lets a custom config replace another custom one."""
    if isinstance(config, str | os.PathLike) and not isinstance(config, Mapping):
        cfg = CustomDatasetConfig.from_file(config)
    elif isinstance(config, Mapping):
        cfg = CustomDatasetConfig.from_mapping(config)
    else:
        cfg = config
    builtin = registry.is_registered(cfg.name) and cfg.name not in _CUSTOM_NAMES
    if builtin and not cfg.override:
        raise ConfigError(f"{cfg.where}: {cfg.name!r} is the name of a built-in dataset; rename the custom "
                          "dataset, or add `override: true` to the config to replace the built-in one")
    if not overwrite and cfg.name in _CUSTOM_NAMES:
        raise ConfigError(f"{cfg.where}: a custom dataset {cfg.name!r} is already registered")

    def factory(split: str = "train", **kw: Any) -> CustomDataset:
        kw.pop("root", None)  # paths come from the config, not the data root
        if kw:
            raise ConfigError(f"{cfg.name}: unexpected arguments {sorted(kw)}")
        return CustomDataset(cfg, split=split)

    registry.register_dataset(cfg.name, overwrite=True)(factory)
    registry.clear_broken(cfg.name)
    _CUSTOM_NAMES.add(cfg.name)
    return cfg


@dataclass(frozen=True)
class BrokenConfig:
    """A config under ``custom/`` that could not be registered: its file, the name it would have had
    (its ``name:``, else the file stem) and the problem (with the line for syntax errors)."""

    path: str
    name: str
    problem: str


_BROKEN_CONFIGS: dict[str, BrokenConfig] = {}  # by file path


def broken_configs() -> list[BrokenConfig]:
    """The broken custom configs found so far (``inspect`` reports them)."""
    registry._ensure_builtin()
    return sorted(_BROKEN_CONFIGS.values(), key=lambda b: b.path)


def _config_names(p: Path) -> list[str]:
    """The names a broken config may be asked for: the ``name:`` it declares (parsed, or read off a
    ``name:`` line when the file does not parse) and its file stem."""
    names = []
    try:
        data = read_config_file(p)
        if isinstance(data, Mapping) and isinstance(data.get("name"), str) and data["name"].strip():
            names.append(data["name"])
    except Molmo2DataError:
        try:
            m = re.search(r"""^\s*["']?name["']?\s*:\s*["']?([^"'\s,}#]+)""", p.read_text(errors="replace"), re.M)
            if m:
                names.append(m.group(1))
        except OSError:
            pass
    return list(dict.fromkeys(names + [p.stem]))


def register_configs_in(directory: str | os.PathLike) -> list[str]:
    """Register every ``*.yaml`` / ``*.yml`` / ``*.json`` custom dataset config in a folder. A broken
    config is reported with a warning (file, line, problem), remembered for ``inspect`` and for
    ``get_dataset(its name)``, and skipped: the other configs and the built-in datasets still load."""
    names = []
    d = Path(directory)
    try:
        files = sorted(d.iterdir()) if d.is_dir() else []
    except OSError as e:  # an unreadable folder: said once, the built-in datasets unaffected
        warnings.warn(f"cannot list custom dataset configs in {d}: {e}", stacklevel=2)
        files = []
    if files:
        for p in files:
            if p.suffix not in (".yaml", ".yml", ".json"):
                continue
            try:
                names.append(register_custom_dataset(p).name)
                _BROKEN_CONFIGS.pop(str(p), None)
            except (Molmo2DataError, ValueError, TypeError, OSError) as e:
                problem = str(e) if str(p) in str(e) else f"{p}: {e}"
                aliases = _config_names(p)
                _BROKEN_CONFIGS[str(p)] = BrokenConfig(str(p), aliases[0], problem)
                for name in aliases:
                    if not registry.is_registered(name):
                        registry.mark_broken(name, ConfigError(f"custom dataset {name!r} is not available: {problem}"))
                warnings.warn(f"skipping custom dataset config {p}: {e}", stacklevel=2)
    return names


_FOLDERS_LOADED: set[str] = set()


def load_custom_folder(root: str | os.PathLike | None = None) -> None:
    """Register the configs under ``<data root>/custom`` (default root: ``$MOLMO_DATA_DIR``), once per folder."""
    from molmo2_data.paths import data_root

    custom = data_root(root) / "custom"
    if str(custom) not in _FOLDERS_LOADED:
        _FOLDERS_LOADED.add(str(custom))
        register_configs_in(custom)


registry.add_lookup_hook(load_custom_folder)
