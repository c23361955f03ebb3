"""Reader of allenai/molmo2-academic-video-points: video pointing / counting queries built from the
masks of academic video segmentation sets (LV-VIS, OVIS, BURST, Ref-DAVIS17, MeViS, Ref-YouTube-VOS).

Official loader: class ``AcademicVideoPoint`` in allenai/molmo2 ``olmo/data/academic_video_datasets.py``
(lines 1340-1535); the SFT mixture uses it as ``academic_points_clip_63s_2fps`` =
``AcademicVideoPoint(split, max_seconds=63, mode=["point_count", "point"], max_points=60,
use_clips_from_metadata=True)`` (``olmo/data/get_dataset.py:315-316``; ``academic_video_points`` is the
same call), fps 2 by default.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from molmo2_data.datasets.base import AnnotationSet
from molmo2_data.datasets.media_store import VideoFinder
from molmo2_data.datasets.molmo2_video import VideoTableDataset, _coord, _floats
from molmo2_data.datasets.multi_image import list_of, struct_with
from molmo2_data.datasets.registry import register_dataset, register_variant
from molmo2_data.errors import ConfigError
from molmo2_data.example import Example, VideoPointing, VideoRef, frame_folder_names
from molmo2_data.paths import VIDEO_EXTENSIONS
from molmo2_data.tables import is_number, is_string

SOURCE = "academic-points"  # media/videos/academic-points/
# subset -> folder under media/videos/academic-points/, mirroring the official roots under
# VIDEO_DATA_HOME (academic_video_datasets.py:1343-1350): LV-VIS/{split}/videos-2fps, OVIS/videos-2fps (no
# split), TAO-Amodal/{split}/videos-2fps, Ref-DAVIS17/{split}/..., mevis/MeViS_release/{split}/...,
# Ref-YT-VOS/{split}/...
VIDEO_ROOTS = {"lvvis": "lvvis/{split}", "ovis": "ovis", "burst": "burst/{split}",
               "refdavis17": "refdavis17/{split}", "mevis": "mevis/{split}", "refyoutube": "refyoutube/{split}"}
OFFICIAL_ROOTS = {"lvvis": "LV-VIS/{split}/videos-2fps", "ovis": "OVIS/videos-2fps",
                  "burst": "TAO-Amodal/{split}/videos-2fps", "refdavis17": "Ref-DAVIS17/{split}/videos-2fps",
                  "mevis": "mevis/MeViS_release/{split}/videos-2fps", "refyoutube": "Ref-YT-VOS/{split}/videos-2fps"}
NAMED_AS_IS = ("refdavis17", "mevis", "refyoutube")  # video_name joined without adding .mp4
FOLDER_FPS = 2.0  # a frame folder under the official videos-2fps roots holds 2 fps frames
STYLES = ("video_point_count", "video_point")
POINT = struct_with({"x": is_number, "y": is_number})


def video_rel(subset: str | None, split: str, video_name: str | None, dataset: str | None) -> str | None:
    """The video's id under media/videos/academic-points/ (file extension left to the finder), as the
    official ``_make_video_path`` builds the path (burst: ``<dataset>/<video_name>``); None for an
    unknown subset or a missing name."""
    if subset not in VIDEO_ROOTS or not video_name:
        return None
    parts = [VIDEO_ROOTS[subset].format(split=split)] + ([dataset] if subset == "burst" and dataset else [])
    return "/".join(parts + [video_name])


def official_path(subset: str, split: str, video_name: str, dataset: str | None) -> str:
    """The official video path relative to VIDEO_DATA_HOME (the official example id is it + "_" + label)."""
    root = OFFICIAL_ROOTS[subset].format(split=split)
    if subset == "burst":
        return "/".join([root] + ([dataset] if dataset else []) + [f"{video_name}.mp4"])
    return f"{root}/{video_name}" if subset in NAMED_AS_IS else f"{root}/{video_name}.mp4"


def strip_video_ext(name: str) -> str:
    stem, ext = os.path.splitext(name)
    return stem if ext.lower() in VIDEO_EXTENSIONS else name


@register_dataset("molmo2-academic-video-points")
class AcademicVideoPoints(VideoTableDataset):
    """Academic video pointing / counting (allenai/molmo2-academic-video-points; splits train, val).

    One example per row (the official flat form, taken whenever ``max_seconds`` is set: lines 1499-1512):
    one VideoPointing whose style is drawn from ``styles`` with the example rng (official
    ``rng.choice(["point_count", "point"])``, line 1533); label = ``category`` lower-cased; on val the
    official fixed question ``How many "<label>" are there in the video?`` (line 1443, kept for both styles).
    The video is the row's precomputed clip [``clip_start_time``, ``clip_end_time``] (≤ 63 s); timestamps
    are sorted, made clip-relative and put on the 1/``fps`` grid; points of a frame sorted by (x, y)
    (``point_sort_by``).

    Filters (each counted in ``skipped``): ``count`` > ``max_points`` (60; line 1421) and an annotated
    span max - min timestamp > ``max_seconds`` (63; line 1428) as officially. Rows the official loader
    would stop on (asserts and exceptions) are counted skips here: an unknown subset, no timestamps,
    points and timestamps of different lengths, a null or non-finite timestamp, a missing count, clip times missing or breaking the official checks
    (0 <= start < end <= video_duration, end - start <= max_seconds, clip covers every timestamp;
    lines 1468-1474), and a clip-relative timestamp more than 1e-6 s off the 1/fps grid (line 1483; a
    value within 1e-6 s below a grid point is snapped to it here, where the official ``%`` check fails).

    **Point scale: percent of the frame (0-100), as Molmo2-VideoPoint.** The row has no frame size and
    the loader passes ``row["points"]`` through untouched (academic_video_datasets.py:1487); the
    formatter divides every video point by the scale 100 (``format_video_points(..., 100, ...)``,
    preprocessing/data_formatter.py:1258) and expects x / 100 in [0, 1]
    (preprocessing/point_formatter.py:395-398 warns and clamps otherwise), so pixel coordinates past
    100 would be clamped to the frame edge. The official code converts pixel points to 0-100 before this same
    formatter where a set stores pixels (Molmo2VideoPointEval, olmo/data/molmo2_datasets.py:1097-1101),
    and passes Molmo2-VideoPoint's points (percent) through unchanged as here (molmo2_datasets.py:850,
    920-939).

    Videos: ``media/videos/academic-points/<subset>[/<split>][/<dataset>]/<video_name>[.mp4]``, the
    official roots (lines 1343-1361) without their dataset-specific prefixes: lvvis/<split>, ovis (no
    split), burst/<split>/<dataset>, refdavis17|mevis|refyoutube/<split>. For the last three the official
    path is ``video_name`` as is (no ``.mp4`` added); the official video loader decodes files only
    (olmo/data/video_loader.py:299-345), so these names are files carrying their extension. A file is
    found with any video extension; a JPEG/PNG frame folder of that name is read as 2 fps frames
    (the roots are ``videos-2fps``), cut to the clip.
    """

    NAME = "molmo2-academic-video-points"
    HF_PATH = "allenai/molmo2-academic-video-points"
    SPLITS = {"train": "train", "val": "val", "validation": "val"}
    VIDEO_SOURCE = SOURCE
    VERSION = 1
    COLUMNS = {"subset": is_string, "video_name": is_string, "count": is_number, "timestamps": list_of(is_number),
               "points": list_of(list_of(POINT)), "category": is_string, "video_duration": is_number,
               "clip_start_time": is_number, "clip_end_time": is_number}

    def __init__(self, split: str = "train", config: str | Sequence[str] | None = None, *,
                 subset: str | Sequence[str] = "all", styles: Sequence[str] = STYLES, max_points: int | None = 60,
                 max_seconds: float = 63.0, fps: float = 2.0, point_sort_by: str = "xy", **kw: Any):
        subsets = tuple(VIDEO_ROOTS) if subset == "all" else (subset,) if isinstance(subset, str) else tuple(subset)
        bad = [s for s in subsets if s not in VIDEO_ROOTS]
        if bad or not subsets:
            raise ConfigError(f"{self.NAME}: subset must be 'all' or among {', '.join(VIDEO_ROOTS)}, got {subset!r}")
        if not styles or any(not isinstance(s, str) or not s.startswith("video_") for s in styles):
            raise ConfigError(f"{self.NAME}: styles must be non-empty video_* styles, got {styles!r}")
        if point_sort_by not in ("xy", "yx", "none"):
            raise ConfigError(f"{self.NAME}: point_sort_by must be 'xy', 'yx' or 'none', got {point_sort_by!r}")
        if not (isinstance(fps, int | float) and np.isfinite(fps) and fps > 0):
            raise ConfigError(f"{self.NAME}: fps must be a positive number, got {fps!r}")
        if not (isinstance(max_seconds, int | float) and max_seconds > 0):
            raise ConfigError(f"{self.NAME}: max_seconds must be a positive number, got {max_seconds!r}")
        self.styles = tuple(styles)
        self.point_sort_by = point_sort_by
        super().__init__(split, config, subset=sorted(subsets), max_points=max_points,
                         max_seconds=float(max_seconds), fps=float(fps), **kw)

    # -- videos ---------------------------------------------------------------------------------

    @classmethod
    def video_needs(cls, table: pa.Table, split: str = "train") -> list[tuple[str, str]]:
        """(academic-points, id) of every video a table of source split ``split`` names."""
        cols = [table.column(c).to_pylist() for c in ("subset", "video_name")]
        dataset = table.column("dataset").to_pylist() if "dataset" in table.column_names else [None] * table.num_rows
        ids = {video_rel(s, split, v, d) for s, v, d in zip(*cols, dataset, strict=True)}
        return sorted((SOURCE, strip_video_ext(i)) for i in ids if i)

    def media_fingerprint(self) -> Any:
        """mtimes of media/videos/academic-points and its folders three levels down (burst/<split>/<dataset>),
        where the videos (or frame folders) of every subset live."""
        stamps: list[Any] = list(super().media_fingerprint())
        level = [os.path.join(self.videos_root(), SOURCE)]
        for depth in range(4):
            nxt = []
            for d in level:
                try:
                    stamps.append(os.stat(d).st_mtime_ns)
                except OSError:
                    stamps.append("absent")
                    continue
                if depth < 3:
                    with os.scandir(d) as it:
                        nxt += sorted(e.path for e in it if e.is_dir())
            level = nxt
        return stamps

    def resolve_videos(self, ids: list[str | None]) -> np.ndarray:
        """Per row, the video (a file, else a frame folder) relative to media/videos; '' when missing."""
        finder = VideoFinder([SOURCE], self.root)
        top = self.videos_root()
        seen: dict[str, str] = {}
        out = np.full(len(ids), "", dtype=object)
        for i, v in enumerate(ids):
            if not v:
                continue
            if v not in seen:
                found = finder.find(v)
                if found is not None:
                    seen[v] = os.path.relpath(found, top)
                else:
                    rel = os.path.join(SOURCE, v)
                    seen[v] = rel if frame_folder_names(os.path.join(top, rel)) else ""
            out[i] = seen[v]
        return out

    # -- index ----------------------------------------------------------------------------------

    def build_index(self, table: pa.Table) -> dict[str, np.ndarray]:
        opts = self.options
        n = table.num_rows
        keep = np.ones(n, dtype=bool)
        subset = table.column("subset").to_pylist()
        keep = self.drop(keep, np.array([s not in VIDEO_ROOTS for s in subset], dtype=bool), "unknown subset")
        keep &= np.array([s in opts["subset"] for s in subset], dtype=bool)  # a selection, not a skip
        count = _floats(table.column("count"))
        keep = self.drop(keep, ~(count >= 0), "count missing or negative")
        if opts["max_points"] is not None:
            keep = self.drop(keep, count > opts["max_points"], "count above max_points")
        ts_col = table.column("timestamps").combine_chunks()
        n_t = pc.fill_null(pc.list_value_length(ts_col), 0).to_numpy(zero_copy_only=False)
        n_p = pc.fill_null(pc.list_value_length(table.column("points")), 0).to_numpy(zero_copy_only=False)
        keep = self.drop(keep, n_t == 0, "no timestamps")
        keep = self.drop(keep, n_t != n_p, "points and timestamps differ in length")
        parent = pc.list_parent_indices(ts_col).to_numpy(zero_copy_only=False)
        ts = _floats(pc.list_flatten(ts_col))
        bad_t = np.zeros(n, dtype=bool)
        bad_t[parent[~np.isfinite(ts)]] = True
        keep = self.drop(keep, bad_t, "non-finite timestamp")
        lo, hi = np.full(n, np.inf), np.full(n, -np.inf)
        fin = np.isfinite(ts)
        np.minimum.at(lo, parent[fin], ts[fin])
        np.maximum.at(hi, parent[fin], ts[fin])
        keep = self.drop(keep, hi - lo > opts["max_seconds"], "annotated span longer than max_seconds")
        cs, ce = _floats(table.column("clip_start_time")), _floats(table.column("clip_end_time"))
        dur = _floats(table.column("video_duration"))
        eps = 1e-6
        clip_ok = (cs >= -eps) & (ce <= dur + eps) & (cs < ce) & (ce - cs <= opts["max_seconds"] + eps) \
            & (cs <= lo + eps) & (ce >= hi - eps)
        keep = self.drop(keep, ~clip_ok, "clip times missing or invalid")
        step = 1.0 / opts["fps"]
        rel = ts - cs[parent]
        off = np.abs(rel - np.round(rel / step) * step) > eps
        off_row = np.zeros(n, dtype=bool)
        off_row[parent[fin & off]] = True
        keep = self.drop(keep, off_row, "timestamp not on the 1/fps grid of the clip")
        dataset = table.column("dataset").to_pylist() if "dataset" in table.column_names else [None] * n
        split = str(self.SPLITS[self.split])
        ids = [video_rel(s, split, v, d) if k else None
               for s, v, d, k in zip(subset, table.column("video_name").to_pylist(), dataset, keep, strict=True)]
        video = self.resolve_videos(ids)
        return self.grouped_index(np.arange(n, dtype=np.int64), keep, video)

    # -- examples -------------------------------------------------------------------------------

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:
        r = self.row_dicts(rows, ["subset", "video_name", "dataset", "count", "timestamps", "points", "category",
                                  "video_duration", "clip_start_time", "clip_end_time"])[0]
        cs, ce = float(r["clip_start_time"]), float(r["clip_end_time"])
        style = str(rng.choice(list(self.styles))) if len(self.styles) > 1 else self.styles[0]
        label = r["category"].lower() if isinstance(r["category"], str) else r["category"]
        question = f'How many "{label}" are there in the video?' if self.SPLITS[self.split] == "val" else None
        anns = AnnotationSet()
        anns.add(self.pointing, r, cs, ce, label, question, style)
        split = str(self.SPLITS[self.split])
        path = self.video_file(group)
        if os.path.isdir(path):
            video = frame_clip(path, cs, ce, r["video_name"])
        else:
            video = VideoRef(path, clip_start=cs, clip_end=ce, source=r["video_name"])
        meta = self.metadata(rows, example_id=f"{official_path(r['subset'], split, r['video_name'], r.get('dataset'))}"
                                              f"_{label}", subset=r["subset"], video_name=r["video_name"],
                             dataset=r.get("dataset"))
        meta.extra.update({"clip_start_time": cs, "clip_end_time": ce, "video_duration": r["video_duration"]})
        return anns.example(meta, video=video)

    def pointing(self, r: dict[str, Any], cs: float, ce: float, label: Any, question: str | None,
                 style: str) -> VideoPointing:
        """The row's query: frames by time, clip-relative on the 1/fps grid; a frame's points sorted."""
        step = 1.0 / self.options["fps"]
        frames: dict[float, list[tuple[float, float]]] = {}
        times = r["timestamps"] or []
        for i in sorted(range(len(times)), key=lambda k: times[k]):
            t = float(np.round((float(times[i]) - cs) / step) * step)
            pts = [(_coord(p, "x"), _coord(p, "y")) for p in (r["points"][i] or []) if p is not None]
            frames.setdefault(t, []).extend(pts)
        timestamps = np.asarray(sorted(frames), dtype=np.float64)
        pts_all: list[tuple[float, float]] = []
        frame_index: list[int] = []
        for k, t in enumerate(timestamps):
            pts = frames[float(t)]
            if self.point_sort_by == "xy":
                pts = sorted(pts)
            elif self.point_sort_by == "yx":
                pts = sorted(pts, key=lambda p: (p[1], p[0]))
            pts_all += pts
            frame_index += [k] * len(pts)
        return VideoPointing(label=label, timestamps=timestamps,
                             points=np.asarray(pts_all, dtype=np.float64).reshape(-1, 2),
                             frame_index=np.asarray(frame_index, dtype=np.int64), scale=(100.0, 100.0),
                             count=r["count"], question=question, mode=style[len("video_"):], style=style,
                             duration=ce - cs)


def frame_clip(folder: str, cs: float, ce: float, source: str | None) -> VideoRef:
    """A 2 fps frame folder cut to [cs, ce], frames at clip-relative times."""
    ref = VideoRef.from_frame_folder(folder, fps=FOLDER_FPS, source=source)
    keep = [i for i, t in enumerate(ref.frame_times) if cs - 1e-6 <= t <= ce + 1e-6]
    clipped = VideoRef.from_frames([ref.frames[i] for i in keep], [max(0.0, ref.frame_times[i] - cs) for i in keep],
                                   name=folder)
    return VideoRef(clipped.path, source=source, frames=clipped.frames, frame_times=clipped.frame_times)


for _official in ("academic_points_clip_63s_2fps", "academic_video_points"):
    register_variant(_official, "molmo2-academic-video-points", max_points=60, max_seconds=63.0, styles=STYLES)
