"""Academic video tracking sets of the official tracking mixture, from the Ai2 Hub mirrors that hold
their annotations already converted to point tracks (``allenai/molmo2-<set>``, one config per task:
track / ground / single_point_track; the single-object-tracking benchmarks share
``allenai/molmo2-single-object-track`` with one config per benchmark).

One declarative reader per set (source, tasks, split map); rows share one layout: ``id``, ``video``,
``expression``, ``mask_id`` (object keys), ``frame_trajectories`` (per annotated frame: ``frame``,
``time`` in seconds and the visible objects' pixel ``point`` and ``occluded`` flag), ``sampling_fps``,
``width``, ``height`` and the video's ``fps``. The columns are those the official loader reads (the
cards are not readable here). Videos live under ``media/videos/tracking/<set>/<video>.mp4``.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from molmo2_data.annotations import Track, invalid
from molmo2_data.datasets.base import AnnotationSet
from molmo2_data.datasets.media_store import VideoFinder
from molmo2_data.datasets.molmo2_video import VideoTableDataset
from molmo2_data.datasets.multi_image import list_of, struct_with
from molmo2_data.datasets.registry import register_dataset, register_variant
from molmo2_data.errors import ConfigError
from molmo2_data.example import Example, VideoRef
from molmo2_data.tables import is_integer, is_number, is_string

TASK_STYLES = {"track": "video_point_track_per_frame", "ground": "video_point_ground_start_end",
               "single_point_track": "video_single_point_track_per_frame"}
MAX_VIDEO_FPS = 10  # the official cap on candidate sampling rates

POINT = struct_with({"point": list_of(is_number)})
TRAJECTORIES = list_of(struct_with({"frame": is_integer, "time": is_number, "points": list_of(POINT)}))


def candidate_sampling_fps(video_fps: float, sampling_fps: float, max_fps: int = MAX_VIDEO_FPS) -> list[int]:
    """The official candidate frame rates: multiples of ``sampling_fps`` up to ``max_fps`` that divide the
    (integer) video fps; empty when the rates are not positive or ``sampling_fps`` does not divide it."""
    if not (np.isfinite(video_fps) and np.isfinite(sampling_fps)):
        return []
    v, s = int(video_fps), int(sampling_fps)
    if v <= 0 or s <= 0 or v % s:
        return []
    return [c for c in range(s, min(v, max_fps) + 1, s) if v % c == 0]


class AcademicTrack(VideoTableDataset):
    """Rows of an Ai2 tracking mirror for one ``task`` (a config of the repo)."""

    SET: ClassVar[str] = ""  # the official DATASET_NAME (video folder under media/videos/tracking/)
    TASKS: ClassVar[tuple[str, ...]] = ("track",)
    VIDEO_SOURCE = "tracking"
    COLUMNS = {"id": is_string, "video": is_string, "expression": is_string, "mask_id": list_of(is_string),
               "frame_trajectories": TRAJECTORIES, "sampling_fps": is_number, "width": is_number,
               "height": is_number, "fps": is_number}

    def __init__(self, split: str = "train", task: str = "track", **kw: Any):
        if task not in self.TASKS:
            raise ConfigError(f"{self.NAME}: task must be one of {', '.join(self.TASKS)}, got {task!r}")
        self.task = task
        kw.setdefault("config", self.config_of(task))
        super().__init__(split, task=task, **kw)

    @classmethod
    def config_of(cls, task: str) -> str:
        return task

    @classmethod
    def video_needs(cls, table: pa.Table) -> list[tuple[str, str]]:
        return sorted({("tracking", f"{cls.SET}/{v}") for v in pc.unique(table.column("video")).to_pylist() if v})

    def video_ids(self, table: pa.Table) -> pa.ChunkedArray:
        """Per row, the video's id under media/videos/tracking/."""
        return pc.binary_join_element_wise(pa.scalar(self.SET), table.column("video"), "/")

    def build_index(self, table: pa.Table) -> dict[str, np.ndarray]:
        keep = np.ones(table.num_rows, dtype=bool)
        fps = pc.fill_null(pc.cast(table.column("fps"), pa.float64()), 0).to_numpy(zero_copy_only=False)
        sfps = pc.fill_null(pc.cast(table.column("sampling_fps"), pa.float64()), 0).to_numpy(zero_copy_only=False)
        usable = np.array([bool(candidate_sampling_fps(f, s)) for f, s in zip(fps, sfps, strict=True)], dtype=bool)
        keep = self.drop(keep, ~usable, "fps not divisible by sampling_fps (or not positive)")
        n = pc.fill_null(pc.list_value_length(table.column("frame_trajectories")), 0).to_numpy(zero_copy_only=False)
        keep = self.drop(keep, n == 0, "no annotated frames")
        ids = self.video_ids(table)
        video = self.resolve(ids, VideoFinder(["tracking"], self.root))
        video = self.frame_folders(ids, video)
        return self.grouped_index(np.arange(table.num_rows, dtype=np.int64), keep, video)

    def frame_folders(self, ids: pa.ChunkedArray, video: np.ndarray) -> np.ndarray:
        """Rows without a video file whose id names a folder of frames (tracking/<set>/<video>/*.jpg):
        that folder, relative to media/videos, read as a video without re-encoding."""
        from molmo2_data.example import frame_folder_names

        values = ids.to_pylist()
        top = self.videos_root()
        out = video.copy()
        seen: dict[str, str] = {}
        for i in np.nonzero(out == "")[0]:
            v = values[i]
            if not v:
                continue
            if v not in seen:
                rel = os.path.join("tracking", v)
                seen[v] = rel if frame_folder_names(os.path.join(top, rel)) else ""
            out[i] = seen[v]
        return out

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:
        r = self.row_dicts(rows)[0]
        anns = AnnotationSet()
        anns.add(track_of_trajectories, r, TASK_STYLES[self.task])
        meta = self.metadata(rows, id=r["id"], video=r["video"])
        meta.extra.update({"task": self.task, "video_fps": float(r["fps"]), "sampling_fps": float(r["sampling_fps"]),
                           "candidate_sampling_fps": candidate_sampling_fps(r["fps"], r["sampling_fps"])})
        path = self.video_file(group)
        if os.path.isdir(path):
            video = VideoRef.from_frame_folder(path, fps=float(r["fps"]), source=r["video"])
        else:
            video = VideoRef(path, source=r["video"])
        return anns.example(meta, video=video)


