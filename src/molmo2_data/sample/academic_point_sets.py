"""Sample copy of allenai/molmo2-academic-video-points: synthetic 2 / 4 fps videos (a 2 fps JPEG frame
folder for refdavis17) of shapes bouncing along their own horizontal lanes, some appearing late or
leaving early, under ``media/videos/academic-points/`` in the reader's layout. Each row asks for one kind
(colour + shape) inside a clip [clip_start_time, clip_end_time]: every object of that kind visible in the
clip is pointed at once, at a 0.5 s grid time (absolute, as published) where it is drawn; points are
percent of the frame; ``count`` is their number."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pyarrow as pa
from PIL import Image

from molmo2_data import paths
from molmo2_data.datasets.academic_video_points import SOURCE, VIDEO_ROOTS
from molmo2_data.sample import atomic, sample_writer
from molmo2_data.sample.context import SampleContext
from molmo2_data.sample.video_sets import RADIUS, MovingObject, Scene, render_frame, two_kinds, write_scene

NAME = "molmo2-academic-video-points"
W, H = 160, 144
LANES = (16.0, 44.0, 72.0, 100.0, 128.0)  # 28 px apart: objects of radius 10 never touch
SUBSETS = tuple(VIDEO_ROOTS)
BURST_SOURCES = ("YFCC100M", "LaSOT", "HACS")
VIDEOS_PER_SPLIT = 12

XY = pa.struct([("x", pa.float64()), ("y", pa.float64())])
SCHEMA = pa.schema([("subset", pa.string()), ("video_name", pa.string()), ("dataset", pa.string()),
                    ("count", pa.int64()), ("timestamps", pa.list_(pa.float64())), ("points", pa.list_(pa.list_(XY))),
                    ("category", pa.string()), ("video_duration", pa.float64()), ("clip_start_time", pa.float64()),
                    ("clip_end_time", pa.float64())])


def bounce(rng: np.random.RandomState, n: int, fps: int) -> list[float]:
    """x on every frame: 20-35 px/s back and forth between the margins."""
    lo, hi = RADIUS + 3, W - RADIUS - 3
    x, v = rng.uniform(lo, hi), rng.uniform(20, 35) * (1 if rng.rand() < 0.5 else -1)
    out = []
    for _ in range(n):
        out.append(float(x))
        x += v / fps
        if not lo <= x <= hi:
            v = -v
            x = min(max(x, lo), hi)
    return out


def make_scene(rng: np.random.RandomState, name: str, rel_path: str, fps: int, seconds: int) -> Scene:
    """1-3 objects of kind A and 1-2 of kind B on random lanes. The first of each kind is on screen all
    along; each other one appears on the 0.5 s grid and may leave 3 s or more later."""
    n = fps * seconds
    (sa, ca), (sb, cb) = two_kinds(rng)
    kinds = [(sa, ca)] * int(rng.randint(1, 4)) + [(sb, cb)] * int(rng.randint(1, 3))
    lanes = rng.permutation(len(LANES))[:len(kinds)]
    objects, first_of_kind = [], set()
    for (shape, color), lane in zip(kinds, lanes, strict=True):
        xs = bounce(rng, n, fps)
        if (shape, color) in first_of_kind:
            a = float(rng.randint(0, seconds)) / 2  # seconds 0 .. duration / 2
            end = min(seconds, a + 3 + float(rng.randint(0, 2 * seconds)) / 2)
        else:
            first_of_kind.add((shape, color))
            a, end = 0.0, float(seconds)
        pos = [(x, LANES[lane]) if a * fps <= k < end * fps else None for k, x in enumerate(xs)]
        objects.append(MovingObject(shape, color, RADIUS, pos, a))  # type: ignore[arg-type]
    return Scene(name, rel_path, W, H, fps, n, int(rng.randint(4)), objects)


def write_frames(ctx: SampleContext, scene: Scene) -> None:
    """The scene as a folder of JPEG frames (frame k = time k / fps)."""
    folder = paths.data_root(ctx.root) / "media" / "videos" / scene.rel_path
    for k in range(scene.n_frames):
        buf = io.BytesIO()
        Image.fromarray(render_frame(scene, k)).save(buf, format="JPEG", quality=95)
        atomic.write_bytes(folder / f"{k:05d}.jpg", buf.getvalue())


def query(rng: np.random.RandomState, scene: Scene, kind: tuple[str, str]) -> dict[str, Any] | None:
    """A clip starting on the 0.5 s grid (its end need not be) and one point per object of ``kind``
    visible in it, at a grid time where it is drawn: a shared time ``t0`` when it is drawn then (so
    frames often hold several points), else a random one."""
    cs = float(rng.randint(2, 6)) / 2  # 1.0 .. 2.5 s
    ce = round(min(scene.duration, cs + rng.uniform(5.0, 8.0)), 3)
    grid = np.arange(cs, min(ce, (scene.n_frames - 1) / scene.fps) + 1e-9, 0.5)  # times of drawn frames
    by_time: dict[float, list[dict[str, float]]] = {}
    ids = []
    t0 = float(grid[rng.randint(len(grid))])
    for j, o in enumerate(scene.objects):
        if (o.shape, o.color) != kind:
            continue
        seen = [float(t) for t in grid if o.positions[int(round(t * scene.fps))] is not None]
        if not seen:
            continue
        t = t0 if t0 in seen else seen[int(rng.randint(len(seen)))]
        x, y = o.positions[int(round(t * scene.fps))]  # type: ignore[misc]
        by_time.setdefault(t, []).append({"x": round(100 * x / W, 3), "y": round(100 * y / H, 3)})
        ids.append(j)
    if not ids:
        return None
    ts = sorted(by_time, reverse=bool(rng.rand() < 0.5))  # the reader sorts them
    category = f"{kind[1]} {kind[0]}"
    return {"count": len(ids), "timestamps": ts, "points": [by_time[t] for t in ts],
            "category": category.title() if rng.rand() < 0.5 else category, "video_duration": scene.duration,
            "clip_start_time": cs, "clip_end_time": ce, "_ids": ids}


def video_for(ctx: SampleContext, rng: np.random.RandomState, split: str, i: int) -> tuple[Scene, dict[str, Any]]:
    """A video of subset ``SUBSETS[i % 6]`` written where the reader looks; the row's naming fields."""
    subset = SUBSETS[i % len(SUBSETS)]
    name = f"{subset}_{split}_{i:03d}"
    root = VIDEO_ROOTS[subset].format(split=split)
    dataset = BURST_SOURCES[i // len(SUBSETS) % len(BURST_SOURCES)] if subset == "burst" else None
    folder = subset == "refdavis17"  # frame folder named by video_name
    fps = 2 if folder or i % 2 == 0 else 4
    rel = f"{root}/{dataset}/{name}" if dataset else f"{root}/{name}"
    scene = make_scene(rng, name, f"{SOURCE}/{rel}" + ("" if folder else ".mp4"), fps, 10 + i % 3)
    if folder:
        write_frames(ctx, scene)
    else:
        write_scene(ctx, scene)
    video_name = f"{name}.mp4" if subset in ("mevis", "refyoutube") else name  # named as is, with extension
    return scene, {"subset": subset, "video_name": video_name, "dataset": dataset}


@sample_writer(NAME)
def write_academic_video_points(ctx: SampleContext) -> None:
    rng = ctx.rng(NAME)
    for split in ("train", "val"):
        rows: list[dict[str, Any]] = []
        for i in range(VIDEOS_PER_SPLIT):
            scene, naming = video_for(ctx, rng, split, i)
            kinds = list(dict.fromkeys((o.shape, o.color) for o in scene.objects))
            for kind in kinds:
                q = query(rng, scene, kind)
                if q is None:
                    continue
                ids = q.pop("_ids")
                ctx.record_truth(NAME, f"{split}/{len(rows)}", {
                    **scene.to_json(), "kind": {"shape": kind[0], "color": kind[1]}, "pointed": ids,
                    "frame_folder": naming["subset"] == "refdavis17"})
                rows.append(naming | q)
        table = pa.table({f.name: [r[f.name] for r in rows] for f in SCHEMA}, schema=SCHEMA)
        ctx.write_table(NAME, split, table)
