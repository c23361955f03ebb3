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

Fields: image (path, list of paths, or an HF image struct), video, question, answer, caption,
messages (list of {role, content}), label, points ([[x, y], ...] or [{x, y}, ...]), count, id,
clip_start, clip_end, style. Configs are registered with :func:`register_custom_dataset`, and every
``*.yaml`` / ``*.json`` config in ``$MOLMO_DATA_DIR/custom/`` is registered on first use.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from molmo2_data.config_file import read_config_file
from molmo2_data.datasets.base import Dataset, _unknown
from molmo2_data.datasets.registry import register_dataset
from molmo2_data.errors import ConfigError, DatasetNotAvailableError, UnknownSplitError
from molmo2_data.example import (
    Caption,
    Count,
    Example,
    ImageRef,
    Message,
    Messages,
    Metadata,
    Pointing,
    VideoRef,
)
from molmo2_data.tables import group_rows

TASKS = ("qa", "caption", "messages", "pointing", "counting")
FIELDS = ("image", "video", "question", "answer", "caption", "messages", "label", "points", "count", "id",
          "clip_start", "clip_end", "style")
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
    base_dir: str | None = None  # where relative paths in the config are resolved (the config's folder)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ConfigError(_unknown(f"custom dataset {self.name!r}: unknown task", self.task, list(TASKS)))
        for f in self.columns:
            if f not in FIELDS:
                raise ConfigError(_unknown(f"custom dataset {self.name!r}: unknown field", f, list(FIELDS)))
        if not isinstance(self.point_scale, int | float) and self.point_scale not in ("pixels", "percent", "unit"):
            raise ConfigError(f"custom dataset {self.name!r}: point_scale must be pixels, percent, unit or a number")

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any], base_dir: str | os.PathLike | None = None) -> CustomDatasetConfig:
        unknown = set(m) - {f for f in cls.__dataclass_fields__}
        if unknown:
            raise ConfigError(f"custom dataset config: unknown keys {sorted(unknown)}")
        if "name" not in m or "source" not in m:
            raise ConfigError("custom dataset config needs 'name' and 'source'")
        kw = dict(m)
        kw.setdefault("base_dir", str(base_dir) if base_dir is not None else None)
        return cls(**kw)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> CustomDatasetConfig:
        path = Path(path)
        data = read_config_file(path)
        if not isinstance(data, Mapping):
            raise ConfigError(f"{path}: a custom dataset config must be a mapping")
        return cls.from_mapping(data, base_dir=path.parent)

    def resolve(self, p: str) -> Path:
        q = Path(p).expanduser()
        return q if q.is_absolute() or self.base_dir is None else Path(self.base_dir) / q

    def col(self, f: str) -> str:
        return self.columns.get(f, f)


def _read_records(path: Path) -> pa.Table:
    if path.suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    elif path.suffix == ".json":
        rows = json.loads(path.read_text())
        if isinstance(rows, Mapping):
            rows = rows.get("data", rows.get("annotations"))
        if not isinstance(rows, list):
            raise ConfigError(f"{path}: expected a JSON list of records (or {{'data': [...]}})")
    elif path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path, memory_map=True)
    else:
        raise ConfigError(f"{path}: unsupported annotation file (use .json, .jsonl or .parquet)")
    return pa.Table.from_pylist(rows) if rows else pa.table({})


def _load_source(cfg: CustomDatasetConfig, split: str) -> pa.Table:
    if isinstance(cfg.source, Mapping):
        if split not in cfg.source:
            raise UnknownSplitError(_unknown(f"{cfg.name}: unknown split", split, list(cfg.source)))
        return _read_records(cfg.resolve(cfg.source[split]))
    src = cfg.resolve(cfg.source)
    if src.is_file():
        if split != "train":
            raise UnknownSplitError(f"{cfg.name}: unknown split {split!r} (a single file is the 'train' split)")
        return _read_records(src)
    if src.is_dir():
        for ext in (".jsonl", ".json", ".parquet"):
            if (src / f"{split}{ext}").exists():
                return _read_records(src / f"{split}{ext}")
        if (src / "dataset_dict.json").exists() or (src / "dataset_info.json").exists():
            from datasets import load_from_disk

            ds = load_from_disk(str(src))
            if hasattr(ds, "keys"):
                if split not in ds:
                    raise UnknownSplitError(_unknown(f"{cfg.name}: unknown split", split, list(ds.keys())))
                ds = ds[split]
            return ds.data.table
        raise DatasetNotAvailableError(f"{cfg.name}: no {split}.jsonl/.json/.parquet in {src}")
    if str(cfg.source).count("/") == 1 and not str(cfg.source).startswith((".", "/", "~")):
        from datasets import load_dataset  # a Hub id (honours HF_ENDPOINT, HF_TOKEN, offline mode)

        return load_dataset(str(cfg.source), split=split).data.table
    raise DatasetNotAvailableError(f"{cfg.name}: source {src} does not exist")