def track_of_trajectories(r: dict[str, Any], style: str) -> Track:
    """The Track of one row: frames sorted by index, each visible object's pixel point (a point whose id
    is not a key of ``mask_id``, or that is null, is left out as the official loader does; object ids
    are positions in ``mask_id``)."""
    index = {str(k): i for i, k in enumerate(r.get("mask_id") or [])}
    frames = [f for f in r["frame_trajectories"] or [] if f is not None]
    for f in frames:
        t = f.get("time")
        if f.get("frame") is None or t is None or not np.isfinite(float(t)):
            invalid("track", "a frame without its index or a finite time")
    frames.sort(key=lambda f: f["frame"])
    times, pts, fidx, oids, occ = [], [], [], [], []
    for k, f in enumerate(frames):
        times.append(float(f["time"]))
        for p in f.get("points") or []:
            if not p or str(p.get("id")) not in index or not p.get("point") or len(p["point"]) < 2:
                continue
            pts.append((float(p["point"][0]), float(p["point"][1])))
            fidx.append(k)
            oids.append(index[str(p["id"])])
            occ.append(bool(p.get("occluded")))
    return Track(label=r["expression"], timestamps=np.asarray(times, dtype=np.float64),
                 points=np.asarray(pts, dtype=np.float64).reshape(-1, 2), frame_index=np.asarray(fidx, dtype=np.int64),
                 object_ids=np.asarray(oids, dtype=np.int64), occluded=np.asarray(occ, dtype=bool),
                 scale=(float(r["width"]), float(r["height"])), fps=float(r["sampling_fps"]), style=style)


class SingleObjectTrack(AcademicTrack):
    """A single-object-tracking benchmark (boxes converted to point tracks upstream): one config of
    ``allenai/molmo2-single-object-track`` named after the benchmark, task single_point_track only."""

    HF_PATH = "allenai/molmo2-single-object-track"
    TASKS = ("single_point_track",)

    def __init__(self, split: str = "train", task: str = "single_point_track", **kw: Any):
        super().__init__(split, task=task, **kw)

    @classmethod
    def config_of(cls, task: str) -> str:
        return cls.SET


