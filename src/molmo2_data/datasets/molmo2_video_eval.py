"""Readers of the Molmo2 video benchmarks (allenai/Molmo2-VideoCountEval, -VideoPointEval, -CapEval),
in their published schemas. Shared machinery (video lookup, grouping, skip counting) is
:class:`~molmo2_data.datasets.molmo2_video.VideoTableDataset`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from molmo2_data.datasets.base import AnnotationSet
from molmo2_data.datasets.media_store import VideoFinder
from molmo2_data.datasets.molmo2_video import (
    VideoTableDataset,
    _bool,
    _coord,
    _finite_or_none,
    _floats,
    _rel,
    ego4d_clip_name,
)
from molmo2_data.datasets.registry import register_dataset
from molmo2_data.example import Caption, Count, Example, VideoPointing, VideoRef
from molmo2_data.tables import is_list, is_number, is_string

# ---------------------------------------------------------------------------------------------
# Molmo2-VideoCountEval
# ---------------------------------------------------------------------------------------------

@register_dataset("molmo2-videocounteval", aliases=("molmo2-video-count-eval",))
class Molmo2VideoCountEval(VideoTableDataset):
    """Video counting benchmark (allenai/Molmo2-VideoCountEval, published split ``val``, ours
    ``validation``): one example per row, a :class:`Count` of ``label`` in the clip
    [clip_start, clip_end] (the whole video when both are null; to the end when only the start is set),
    asked with the row's ``question`` (style ``video_count``); ``category`` goes to the metadata.
    Videos: ``media/videos/<video_source>/<video_id>.*``. Skipped and counted: null ids, a missing or
    negative count, an empty clip, a ``video_source`` that is not a plain folder name, a missing video.
    """

    NAME = "molmo2-videocounteval"
    HF_PATH = "allenai/Molmo2-VideoCountEval"
    SPLITS = {"validation": "val"}
    COLUMNS = {"video_id": is_string, "video_source": is_string, "clip_start": is_number, "clip_end": is_number,
               "count": is_number, "label": is_string, "category": is_string, "question": is_string,
               "video_duration": is_number}

    def build_index(self, table: pa.Table) -> dict[str, np.ndarray]:
        keep = self.rows_with_ids(table)
        count = _floats(table.column("count"))
        keep = self.drop(keep, ~(np.isfinite(count) & (count >= 0)), "missing or negative count")
        cs, ce = _floats(table.column("clip_start")), _floats(table.column("clip_end"))
        keep = self.drop(keep, np.isfinite(cs) & np.isfinite(ce) & ~(ce > cs), "empty clip")
        video, keep = self.resolve_by_source(table, keep)
        index = self.grouped_index(np.arange(table.num_rows, dtype=np.int64), keep, video)
        first = index["order"][index["offsets"][:-1]]
        index["clip_start"], index["clip_end"] = cs[first], ce[first]
        return index

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:
        (r,) = self.row_dicts(rows, ["video_id", "video_source", "count", "label", "category", "question"])
        cs, ce = float(self.index["clip_start"][group]), float(self.index["clip_end"][group])
        video = VideoRef(self.video_file(group), clip_start=cs if np.isfinite(cs) else None,
                         clip_end=ce if np.isfinite(ce) else None, source=r["video_id"])
        anns = AnnotationSet()
        anns.add(Count, label=r["label"], count=r["count"], question=r["question"], style="video_count")
        meta = self.metadata(rows, video_id=r["video_id"], video_source=r["video_source"])
        meta.extra["category"] = r["category"]
        return anns.example(meta, video=video)


# ---------------------------------------------------------------------------------------------
# Molmo2-VideoPointEval
# ---------------------------------------------------------------------------------------------


def _rows_with_null_points(points: pa.Array, times: pa.Array) -> np.ndarray:
    """Per row: does any point (or its x / y) or timestamp hold a null?"""
    bad = np.zeros(len(points), dtype=bool)
    for column, fields in ((points, ("x", "y")), (times, ())):
        flat = pc.list_flatten(column)
        if not len(flat):
            continue
        null = _bool(pc.is_null(flat))
        for f in fields:
            null |= _bool(pc.is_null(pc.struct_field(flat, f)))
        parents = np.asarray(pc.list_parent_indices(column).to_numpy(zero_copy_only=False))
        bad[parents[null]] = True
    return bad


def _video_masks(masks: Any) -> list[list[dict[str, Any]]]:
    """The ``masks`` cell (per point: a list of {frame_id, rle}; a JSON string is accepted) as plain
    lists, with each frame's time (frame_id / 2: the masks are on the 2 fps grid)."""
    if isinstance(masks, str):
        import json

        masks = json.loads(masks)
    out = []
    for per_point in masks or []:
        frames = []
        for f in per_point or []:
            if f is None or f.get("rle") is None or f.get("frame_id") is None:
                continue
            frames.append({"time": float(f["frame_id"]) / 2.0, "rle": dict(f["rle"])})
        out.append(frames)
    return out


