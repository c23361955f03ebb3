"""Readers of Molmo2-VideoPoint (video pointing / counting) and Molmo2-VideoTrack (object tracks), in
their published schemas. A NaN timestamp or coordinate, a timestamp beyond the clip or video, or a
negative count makes that query invalid (dropped and counted in ``Metadata.dropped``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from molmo2_data.annotations import invalid
from molmo2_data.datasets.base import AnnotationSet, select_groups
from molmo2_data.datasets.media_store import VideoFinder, unique_with_inverse
from molmo2_data.datasets.molmo2_video import VideoTableDataset, _bool, _coord, _finite_or_none, _floats
from molmo2_data.datasets.registry import register_dataset
from molmo2_data.errors import ConfigError
from molmo2_data.example import Example, Track, VideoPointing, VideoRef
from molmo2_data.tables import is_bool, is_list, is_number, is_string

# ---------------------------------------------------------------------------------------------
# Molmo2-VideoPoint
# ---------------------------------------------------------------------------------------------

VIDEOPOINT_CONFIGS = ("action_or_event", "animal", "anomaly", "comparative reference", "indirect reference",
                      "object", "referring expression", "spatial reference")
VIDEOPOINT_SOURCES = ("youtube", "generated", "MammalNet")


@register_dataset("molmo2-videopoint")
class Molmo2VideoPoint(VideoTableDataset):
    """Video pointing/counting (allenai/Molmo2-VideoPoint; 8 configs, each a partition; all by default).

    Options: ``max_seconds`` (63): a video no longer than this is used whole; a longer one uses the
    row's ``clip_start``/``clip_end`` if that clip is no longer than ``max_seconds``, else the row is
    skipped. ``min_count``/``max_count``: keep rows whose ``count`` is in range. ``drop_unsure``
    (False, as the released loader; the card says training used only confident rows).
    ``styles``: each query's style is drawn from these with the example rng (official: point_count
    or point). A clip with several queries is one message tree, or with probability ``p_multi_turn``
    (0.2, drawn from the example rng after the styles) one multi-turn chat (``Example.layout="chat"``). Rows are grouped by (video, clip); timestamps are made clip-relative and floored to
    the 0.5 s grid; points (percent, scale 100) are sorted by (time, x, y).
    """

    NAME = "molmo2-videopoint"
    HF_PATH = "allenai/Molmo2-VideoPoint"
    CONFIGS = VIDEOPOINT_CONFIGS
    SPLITS = {"train": "train"}
    COLUMNS = {"video_id": is_string, "video_source": is_string, "label": is_string, "count": is_number,
               "two_fps_timestamps": is_list, "points": is_list, "clip_start": is_number, "clip_end": is_number,
               "video_duration": is_number, "annotator_unsure": is_bool}
    def __init__(self, split: str = "train", config: str | Sequence[str] | None = None, *,
                 max_seconds: float = 63.0, min_count: int | None = None, max_count: int | None = None,
                 drop_unsure: bool = False, styles: Sequence[str] = ("video_point_count", "video_point"),
                 oversample: bool = False, p_multi_turn: float = 0.2, **kw: Any):
        if not styles or any(not s.startswith("video_") for s in styles):
            raise ConfigError(f"molmo2-videopoint: styles must be non-empty video_* styles, got {styles!r}")
        self.styles = tuple(styles)
        if not 0.0 <= p_multi_turn <= 1.0:
            raise ConfigError(f"molmo2-videopoint: p_multi_turn must be in [0, 1], got {p_multi_turn!r}")
        super().__init__(split, config, max_seconds=float(max_seconds), min_count=min_count,
                         max_count=max_count, drop_unsure=bool(drop_unsure), oversample=bool(oversample),
                         p_multi_turn=float(p_multi_turn), **kw)

    def effective_clips(self, table: pa.Table, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per row (clip_start, clip_end) in seconds (NaN = whole video) and the updated keep mask."""
        max_s = self.options["max_seconds"]
        dur = _floats(table.column("video_duration"))
        cs, ce = _floats(table.column("clip_start")), _floats(table.column("clip_end"))
        whole = ~(dur > max_s)  # NaN duration: assume the video is short enough
        has_clip = np.isfinite(cs) & np.isfinite(ce) & (ce > cs) & (ce - cs <= max_s)
        keep = self.drop(keep, ~whole & ~has_clip, "video longer than max_seconds without a usable clip")
        use = ~whole & has_clip
        return np.where(use, cs, np.nan), np.where(use, ce, np.nan), keep

    def build_index(self, table: pa.Table) -> dict[str, np.ndarray]:
        keep = np.ones(table.num_rows, dtype=bool)
        if self.options["drop_unsure"]:
            keep = self.drop(keep, _bool(table.column("annotator_unsure")), "annotator unsure")
        count = _floats(table.column("count"))
        lo, hi = self.options["min_count"], self.options["max_count"]
        if lo is not None or hi is not None:
            ok = np.isfinite(count) & (count >= (lo if lo is not None else -np.inf)) & \
                (count <= (hi if hi is not None else np.inf))
            keep = self.drop(keep, ~ok, "count out of range")
        n_t = pc.fill_null(pc.list_value_length(table.column("two_fps_timestamps")), 0)
        n_p = pc.fill_null(pc.list_value_length(table.column("points")), 0)
        keep = self.drop(keep, ~_bool(pc.equal(n_t, n_p)), "points and timestamps differ in length")
        source = pc.fill_null(table.column("video_source"), "youtube")
        unknown = ~_bool(pc.is_in(source, value_set=pa.array(VIDEOPOINT_SOURCES)))
        keep = self.drop(keep, unknown, "unknown video_source")
        cs, ce, keep = self.effective_clips(table, keep)
        video, keep = self.resolve_by_source(table, keep, VIDEOPOINT_SOURCES)
        vid_code = unique_with_inverse(pc.binary_join_element_wise(source, pc.fill_null(
            table.column("video_id"), ""), "\x1f"))[1].astype(np.int64)
        clip_ms = np.stack([np.nan_to_num(cs * 1000, nan=-1), np.nan_to_num(ce * 1000, nan=-1)], 1).round()
        key = np.stack([vid_code, clip_ms[:, 0].astype(np.int64), clip_ms[:, 1].astype(np.int64)], 1)
        _, codes = np.unique(key, axis=0, return_inverse=True)
        index = self.grouped_index(codes.reshape(-1).astype(np.int64), keep, video)
        first = index["order"][index["offsets"][:-1]]
        index["clip_start"], index["clip_end"] = cs[first], ce[first]
        if self.options["oversample"] and len(first):
            # the official option: clips whose largest count is <= 5 / <= 25 / > 25 appear x1 / x2 / x4
            largest = np.maximum.reduceat(np.nan_to_num(count[index["order"]], nan=0.0), index["offsets"][:-1])
            reps = np.where(largest <= 5, 1, np.where(largest <= 25, 2, 4))
            index = select_groups(index, np.repeat(np.arange(len(first)), reps))
        return index

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:
        cs, ce = float(self.index["clip_start"][group]), float(self.index["clip_end"][group])
        clipped = np.isfinite(cs)
        recs = self.row_dicts(rows, ["video_id", "video_source", "label", "question", "count",
                                     "two_fps_timestamps", "points", "annotator_unsure", "category",
                                     "video_duration"])
        anns = AnnotationSet()
        for r in recs:
            # whole video: timestamps must lie within its duration (when the table gives it)
            duration = ce - cs if clipped else _finite_or_none(r.get("video_duration"))
            anns.add(self.pointing, r, cs if clipped else 0.0, ce - cs if clipped else np.inf, rng, duration)
        video = VideoRef(self.video_file(group), clip_start=cs if clipped else None,
                         clip_end=ce if clipped else None, source=recs[0]["video_id"])
        meta = self.metadata(rows, video_id=recs[0]["video_id"], video_source=recs[0]["video_source"])
        meta.extra["configs"] = [self.configs_loaded[self.config_of_table[r]] for r in rows]
        meta.extra["annotator_unsure"] = [bool(r["annotator_unsure"]) for r in recs]
        p_chat = self.options["p_multi_turn"]
        chat = len(anns.annotations) > 1 and p_chat > 0 and rng.random() < p_chat
        return anns.example(meta, video=video, layout="chat" if chat else "tree")

    def pointing(self, row: dict[str, Any], start: float, length: float, rng: np.random.RandomState,
                 duration: float | None = None) -> VideoPointing:
        """One row's query. Frames outside the clip are left out (the row annotates the whole video);
        a NaN timestamp or coordinate is not: the VideoPointing rejects it (AnnotationError)."""
        times: list[float] = []
        pts: list[tuple[float, float, float]] = []
        style = self.styles[int(rng.randint(len(self.styles)))] if len(self.styles) > 1 else self.styles[0]
        for t, frame_points in zip(row["two_fps_timestamps"] or [], row["points"] or [], strict=False):
            if t is None:
                continue
            rel = float(np.floor((float(t) - start) * 2 + 1e-6) / 2)  # clip-relative, on the 0.5 s grid
            if rel < 0 or rel > length + 1e-6:
                continue
            times.append(rel)
            pts += [(rel, _coord(p, "x"), _coord(p, "y")) for p in frame_points or [] if p is not None]
        timestamps = np.unique(np.asarray(times, dtype=np.float64))
        pts.sort()
        arr = np.asarray([(x, y) for _, x, y in pts], dtype=np.float64).reshape(-1, 2)
        frame_index = np.searchsorted(timestamps, [t for t, _, _ in pts]).astype(np.int64)
        return VideoPointing(label=row["label"], timestamps=timestamps, points=arr, frame_index=frame_index,
                             scale=(100.0, 100.0), count=row["count"], question=row.get("question"),
                             mode=style[len("video_"):], style=style, duration=duration)


