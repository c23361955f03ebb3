"""What is on disk and what it looks like: availability of every dataset, and per dataset its schema,
decoded samples and summary statistics. The CLI (``molmo2-data inspect``) only prints these.

Bad input never stops an inspection: a row that raises a typed error (invalid annotations, a null media
reference), an annotation dropped as invalid, a media file that does not decode and a broken custom
config are each counted and listed with its reason, and the rest is still shown."""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from molmo2_data import paths
from molmo2_data.datasets import dataset_class, get_dataset, list_datasets
from molmo2_data.datasets.base import TableDataset
from molmo2_data.datasets.custom import broken_configs, load_custom_folder
from molmo2_data.errors import DatasetNotAvailableError, MediaError, Molmo2DataError
from molmo2_data.example import (
    VQA,
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
from molmo2_data.media.video import probe_video_ref


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
    examined: int = 0  # examples built to look for invalid rows (all, or an even sample of SCAN_LIMIT)
    invalid: int = 0  # of those, rows that raise a typed error (the loader skips and counts them)
    dropped: int = 0  # annotations left out of the examined examples as invalid
    problems: dict[str, int] = field(default_factory=dict)  # reason -> count, for invalid rows and drops


SCAN_LIMIT = 500  # examples ``inspect`` builds per dataset to count invalid rows (no media decoded)


@dataclass
class Scan:
    """What building examples found: invalid rows by reason, dropped annotations by reason, bad files."""

    examined: int = 0
    invalid: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    bad_files: list[dict[str, Any]] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)  # the first few error messages, verbatim

    def record(self, index: int, err: Exception) -> None:
        """Count one example that raised ``err``: a MediaError lists its file, anything else is an invalid row."""
        if isinstance(err, MediaError):
            self.bad_files.append({"index": index, "path": err.path, "error": type(err).__name__,
                                   "reason": str(err)})
        else:
            self.invalid[error_reason(err)] += 1
        if len(self.examples) < 5:
            self.examples.append(f"example {index}: {type(err).__name__}: {err}")


def error_reason(err: Exception) -> str:
    """A short, countable reason for an error: its type ("bug: <type>" for an untyped error of a
    hand-written dataset), with the annotation reason when it has one."""
    name = type(err).__name__ if isinstance(err, Molmo2DataError) else f"bug: {type(err).__name__}"
    reason = getattr(err, "reason", None)
    return f"{name}: {reason}" if reason else name


def scan(ds: Any, limit: int = SCAN_LIMIT) -> Scan:
    """Build (at most ``limit``, evenly spread) examples without decoding media; count what is invalid."""
    n = len(ds)
    idx = np.arange(n) if n <= limit else np.unique(np.linspace(0, n - 1, limit).round().astype(np.int64))
    out = Scan()
    for i in idx:
        out.examined += 1
        try:
            ex = ds.example(int(i), np.random.RandomState(int(i)))
        except Exception as e:  # noqa: BLE001  a diagnostic: a buggy reader is reported, not fatal
            out.record(int(i), e)
            continue
        out.dropped.update(ex.metadata.dropped)
    return out


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


def availability(name: str, root: str | os.PathLike | None = None, split: str | None = None,
                 scan_limit: int = SCAN_LIMIT) -> Availability:
    """Local rows, examples and skips of one dataset; ``scan_limit`` > 0 also builds up to that many
    examples to count invalid rows and dropped annotations."""
    load_custom_folder(root)
    split = split or default_split(name)
    out = Availability(name=name, split=split,
                       table_bytes=dir_bytes(paths.data_root(root) / "tables" / name))
    try:
        ds = get_dataset(name, split=split, root=root)
    except DatasetNotAvailableError as e:
        out.status = f"error: {e}" if out.table_bytes else "not downloaded"  # present but unreadable: say so
        return out
    except Exception as e:  # noqa: BLE001  one broken (e.g. hand-written) dataset must not stop the listing
        out.status = f"error: {e}" if isinstance(e, Molmo2DataError) else f"error (bug): {type(e).__name__}: {e}"
        return out
    try:
        out.examples = len(ds)
    except Exception as e:  # noqa: BLE001
        out.status = f"error (bug): {type(e).__name__}: {e}"
        return out
    if isinstance(ds, TableDataset):
        out.rows = ds.data.num_rows
    skipped = dict(getattr(ds, "skipped", {}) or {})
    out.skipped = skipped
    out.media_missing = sum(v for k, v in skipped.items() if "missing" in k)
    out.other_skips = sum(v for k, v in skipped.items() if "missing" not in k)
    if scan_limit:
        found = scan(ds, scan_limit)
        out.examined, out.invalid, out.dropped = found.examined, sum(found.invalid.values()), sum(found.dropped.values())
        out.problems = {**{f"invalid row: {k}": v for k, v in sorted(found.invalid.items())},
                        **{f"dropped annotation: {k}": v for k, v in sorted(found.dropped.items())},
                        **({"bad media file": len(found.bad_files)} if found.bad_files else {})}
    return out