@register_dataset("molmo2-videopointeval", aliases=("molmo2-video-point-eval",))
class Molmo2VideoPointEval(VideoTableDataset):
    """Video pointing benchmark (allenai/Molmo2-VideoPointEval, published split ``val``, ours
    ``validation``): one example per row, a :class:`VideoPointing` of ``label`` with one pixel point per
    annotated timestamp (scale = the row's ``width``/``height``), and every object's masks (COCO RLE,
    compressed or not, per 2 fps frame) in ``metadata.extra["video_masks"]`` (kept encoded; the scorer
    decodes the frames it needs). Skipped and counted: null ids, points and timestamps of different
    lengths, masks not one list per point, a missing size, an unusable ``video_source``, a missing video.
    """

    NAME = "molmo2-videopointeval"
    HF_PATH = "allenai/Molmo2-VideoPointEval"
    SPLITS = {"validation": "val"}
    COLUMNS = {"video_id": is_string, "video_source": is_string, "width": is_number, "height": is_number,
               "video_duration": is_number, "two_fps_timestamps": is_list, "points": is_list, "masks": None,
               "label": is_string}

    def build_index(self, table: pa.Table) -> dict[str, np.ndarray]:
        keep = self.rows_with_ids(table)
        n_t = pc.fill_null(pc.list_value_length(table.column("two_fps_timestamps")), -1)
        n_p = pc.fill_null(pc.list_value_length(table.column("points")), -2)
        keep = self.drop(keep, ~_bool(pc.equal(n_t, n_p)), "points and timestamps differ in length")
        keep = self.drop(keep, _rows_with_null_points(table.column("points").combine_chunks(),
                                                      table.column("two_fps_timestamps").combine_chunks()),
                         "a null point or timestamp")
        if pa.types.is_list(table.schema.field("masks").type) or pa.types.is_large_list(table.schema.field("masks").type):
            n_m = pc.fill_null(pc.list_value_length(table.column("masks")), -3)
            keep = self.drop(keep, ~_bool(pc.equal(n_m, n_p)), "masks are not one list per point")
        size_ok = (_floats(table.column("width")) > 0) & (_floats(table.column("height")) > 0)
        keep = self.drop(keep, ~size_ok, "missing video size")
        video, keep = self.resolve_by_source(table, keep)
        return self.grouped_index(np.arange(table.num_rows, dtype=np.int64), keep, video)

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:
        (r,) = self.row_dicts(rows, ["video_id", "video_source", "width", "height", "two_fps_timestamps",
                                     "points", "masks", "label", "video_duration"])
        order = np.argsort(np.asarray(r["two_fps_timestamps"], dtype=np.float64), kind="stable")
        times = np.asarray(r["two_fps_timestamps"], dtype=np.float64)[order]
        pts = np.asarray([(_coord(r["points"][k], "x"), _coord(r["points"][k], "y")) for k in order],
                         dtype=np.float64).reshape(-1, 2)
        timestamps, frame_index = np.unique(times, return_inverse=True)
        masks = _video_masks(r["masks"])
        anns = AnnotationSet()
        anns.add(VideoPointing, label=r["label"], timestamps=timestamps, points=pts,
                 frame_index=frame_index.astype(np.int64), scale=(float(r["width"]), float(r["height"])),
                 count=len(pts), question=None, mode="point", style="video_point",
                 duration=_finite_or_none(r.get("video_duration")))
        meta = self.metadata(rows, video_id=r["video_id"], video_source=r["video_source"])
        meta.extra["video_masks"] = [masks[k] for k in order] if len(masks) == len(pts) else masks
        return anns.example(meta, video=VideoRef(self.video_file(group), source=r["video_id"]))


# ---------------------------------------------------------------------------------------------
# Molmo2-CapEval
# ---------------------------------------------------------------------------------------------