# ---------------------------------------------------------------------------------------------
# Molmo2-VideoTrack
# ---------------------------------------------------------------------------------------------


@register_dataset("molmo2-videotrack")
class Molmo2VideoTrack(VideoTableDataset):
    """Referring-expression object tracks (allenai/Molmo2-VideoTrack), one example per row.

    Videos live under ``media/videos/tracking/<video_dataset>/``. The row's ``clip`` file is used
    when present (frame i of ``points`` at i/fps); otherwise the full ``video`` with the clip
    [start_frame/fps, (end_frame+1)/fps]. Points are pixels (scale = (w, h)); a null point means the
    object is not visible on that frame and is left out of the track.
    """

    NAME = "molmo2-videotrack"
    HF_PATH = "allenai/Molmo2-VideoTrack"
    SPLITS = {"train": "train"}
    COLUMNS = {"id": None, "video": is_string, "clip": is_string, "video_dataset": is_string, "exp": is_string,
               "points": is_list, "start_frame": is_number, "end_frame": is_number, "w": is_number, "h": is_number,
               "fps": is_number}

    def build_index(self, table: pa.Table) -> dict[str, np.ndarray]:
        keep = np.ones(table.num_rows, dtype=bool)
        fps = _floats(table.column("fps"))
        keep = self.drop(keep, ~(fps > 0), "no fps")
        size_ok = (_floats(table.column("w")) > 0) & (_floats(table.column("h")) > 0)
        keep = self.drop(keep, ~size_ok, "no frame size")
        finder = VideoFinder(["tracking"], self.root)
        dataset = pc.fill_null(table.column("video_dataset"), "")

        def ids(col: str) -> pa.ChunkedArray:
            return pc.binary_join_element_wise(dataset, table.column(col), "/")  # null when col is null

        from_clip = self.resolve(ids("clip"), finder)
        from_video = self.resolve(ids("video"), finder)
        uses_clip = from_clip != ""
        video = np.where(uses_clip, from_clip, from_video)
        index = self.grouped_index(np.arange(table.num_rows, dtype=np.int64), keep, video)
        index["uses_clip"] = uses_clip[index["order"][index["offsets"][:-1]]]
        return index

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:
        r = self.row_dicts(rows)[0]
        fps = float(r["fps"])
        path = self.video_file(group)
        duration = None
        if bool(self.index["uses_clip"][group]):
            video = VideoRef(path, source=r["video"])
        else:
            start = int(self.required("start_frame", int(rows[0]), r["start_frame"]))
            end = int(self.required("end_frame", int(rows[0]), r["end_frame"]))
            video = VideoRef(path, clip_start=start / fps, clip_end=(end + 1) / fps, source=r["video"])
            duration = (end + 1 - start) / fps
        anns = AnnotationSet()
        anns.add(track_of_row, r, fps, duration)
        meta = self.metadata(rows, id=r["id"], video=r["video"], clip=r["clip"], video_dataset=r["video_dataset"])
        meta.extra.update({k: r.get(k) for k in ("video_source", "obj_id", "mask_id", "n_frames") if k in r})
        return anns.example(meta, video=video)


