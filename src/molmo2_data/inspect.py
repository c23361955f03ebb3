"""What is on disk and what it looks like: availability of every dataset, and per dataset its schema,
decoded samples and summary statistics. The CLI (``molmo2-data inspect``) only prints these."""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from molmo2_data import paths
from molmo2_data.datasets import dataset_class, get_dataset, list_datasets
from molmo2_data.datasets.base import TableDataset
from molmo2_data.errors import DatasetNotAvailableError, Molmo2DataError
from molmo2_data.example import (
    Caption,
    Count,
    Example,
    Messages,
    MultipleChoice,
    Pointing,
    Track,
    VideoPointing,
    annotation_summary,
)
from molmo2_data.media.video import probe_video


@dataclass
class Availability:
    name: str
    split: str | None
    rows: int = 0  # rows of the local table(s) of that split
    examples: int = 0  # examples the reader yields (after grouping, filters and missing media)
    media_missing: int = 0
    other_skips: int = 0
    table_bytes: int = 0
    status: str = "ok"
    skipped: dict[str, int] = field(default_factory=dict)


def default_split(name: str) -> str:
    cls = dataset_class(name)
    splits = list(getattr(cls, "SPLITS", {"train": "train"}))
    return "train" if "train" in splits else splits[0]


def dir_bytes(path: os.PathLike | str) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.stat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


def availability(name: str, root: str | os.PathLike | None = None, split: str | None = None) -> Availability:
    split = split or default_split(name)
    out = Availability(name=name, split=split,
                       table_bytes=dir_bytes(paths.data_root(root) / "tables" / name))
    try:
        ds = get_dataset(name, split=split, root=root)
    except DatasetNotAvailableError:
        out.status = "not downloaded"
        return out
    except Molmo2DataError as e:
        out.status = f"error: {e}"
        return out
    out.examples = len(ds)
    if isinstance(ds, TableDataset):
        out.rows = ds.data.num_rows
        out.skipped = dict(ds.skipped)
        out.media_missing = sum(v for k, v in ds.skipped.items() if "missing" in k)
        out.other_skips = sum(v for k, v in ds.skipped.items() if "missing" not in k)
    return out


def availability_all(root: str | os.PathLike | None = None) -> list[Availability]:
    return [availability(n, root) for n in list_datasets()]


def media_description(ex: Example) -> dict[str, Any]:
    if ex.video is not None:
        info = probe_video(ex.video.path)
        return {"video": ex.video.path, "duration_s": round(info.duration, 2), "fps": round(info.fps, 2),
                "frames": info.num_frames, "size": f"{info.width}x{info.height}", "codec": info.codec,
                "clip": (ex.video.clip_start, ex.video.clip_end), "subtitles": len(ex.video.subtitles)}
    if ex.images:
        shapes = [tuple(im.load().shape) for im in ex.images]
        return {"images": len(ex.images), "shapes": shapes}
    return {"media": "none (text only)"}


def sample_examples(name: str, split: str | None = None, n: int = 3, root: str | os.PathLike | None = None,
                    seed: int = 0) -> list[dict[str, Any]]:
    ds = get_dataset(name, split=split or default_split(name), root=root)
    out = []
    for i in range(min(n, len(ds))):
        ex = ds.example(i, np.random.RandomState(seed + i))
        out.append({"index": i, "media": media_description(ex),
                    "annotations": [annotation_summary(a) for a in ex.annotations],
                    "metadata": {"rows": list(ex.metadata.rows)[:8], **ex.metadata.source_ids}})
    return out


def statistics(name: str, split: str | None = None, root: str | os.PathLike | None = None,
               max_examples: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Summary statistics over (a uniform sample of at most ``max_examples``) examples."""
    ds = get_dataset(name, split=split or default_split(name), root=root)
    n = len(ds)
    rng = np.random.RandomState(seed)
    idx = np.arange(n) if n <= max_examples else np.sort(rng.choice(n, max_examples, replace=False))
    values: dict[str, list[float]] = defaultdict(list)
    durations: dict[str, float] = {}
    kinds: Counter[str] = Counter()
    media: Counter[str] = Counter()
    for i in idx:
        ex = ds.example(int(i), np.random.RandomState(int(i)))
        media[ex.media_kind] += 1
        values["annotations per example"].append(len(ex.annotations))
        if ex.images:
            values["images per example"].append(len(ex.images))
        if ex.video is not None:
            if ex.video.path not in durations:  # probe each video once (container header only)
                try:
                    durations[ex.video.path] = probe_video(ex.video.path).duration
                except Molmo2DataError:
                    durations[ex.video.path] = float("nan")
            if ex.video.clip_end is not None:
                values["clip length (s)"].append(ex.video.clip_end - (ex.video.clip_start or 0.0))
        for a in ex.annotations:
            kinds[a.kind] += 1
            if isinstance(a, Caption):
                values["caption words"].append(len(a.text.split()))
            elif isinstance(a, Messages):
                values["turns per conversation"].append(len(a.messages))
                values["answer words"].append(sum(len(m.content.split()) for m in a.messages if m.role == "assistant"))
            elif isinstance(a, Pointing | VideoPointing):
                values["points per query"].append(len(a.points))
            elif isinstance(a, Track):
                values["tracked objects"].append(len(set(a.object_ids.tolist())))
                values["track frames"].append(len(a.timestamps))
            elif isinstance(a, Count):
                values["count"].append(a.count)
            elif isinstance(a, MultipleChoice):
                values["options per question"].append(len(a.options))
    if durations:
        values["video duration (s)"] = [d for d in durations.values() if d == d]
    summary = {k: {"mean": float(np.mean(v)), "min": float(np.min(v)), "max": float(np.max(v)), "n": len(v)}
               for k, v in values.items() if v}
    return {"examples": n, "examined": len(idx), "media": dict(media), "annotation kinds": dict(kinds),
            "values": summary}


def schema(name: str, split: str | None = None, root: str | os.PathLike | None = None) -> str:
    ds = get_dataset(name, split=split or default_split(name), root=root)
    if isinstance(ds, TableDataset):
        return ds.data.schema.to_string(show_schema_metadata=False)
    return f"{type(ds).__name__} (not table-backed)"