class CustomDataset(Dataset):
    """A dataset built from a :class:`CustomDatasetConfig`; one example per row or per group."""

    def __init__(self, config: CustomDatasetConfig, split: str = "train"):
        self.config = config
        self.name = config.name
        self.split = split
        self.skipped: Counter[str] = Counter()
        table = _load_source(config, split)
        missing = [config.col(f) for f in REQUIRED[config.task] if config.col(f) not in table.column_names]
        if missing:
            raise ConfigError(f"{config.name}: source lacks column(s) {missing} needed by task {config.task!r} "
                              f"(has {table.column_names}); map them with `columns:`")
        self.table = table
        if config.group_by:
            if config.group_by not in table.column_names:
                raise ConfigError(f"{config.name}: group_by column {config.group_by!r} not in the source")
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
        if isinstance(vid, str):
            out.append(self._video_path(vid))
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
        refs = []
        for item in img if isinstance(img, list) else ([img] if img is not None else []):
            if isinstance(item, str):
                refs.append(ImageRef(path=str(self._image_path(item))))
            elif isinstance(item, Mapping) and item.get("bytes") is not None:  # HF Image struct
                refs.append(ImageRef(data=item["bytes"]))
            elif isinstance(item, Mapping) and item.get("path"):
                refs.append(ImageRef(path=str(self._image_path(item["path"]))))
            else:
                raise ConfigError(f"{self.name}: cannot read image value of type {type(item).__name__}")
        return tuple(refs)

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
        c, task = self.config, self.config.task
        style = row.get(c.col("style")) or c.style or DEFAULT_STYLE[task]
        if task == "qa":
            return Messages([Message("user", str(row[c.col("question")])),
                             Message("assistant", str(row[c.col("answer")]))], style=style)
        if task == "caption":
            return Caption(str(row[c.col("caption")]), style=style)
        if task == "messages":
            msgs = row[c.col("messages")]
            return Messages([Message(m["role"], m["content"]) for m in msgs], style=style)
        label = str(row[c.col("label")])
        if task == "counting" and row.get(c.col("points")) is None:
            return Count(label=label, count=int(row[c.col("count")]), question=row.get(c.col("question")), style=style)
        pts = row.get(c.col("points")) or []
        arr = np.array([[p["x"], p["y"]] if isinstance(p, Mapping) else p for p in pts], dtype=np.float64)
        count = row.get(c.col("count"))
        return Pointing(label=label, points=arr.reshape(-1, 2), scale=self._scale(images),
                        count=int(count) if count is not None else len(arr), question=row.get(c.col("question")),
                        mode="point_count" if task == "counting" else "point", style=style)

    def get(self, item: int, rng: np.random.RandomState) -> Example:
        rows = self.groups[item]
        first = self.rows_list[rows[0]]
        images = self._images(first)
        video = None
        vid = first.get(self.config.col("video"))
        if isinstance(vid, str):
            video = VideoRef(path=str(self._video_path(vid)), clip_start=first.get(self.config.col("clip_start")),
                             clip_end=first.get(self.config.col("clip_end")))
        anns = [self._annotation(self.rows_list[r], images) for r in rows]
        ids = {"id": first.get(self.config.col("id"))} if first.get(self.config.col("id")) is not None else {}
        return Example(annotations=anns, images=images, video=video,
                       metadata=Metadata(dataset=self.name, split=self.split, rows=tuple(int(r) for r in rows),
                                         source_ids=ids))


def register_custom_dataset(config: CustomDatasetConfig | Mapping[str, Any] | str | os.PathLike,
                            overwrite: bool = True) -> CustomDatasetConfig:
    """Register a custom dataset (a config object, a dict, or a YAML/JSON file) under its name, so
    ``get_dataset(name)`` and mixtures can use it."""
    if isinstance(config, str | os.PathLike) and not isinstance(config, Mapping):
        cfg = CustomDatasetConfig.from_file(config)
    elif isinstance(config, Mapping):
        cfg = CustomDatasetConfig.from_mapping(config)
    else:
        cfg = config

    def factory(split: str = "train", **kw: Any) -> CustomDataset:
        kw.pop("root", None)  # paths come from the config, not the data root
        if kw:
            raise TypeError(f"{cfg.name}: unexpected arguments {sorted(kw)}")
        return CustomDataset(cfg, split=split)

    register_dataset(cfg.name, overwrite=overwrite)(factory)
    return cfg


def register_configs_in(directory: str | os.PathLike) -> list[str]:
    """Register every ``*.yaml`` / ``*.yml`` / ``*.json`` custom dataset config in a folder. A broken
    config is reported with a warning and skipped: it must not take the built-in datasets down."""
    import warnings

    names = []
    d = Path(directory)
    if d.is_dir():
        for p in sorted(d.iterdir()):
            if p.suffix in (".yaml", ".yml", ".json"):
                try:
                    names.append(register_custom_dataset(p).name)
                except (ConfigError, ValueError, OSError) as e:
                    warnings.warn(f"skipping custom dataset config {p}: {e}", stacklevel=2)
    return names