@register_dataset("molmo2-capeval", aliases=("molmo2-cap-eval",))
class Molmo2CapEval(VideoTableDataset):
    """Video captioning benchmark (allenai/Molmo2-CapEval, split ``test``): one example per row, the
    ``aggregated_caption`` as a :class:`Caption` (style ``video_long_caption``), and the row's
    ``atomic_statements`` / ``statement_categories`` in the metadata, which the scorer uses (statement
    recall). Videos by ``source``: ``media/videos/vimeo/vimeo_<id>.*`` (the repo's vimeo_videos.zip;
    ``<id>.*`` accepted), ``media/videos/bdd100k/<id>.*``, and ``media/videos/ego4d/`` clips named by
    :func:`ego4d_clip_name` (already cut: used whole). Vimeo and BDD100K videos are cut to
    [video_start, video_end] when given **[unconfirmed: the released files may be pre-cut]**.
    Skipped and counted: null ids, no statements, an unknown source, a missing video."""

    NAME = "molmo2-capeval"
    HF_PATH = "allenai/Molmo2-CapEval"
    SPLITS = {"test": "test"}
    SOURCES: ClassVar[tuple[str, ...]] = ("vimeo", "bdd100k", "ego4d")
    COLUMNS = {"video_id": is_string, "source": is_string, "video_start": is_number, "video_end": is_number,
               "duration": is_number, "atomic_statements": is_list, "statement_categories": is_list,
               "aggregated_caption": is_string}

    def build_index(self, table: pa.Table) -> dict[str, np.ndarray]:
        keep = self.rows_with_ids(table)
        n_s = pc.fill_null(pc.list_value_length(table.column("atomic_statements")), 0)
        keep = self.drop(keep, ~_bool(pc.greater(n_s, 0)), "no atomic statements")
        source = np.asarray(pc.fill_null(table.column("source"), "").to_numpy(zero_copy_only=False), dtype=object)
        keep = self.drop(keep, ~np.isin(source, self.SOURCES), "unknown source")
        start, end = _floats(table.column("video_start")), _floats(table.column("video_end"))
        video = np.full(table.num_rows, "", dtype=object)
        top = self.videos_root()
        finders = {name: VideoFinder([name], self.root) for name in self.SOURCES if (source == name).any()}
        for r, (name, keys) in enumerate(self.file_stems(table)):
            if name in finders and keys:
                found = next((p for p in map(finders[name].find, keys) if p), None)
                video[r] = _rel(found, top)
        index = self.grouped_index(np.arange(table.num_rows, dtype=np.int64), keep, video)
        first = index["order"][index["offsets"][:-1]]
        cut = source[first] != "ego4d"
        index["clip_start"] = np.where(cut, start[first], np.nan)
        index["clip_end"] = np.where(cut, end[first], np.nan)
        return index

    @classmethod
    def file_stems(cls, table: pa.Table) -> list[tuple[str, list[str]]]:
        """Per row: (source folder, the file stems its video may have, preferred first)."""
        ids = table.column("video_id").to_pylist()
        sources = table.column("source").to_pylist()
        start, end = _floats(table.column("video_start")), _floats(table.column("video_end"))
        out: list[tuple[str, list[str]]] = []
        for vid, src, s, e in zip(ids, sources, start, end, strict=True):
            if vid is None or src is None:
                out.append((src or "", []))
            elif src == "ego4d" and np.isfinite(s) and np.isfinite(e):
                out.append((src, [ego4d_clip_name(vid, float(s), float(e))]))
            elif src == "vimeo":
                out.append((src, [vid if vid.startswith("vimeo_") else f"vimeo_{vid}", vid]))
            else:
                out.append((src, [vid]))
        return out

    @classmethod
    def video_needs(cls, table: pa.Table) -> list[tuple[str, str]]:
        """(source folder, file stem) of every video the table needs (the download report's check)."""
        return sorted({(src, keys[0]) for src, keys in cls.file_stems(table) if src in cls.SOURCES and keys})

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:
        (r,) = self.row_dicts(rows, ["video_id", "source", "atomic_statements", "statement_categories",
                                     "aggregated_caption"])
        cs, ce = float(self.index["clip_start"][group]), float(self.index["clip_end"][group])
        video = VideoRef(self.video_file(group), clip_start=cs if np.isfinite(cs) else None,
                         clip_end=ce if np.isfinite(ce) else None, source=r["video_id"])
        meta = self.metadata(rows, video_id=r["video_id"], source=r["source"])
        statements, cats = r["atomic_statements"], r["statement_categories"] or []
        paired = len(cats) == len(statements)
        kept = [k for k, x in enumerate(statements) if x is not None]
        meta.extra["atomic_statements"] = [str(statements[k]) for k in kept]
        if paired:  # categories only when there is one per statement
            meta.extra["statement_categories"] = [str(cats[k]) for k in kept]
        anns = AnnotationSet()
        anns.add(Caption, text=r["aggregated_caption"], style="video_long_caption")
        return anns.example(meta, video=video)