# (catalog name, official DATASET_NAME, Hub repo, tasks, split map) of the multi-object sets
MOT_SETS = (
    ("mevis", "mevis", "allenai/molmo2-mevis", ("track", "ground", "single_point_track"),
     {"train": "train", "validation": "valid_u"}),
    ("ref-yt-vos", "ref-yt-vos", "allenai/molmo2-ref-yt-vos", ("track",), {"train": "train"}),
    ("ref-davis17", "ref-davis17", "allenai/molmo2-ref-davis17", ("track",), {"train": "train"}),
    ("burst", "burst", "allenai/molmo2-burst", ("track", "ground", "single_point_track"), {"train": "train"}),
    ("lv-vis", "lv-vis", "allenai/molmo2-lv-vis", ("track", "ground", "single_point_track"), {"train": "train"}),
    ("yt-vis", "yt-vis", "allenai/molmo2-yt-vis", ("track",), {"train": "train"}),
    ("vicas", "vicas", "allenai/molmo2-vicas", ("track", "ground", "single_point_track"), {"train": "train"}),
    ("revos", "revos", "allenai/molmo2-revos", ("track", "ground", "single_point_track"), {"train": "train"}),
    ("moca", "moca", "allenai/molmo2-moca", ("track", "ground"), {"train": "train"}),
)
# single-object benchmarks: (catalog name, official DATASET_NAME = config)
SOT_SETS = (("lvosv1", "lvosv1"), ("lvosv2", "lvosv2"), ("lasot", "lasot"), ("uwcot", "uwcot"), ("webuot", "webuot"),
            ("latot", "latot"), ("tnl2k", "tnl2k"), ("tnllt", "tnnlt"), ("webuav", "webuav"), ("got10k", "got10k"),
            ("vasttrack", "vasttrack"), ("trackingnet", "trackingnet"))


@register_dataset("molmo2-track-instruction", aliases=("molmo2_track_instruction",))
class Molmo2TrackInstruction(AcademicTrack):
    """Molmo2's own tracking training data with precomputed frame trajectories
    (allenai/molmo2-track-instruction; configs track / ground / single_point_track; split train): the
    academic layout plus ``video_dataset`` (the source: mose, sav, sportsmot, ...), ``clip``,
    ``start_frame`` / ``end_frame``. Clips live at ``media/videos/tracking/<video_dataset>/<clip>.mp4``,
    the same files as Molmo2-VideoTrack's (the raw annotations the official code downloads videos
    with). Official names ``molmo2_video_track``, ``molmo2_video_track_ground``,
    ``molmo2_video_single_point_track``."""

    NAME = "molmo2-track-instruction"
    HF_PATH = "allenai/molmo2-track-instruction"
    TASKS = ("track", "ground", "single_point_track")
    CONFIGS = TASKS
    SPLITS = {"train": "train"}
    COLUMNS = {**AcademicTrack.COLUMNS, "video_dataset": is_string, "clip": is_string}

    @staticmethod
    def _ids(table: pa.Table) -> pa.ChunkedArray:
        return pc.binary_join_element_wise(pc.fill_null(table.column("video_dataset"), ""), table.column("clip"), "/")

    @classmethod
    def video_needs(cls, table: pa.Table) -> list[tuple[str, str]]:
        return sorted({("tracking", v) for v in pc.unique(cls._ids(table).combine_chunks()).to_pylist() if v})

    def video_ids(self, table: pa.Table) -> pa.ChunkedArray:
        return self._ids(table)


for _task, _official in (("track", "molmo2_video_track"), ("ground", "molmo2_video_track_ground"),
                         ("single_point_track", "molmo2_video_single_point_track")):
    register_variant(_official, "molmo2-track-instruction", task=_task)


def official_name(catalog: str, task: str) -> str:
    return f"{catalog.replace('-', '_')}_{task}"


def _register() -> dict[str, type[AcademicTrack]]:
    out: dict[str, type[AcademicTrack]] = {}
    for name, set_name, repo, tasks, splits in MOT_SETS:
        cls = type(f"Track_{name.replace('-', '_')}", (AcademicTrack,), {
            "NAME": name, "SET": set_name, "HF_PATH": repo, "TASKS": tasks, "CONFIGS": tasks, "SPLITS": splits,
            "__doc__": f"{name}: tracks from {repo} (tasks {', '.join(tasks)})."})
        out[name] = register_dataset(name)(cls)
        for task in tasks:
            register_variant(official_name(name, task), name, task=task)
    for name, set_name in SOT_SETS:
        cls = type(f"Sot_{name}", (SingleObjectTrack,), {
            "NAME": name, "SET": set_name, "CONFIGS": (set_name,), "SPLITS": {"train": "train"},
            "__doc__": f"{name}: single-point tracks from allenai/molmo2-single-object-track (config {set_name})."})
        out[name] = register_dataset(name)(cls)
        register_variant(official_name(name, "single_point_track"), name, task="single_point_track")
    return out


TRACKING_SETS = _register()