def availability_all(root: str | os.PathLike | None = None, scan_limit: int = SCAN_LIMIT) -> list[Availability]:
    load_custom_folder(root)
    return [availability(n, root, scan_limit=scan_limit) for n in list_datasets()]


def broken_custom_configs(root: str | os.PathLike | None = None) -> list[dict[str, str]]:
    """Custom configs under the data root that could not be registered (file, name, problem)."""
    load_custom_folder(root)
    folder = str(paths.data_root(root) / "custom")
    return [b.__dict__ for b in broken_configs() if b.path.startswith(folder)]


def media_description(ex: Example) -> dict[str, Any]:
    if ex.video is not None:
        info = probe_video_ref(ex.video)
        return {"video": ex.video.path, "duration_s": round(info.duration, 2), "fps": round(info.fps, 2),
                "frames": info.num_frames, "size": f"{info.width}x{info.height}", "codec": info.codec,
                "clip": (ex.video.clip_start, ex.video.clip_end), "subtitles": len(ex.video.subtitles)}
    if ex.images:
        shapes = [tuple(im.load().shape) for im in ex.images]
        return {"images": len(ex.images), "shapes": shapes}
    return {"media": "none (text only)"}


MAX_EXTRA_TRIES = 50  # examples tried beyond n when some are bad, before giving up on n good samples


def sample_examples(name: str, split: str | None = None, n: int = 3, root: str | os.PathLike | None = None,
                    seed: int = 0, problems: Scan | None = None) -> list[dict[str, Any]]:
    """Up to ``n`` decoded samples. A sample whose row is invalid or whose media does not decode is
    recorded in ``problems`` (when given) and the next example is tried instead."""
    ds = get_dataset(name, split=split or default_split(name), root=root)
    out = []
    problems = problems if problems is not None else Scan()
    for i in range(min(len(ds), n + MAX_EXTRA_TRIES)):
        if len(out) >= n:
            break
        problems.examined += 1
        try:
            ex = ds.example(i, np.random.RandomState(seed + i))
            media = media_description(ex)
        except Exception as e:  # noqa: BLE001  reported with its reason; the next example is tried
            problems.record(i, e)
            continue
        problems.dropped.update(ex.metadata.dropped)
        out.append({"index": i, "media": media, "annotations": [annotation_summary(a) for a in ex.annotations],
                    "metadata": {"rows": list(ex.metadata.rows)[:8], **ex.metadata.source_ids},
                    **({"dropped": dict(ex.metadata.dropped)} if ex.metadata.dropped else {})})
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
    problems = Scan()
    for i in idx:
        problems.examined += 1
        try:
            ex = ds.example(int(i), np.random.RandomState(int(i)))
        except Exception as e:  # noqa: BLE001  counted by reason in the statistics
            problems.record(int(i), e)
            continue
        problems.dropped.update(ex.metadata.dropped)
        media[ex.media_kind] += 1
        values["annotations per example"].append(len(ex.annotations))
        if ex.images:
            values["images per example"].append(len(ex.images))
        if ex.video is not None:
            if ex.video.path not in durations:  # probe each video once (container header only)
                try:
                    durations[ex.video.path] = probe_video_ref(ex.video).duration
                except MediaError as e:
                    durations[ex.video.path] = float("nan")
                    problems.bad_files.append({"index": int(i), "path": e.path or ex.video.path,
                                               "error": type(e).__name__, "reason": str(e)})
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
            elif isinstance(a, VQA):
                values["answers per question"].append(1 if isinstance(a.answers, str) else len(a.answers))
    if durations:
        values["video duration (s)"] = [d for d in durations.values() if d == d]
    summary = {k: {"mean": float(np.mean(v)), "min": float(np.min(v)), "max": float(np.max(v)), "n": len(v)}
               for k, v in values.items() if v}
    return {"examples": n, "examined": len(idx), "media": dict(media), "annotation kinds": dict(kinds),
            "values": summary, "invalid examples": dict(problems.invalid),
            "dropped annotations": dict(problems.dropped), "bad files": problems.bad_files,
            "error examples": problems.examples}


def published_source(name: str) -> dict[str, Any] | None:
    """Where a built-in dataset comes from and which published revision its reader was checked against."""
    from molmo2_data.datasets.published import published_schema
    from molmo2_data.datasets.registry import canonical_name

    spec = published_schema(canonical_name(name))
    if spec is None:
        return None
    return {"hf_path": spec.hf_path, "revision": spec.revision, "columns": dict(spec.columns),
            "optional": dict(spec.optional), "notes": spec.notes}


def schema(name: str, split: str | None = None, root: str | os.PathLike | None = None) -> str:
    ds = get_dataset(name, split=split or default_split(name), root=root)
    if isinstance(ds, TableDataset):
        return ds.data.schema.to_string(show_schema_metadata=False)
    return f"{type(ds).__name__} (not table-backed)"
