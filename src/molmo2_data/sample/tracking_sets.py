"""Sample copies of the academic tracking mirrors: one pool of synthetic 6 fps videos (lane-bound
moving shapes, one hidden for a stretch) shared by every set through hard links under
``media/videos/tracking/<set>/``, and per set and task rows in the mirrors' layout whose points are the
drawn centres on the annotated frames."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pyarrow as pa

from molmo2_data import paths
from molmo2_data.datasets.academic_tracking import MOT_SETS, SOT_SETS
from molmo2_data.sample import sample_writer
from molmo2_data.sample.context import SampleContext
from molmo2_data.sample.video_point_sets import track_scene
from molmo2_data.sample.video_sets import Scene, write_scene

VIDEO_FPS = 6
N_SCENES = 12

POINT = pa.struct([("id", pa.string()), ("point", pa.list_(pa.float64())), ("occluded", pa.bool_())])
FRAME = pa.struct([("frame", pa.int64()), ("time", pa.float64()), ("points", pa.list_(POINT))])
SCHEMA = pa.schema([("id", pa.string()), ("video", pa.string()), ("expression", pa.string()),
                    ("mask_id", pa.list_(pa.string())), ("frame_trajectories", pa.list_(FRAME)),
                    ("sampling_fps", pa.int64()), ("width", pa.int64()), ("height", pa.int64()), ("fps", pa.float64())])


def _pool(ctx: SampleContext) -> list[Scene]:
    rng = ctx.rng("academic-tracking-pool")
    return [write_scene(ctx, track_scene(rng, f"acad_{i:03d}", f"tracking/_pool/acad_{i:03d}.mp4", VIDEO_FPS,
                                         VIDEO_FPS * 3)) for i in range(N_SCENES)]


def _hard_link(src: Path, dest: Path) -> None:
    """``dest`` becomes a hard link of ``src`` (atomically; nothing to do when it already is one: a
    rename between two links of one file would be a no-op and leave the temp name behind)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() and os.path.samefile(src, dest):
        return
    tmp = dest.with_name(dest.name + f".{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    os.link(src, tmp)
    os.replace(tmp, dest)


def _link(ctx: SampleContext, scene: Scene, set_name: str) -> str:
    """Hard-link a pool video into the set's folder; returns the row's ``video`` value (no extension)."""
    videos = paths.data_root(ctx.root) / "media" / "videos"
    _hard_link(videos / scene.rel_path, videos / "tracking" / set_name / f"{scene.video_id}.mp4")
    return scene.video_id


def _rows(scene: Scene, video: str, groups: list[list[int]], label: Any, sampling_fps: int) -> list[dict]:
    step = VIDEO_FPS // sampling_fps
    out = []
    for ids in groups:
        frames = []
        for k in range(0, scene.n_frames, step):
            pts = [{"id": f"{video}_{j}", "point": [round(p[0], 2), round(p[1], 2)], "occluded": False}
                   for j in ids if (p := scene.objects[j].positions[k]) is not None]
            frames.append({"frame": k, "time": k / VIDEO_FPS, "points": pts})
        out.append({"id": f"{video}_{'_'.join(map(str, ids))}", "video": video, "expression": label(ids),
                    "mask_id": [f"{video}_{j}" for j in ids], "frame_trajectories": frames,
                    "sampling_fps": sampling_fps, "width": scene.width, "height": scene.height,
                    "fps": float(VIDEO_FPS)})
    return out


def _groups(scene: Scene, single: bool) -> list[list[int]]:
    """Objects per row: one each (single-point tracks), else every object of a kind together."""
    if single:
        return [[j] for j in range(len(scene.objects))]
    kinds: dict[str, list[int]] = {}
    for j, o in enumerate(scene.objects):
        kinds.setdefault(o.label, []).append(j)
    return list(kinds.values())


def _expression(scene: Scene, ids: list[int]) -> str:
    o = scene.objects[ids[0]]
    return f"the {o.label}" if len(ids) == 1 else f"all {len(ids)} {o.color} {o.shape}s"


def _write_set(ctx: SampleContext, name: str, set_name: str, tables: dict[str, list[str]], sot: bool) -> None:
    """``tables``: source split -> configs (tasks, or the benchmark for single-object sets). Track and
    ground rows name every object of a kind; single-point-track rows one object each."""
    scenes = ctx.shared("academic-tracking-pool", _pool)
    videos = [_link(ctx, scene, set_name) for scene in scenes]
    for split, configs in tables.items():
        for config in configs:
            single = sot or config == "single_point_track"
            rows: list[dict] = []
            for i, (scene, video) in enumerate(zip(scenes, videos, strict=True)):
                new = _rows(scene, video, _groups(scene, single), lambda ids, s=scene: _expression(s, ids), 1 + i % 2)
                for r in new:
                    objs = [scene.objects[int(x.rsplit("_", 1)[1])].to_json() for x in r["mask_id"]]
                    ctx.record_truth(name, f"{config}/{split}/{r['id']}",
                                     {"video": video, "path": f"tracking/{set_name}/{video}.mp4", "objects": objs,
                                      "fps": VIDEO_FPS})
                rows += new
            table = pa.table({f.name: [r[f.name] for r in rows] for f in SCHEMA}, schema=SCHEMA)
            ctx.write_table(name, split, table, config=config)


def _mot_writer(name: str, set_name: str, tasks: tuple[str, ...], splits: dict[str, str]) -> None:
    @sample_writer(name)
    def write(ctx: SampleContext) -> None:
        _write_set(ctx, name, set_name, {src: list(tasks) for src in dict.fromkeys(splits.values())}, sot=False)

    write.__doc__ = f"{name}: rows per object kind for tasks {', '.join(tasks)}."


def _sot_writer(name: str, set_name: str) -> None:
    @sample_writer(name)
    def write(ctx: SampleContext) -> None:
        _write_set(ctx, name, set_name, {"train": [set_name]}, sot=True)

    write.__doc__ = f"{name}: one row per object (single-point tracks)."


for _name, _set, _repo, _tasks, _splits in MOT_SETS:
    _mot_writer(_name, _set, _tasks, _splits)
for _name, _set in SOT_SETS:
    _sot_writer(_name, _set)


INSTRUCTION_SCHEMA = pa.schema([*SCHEMA, pa.field("video_dataset", pa.string()), pa.field("clip", pa.string()),
                                pa.field("start_frame", pa.int64()), pa.field("end_frame", pa.int64())])
INSTRUCTION_SOURCES = ("mose", "sav", "sportsmot", "dancetrack")


@sample_writer("molmo2-track-instruction")
def write_track_instruction(ctx: SampleContext) -> None:
    """allenai/molmo2-track-instruction: the academic layout plus the source (``video_dataset``), the
    ``clip`` (file media/videos/tracking/<source>/<clip>.mp4) and its frame bounds in the full video."""
    scenes = ctx.shared("academic-tracking-pool", _pool)
    videos = paths.data_root(ctx.root) / "media" / "videos"
    for task in ("track", "ground", "single_point_track"):
        rows: list[dict] = []
        for i, scene in enumerate(scenes):
            source = INSTRUCTION_SOURCES[i % len(INSTRUCTION_SOURCES)]
            start = 30 + 5 * i
            clip = f"{scene.video_id}_{start}_{start + scene.n_frames - 1}"
            _hard_link(videos / scene.rel_path, videos / "tracking" / source / f"{clip}.mp4")
            for r in _rows(scene, scene.video_id, _groups(scene, task == "single_point_track"), lambda ids, s=scene: _expression(s, ids), 1 + i % 2):
                r.update(video_dataset=source, clip=clip, start_frame=start, end_frame=start + scene.n_frames - 1)
                objs = [scene.objects[int(x.rsplit("_", 1)[1])].to_json() for x in r["mask_id"]]
                ctx.record_truth("molmo2-track-instruction", f"{task}/train/{r['id']}",
                                 {"video": clip, "path": f"tracking/{source}/{clip}.mp4", "objects": objs,
                                  "fps": VIDEO_FPS})
                rows.append(r)
        table = pa.table({f.name: [r[f.name] for r in rows] for f in INSTRUCTION_SCHEMA}, schema=INSTRUCTION_SCHEMA)
        ctx.write_table("molmo2-track-instruction", "train", table, config=task)