def object_index(obj_id: Any, mask_ids: list[Any]) -> int:
    """The object's index in the row: the published schema keys each point list by a string
    ``object_id`` into the row's ``mask_id`` list (e.g. ``'mose_0000_0'``), as the official loader
    reads it; an integer id (older sample tables) is taken as it is."""
    if obj_id is None:
        invalid("track", "object id is missing")
    if isinstance(obj_id, str):
        if obj_id in mask_ids:
            return mask_ids.index(obj_id)
        invalid("track", "object_id is not in the row's mask_id list", repr(obj_id)[:80])
    return int(obj_id)


def track_of_row(r: dict[str, Any], fps: float, duration: float | None) -> Track:
    """The Track of one Molmo2-VideoTrack row: frame i of an object's ``points`` is at i / fps; a null
    point means not visible there (left out); a NaN coordinate, a missing object id or one that is
    not a key of ``mask_id`` is an AnnotationError."""
    n = max([len(o.get("points") or []) for o in r["points"] or [] if o] + [0])
    mask_ids = list(r.get("mask_id") or [])
    pts, frames, oids = [], [], []
    for obj in r["points"] or []:
        obj = obj or {}
        oid = object_index(obj.get("object_id"), mask_ids) if obj.get("points") else None
        for i, p in enumerate(obj.get("points") or []):
            if p is not None and len(p) >= 2 and p[0] is not None and p[1] is not None:
                pts.append((float(p[0]), float(p[1])))
                frames.append(i)
                oids.append(oid)
    order = np.lexsort((np.asarray(oids), np.asarray(frames))) if pts else np.zeros(0, dtype=np.int64)
    return Track(label=r["exp"], timestamps=np.arange(n) / fps,
                 points=np.asarray(pts, dtype=np.float64).reshape(-1, 2)[order],
                 frame_index=np.asarray(frames, dtype=np.int64)[order],
                 object_ids=np.asarray(oids, dtype=np.int64)[order], occluded=np.zeros(len(pts), dtype=bool),
                 scale=(float(r["w"]), float(r["h"])), fps=fps, duration=duration)
