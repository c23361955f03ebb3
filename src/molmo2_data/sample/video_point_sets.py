"""Sample writers of the Molmo2 video pointing, counting, tracking and eval sets (VideoPoint, VideoCountEval,
VideoPointEval, CapEval, VideoTrack), on the scenes of ``video_sets`` (split from it to keep both modules small)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
from PIL import Image, ImageDraw

from molmo2_data.sample import sample_writer
from molmo2_data.sample.context import SampleContext
from molmo2_data.sample.draw import BACKGROUNDS, DrawnObject, draw_shape, plural
from molmo2_data.sample.video_sets import (
    BACKGROUND_NAMES,
    RADIUS,
    VIDEOPOINT_CONFIGS,
    MovingObject,
    Scene,
    article,
    make_scene,
    merged_caption,
    mover_path,
    number_word,
    two_kinds,
    write_scene,
    youtube_videos,
)

# ---------------------------------------------------------------------------------------------
# Molmo2-VideoPoint
# ---------------------------------------------------------------------------------------------


def grid_ceil(t: float) -> float:
    return float(np.ceil(t * 2 - 1e-9) / 2)


def point_row(scene: Scene, objects: list[MovingObject], times: list[float], label: str, question: str,
              config: str, source: str, clip: tuple[float, float] | None, unsure: bool) -> dict[str, Any]:
    """One VideoPoint row: ``objects[i]`` pointed at absolute time ``times[i]`` (grid multiples)."""
    by_time: dict[float, list[dict[str, float]]] = {}
    for obj, t in zip(objects, times, strict=True):
        x, y = obj.positions[int(round(t * scene.fps))]  # type: ignore[misc]
        by_time.setdefault(t, []).append({"x": round(100 * x / scene.width, 3), "y": round(100 * y / scene.height, 3)})
    ts = sorted(by_time)
    return {"video_id": scene.video_id, "video_source": source, "label": label, "question": question,
            "count": len(objects), "category": config, "two_fps_timestamps": ts,
            "points": [by_time[t] for t in ts], "clip_start": None if clip is None else clip[0],
            "clip_end": None if clip is None else clip[1], "video_duration": scene.duration,
            "annotator_unsure": unsure, "raw_frames": [int(round(t * scene.fps)) for t in ts],
            "raw_timestamps": ts, "_config": config}


def static_query(scene: Scene, config: str, source: str, clip_start: float | None,
                 unsure: bool = False) -> dict[str, Any]:
    """Point to every static object once, 0.5 s after it appears (or in the clip, if one is given).

    A clip (cs, cs + 3.5) is given only when all objects appear by its end, so the count is the same
    for the whole video and for the clip; the points stay true after the reader floors clip-relative
    times to the 0.5 s grid because the objects do not move once they appear."""
    kind = scene.statics[0] if scene.statics else None
    label = f"{kind.color} {plural(kind.shape, 2)}" if kind else f"{scene.mover.color} stars"
    clip = None
    if clip_start is not None:
        ce = min(scene.duration, clip_start + 3.5)
        if all(o.appear + 0.5 <= min(ce, scene.duration - 0.5) for o in scene.statics):
            clip = (clip_start, ce)
    lo = grid_ceil(clip[0] + 0.5) if clip else 0.0
    times = [max(o.appear + 0.5, lo) for o in scene.statics]
    return point_row(scene, scene.statics, times, label, f"How many {label} are there?", config, source, clip,
                     unsure)


def mover_query(scene: Scene, rng: np.random.RandomState, config: str, source: str) -> dict[str, Any]:
    t = float(rng.randint(0, int(scene.duration * 2))) / 2
    label = f"the {scene.mover.label} that is moving"
    return point_row(scene, [scene.mover], [t], label, f"Point to {label}.", config, source, None, False)


def make_source_videos(ctx: SampleContext, source: str, ext: str, n: int) -> list[Scene]:
    """Videos of a non-YouTube VideoPoint source, re-encoded at 2 fps and named ``<id>_2fps``."""
    rng = ctx.rng(f"molmo2-videopoint-{source}")
    prefix = {"generated": "gen", "MammalNet": "mammalnet"}[source]
    scenes = []
    for i in range(n):
        vid = f"{prefix}_{i:05d}"
        scene = make_scene(rng, vid, f"{source}/{vid}_2fps.{ext}", 160, 128, 2, 4 + i % 2,
                           n_static=int(rng.randint(1, 5)))
        scenes.append(write_scene(ctx, scene))
    return scenes


CROWD_SIZES = (8, 14, 30, 45)  # statics of the crowd videos: the official count ranges 6-25 and 26-60


def crowd_scene(rng: np.random.RandomState, video_id: str, rel_path: str, n_static: int) -> Scene:
    """A 320x240, 2 fps, 4 s video of a mover plus ``n_static`` small identical shapes (radius 6) on a
    grid, all appearing at 0.5 s, so the counts of the larger VideoPoint ranges occur in the sample."""
    w, h, fps, seconds, r = 320, 240, 2, 4, 6.0
    n = fps * seconds
    (ms, mc), (ss, sc) = two_kinds(rng)
    objects = [MovingObject(ms, mc, 10.0, mover_path("left to right", n, w, h, 10.0))]
    cells = [(x, y) for y in range(12, h - 8, 20) for x in range(12, w - 8, 20) if abs(y - h / 2) > 24]
    for j in rng.choice(len(cells), n_static, replace=False):
        objects.append(MovingObject(ss, sc, r, [None] + [tuple(map(float, cells[j]))] * (n - 1), 0.5))
    return Scene(video_id, rel_path, w, h, fps, n, int(rng.randint(4)), objects, "left to right")


@sample_writer("molmo2-videopoint")
def write_molmo2_videopoint(ctx: SampleContext) -> None:
    rng = ctx.rng("molmo2-videopoint")
    queries: list[tuple[Scene, dict[str, Any]]] = []
    sources = [("youtube", s) for s in youtube_videos(ctx)]
    sources += [("generated", s) for s in make_source_videos(ctx, "generated", "mp4", 4)]
    sources += [("MammalNet", s) for s in make_source_videos(ctx, "MammalNet", "mkv", 4)]
    crowd_rng = ctx.rng("molmo2-videopoint-crowds")
    sources += [("generated", write_scene(ctx, crowd_scene(crowd_rng, f"crowd_{k:03d}", f"generated/crowd_{k:03d}_2fps.mp4",
                                                           k))) for k in CROWD_SIZES]
    for i, (source, scene) in enumerate(sources):
        config = VIDEOPOINT_CONFIGS[i % len(VIDEOPOINT_CONFIGS)]
        clip_start = (0.3, 0.5, 1.2)[i % 3] if scene.duration >= 5 else None
        queries.append((scene, static_query(scene, config, source, clip_start, unsure=i % 7 == 3)))
        if i % 3 == 0:
            queries.append((scene, mover_query(scene, rng, VIDEOPOINT_CONFIGS[(i + 3) % 8], source)))
    sub = pa.struct([("x", pa.float64()), ("y", pa.float64())])
    schema = pa.schema([("video_id", pa.string()), ("video_source", pa.string()), ("label", pa.string()),
                        ("question", pa.string()), ("count", pa.int64()), ("category", pa.string()),
                        ("two_fps_timestamps", pa.list_(pa.float64())), ("points", pa.list_(pa.list_(sub))),
                        ("clip_start", pa.float64()), ("clip_end", pa.float64()), ("video_duration", pa.float64()),
                        ("annotator_unsure", pa.bool_()), ("raw_frames", pa.list_(pa.int64())),
                        ("raw_timestamps", pa.list_(pa.float64()))])
    for config in VIDEOPOINT_CONFIGS:
        rows = [q for _, q in queries if q["_config"] == config]
        table = pa.table({f.name: [r[f.name] for r in rows] for f in schema}, schema=schema)
        ctx.write_table("molmo2-videopoint", "train", table, config=config)
    truth: dict[str, dict[str, Any]] = {}
    for scene, q in queries:
        entry = truth.setdefault(scene.video_id, {**scene.to_json(), "queries": []})
        entry["queries"].append({k: v for k, v in q.items() if k != "_config"} | {"config": q["_config"]})
    for video_id, entry in truth.items():
        ctx.record_truth("molmo2-videopoint", video_id, entry)


# ---------------------------------------------------------------------------------------------
# Molmo2-VideoCountEval
# ---------------------------------------------------------------------------------------------


def count_rows(scene: Scene, k: int) -> list[dict[str, Any]]:
    """Counting questions about one shared YouTube scene: the whole video and, for longer videos, a
    clip starting at 0.5 s whose end is at least 0.5 s away from every appearance (so the count in the
    clip is unambiguous: objects never leave once they appear)."""
    if scene.statics:
        kind = scene.statics[0]
        label, appears = f"{kind.color} {plural(kind.shape, 2)}", [o.appear for o in scene.statics]
    else:  # nothing static: ask about the mover's kind (it is on screen from the start)
        label, appears = f"{scene.mover.color} {plural(scene.mover.shape, 2)}", [0.0]
    base = {"video_id": scene.video_id, "video_source": "youtube", "label": label,
            "category": ("objects", "shapes", "colors")[k % 3], "question": f"How many {label} are there?",
            "video_duration": scene.duration}
    rows = [base | {"clip_start": None, "clip_end": None, "count": len(appears)}]
    ends = [float(e) for e in np.arange(1.5, scene.duration - 0.25, 0.5) if all(abs(a - e) >= 0.5 for a in appears)]
    if scene.duration >= 4 and ends:
        partial = [e for e in ends if sum(a <= e - 0.5 for a in appears) < len(appears)]
        end = partial[len(partial) // 2] if partial else ends[-1]  # prefer a clip that sees fewer objects
        rows.append(base | {"clip_start": 0.5, "clip_end": end, "count": sum(a <= end - 0.5 for a in appears)})
    return rows


@sample_writer("molmo2-videocounteval")
def write_molmo2_videocounteval(ctx: SampleContext) -> None:
    rows = [r for k, scene in enumerate(youtube_videos(ctx)) for r in count_rows(scene, k)]
    schema = pa.schema([("video_id", pa.string()), ("video_source", pa.string()), ("clip_start", pa.float64()),
                        ("clip_end", pa.float64()), ("count", pa.int64()), ("label", pa.string()),
                        ("category", pa.string()), ("question", pa.string()), ("video_duration", pa.float64())])
    ctx.write_table("molmo2-videocounteval", "val", pa.table({f.name: [r[f.name] for r in rows] for f in schema},
                                                           schema=schema))
    for i, r in enumerate(rows):
        ctx.record_truth("molmo2-videocounteval", i, r)


# ---------------------------------------------------------------------------------------------
# Molmo2-VideoPointEval
# ---------------------------------------------------------------------------------------------


def object_mask(scene: Scene, obj: MovingObject, k: int) -> np.ndarray:
    """The pixels ``obj`` covers on frame ``k`` (drawn with the same code as the frame)."""
    canvas = Image.new("L", (scene.width, scene.height), 0)
    pos = obj.positions[k]
    if pos is not None:
        draw_shape(ImageDraw.Draw(canvas), DrawnObject(obj.shape, obj.color, pos, obj.radius), fill=255)
    return np.asarray(canvas) > 0


def point_eval_row(scene: Scene) -> dict[str, Any]:
    """Point to every static object once, 0.5 s after it appears; each object's masks on every 2 fps
    frame from then to the end (frame_id = 2 t), COCO-compressed."""
    from molmo2_data.media.rle import encode

    kind = scene.statics[0]
    times = [o.appear + 0.5 for o in scene.statics]
    masks = []
    for obj in scene.statics:
        frames = []
        for t in np.arange(obj.appear + 0.5, scene.duration - 0.25, 0.5):
            frames.append({"frame_id": int(round(2 * t)), "rle": encode(object_mask(scene, obj, int(round(t * scene.fps))))})
        masks.append(frames)
    points = [{"x": round(o.positions[int(round(t * scene.fps))][0], 2),  # type: ignore[index]
               "y": round(o.positions[int(round(t * scene.fps))][1], 2)} for o, t in zip(scene.statics, times, strict=True)]
    return {"video_id": scene.video_id, "video_source": "youtube", "width": scene.width, "height": scene.height,
            "video_duration": scene.duration, "two_fps_timestamps": times, "points": points, "masks": masks,
            "label": f"{kind.color} {plural(kind.shape, 2)}"}


@sample_writer("molmo2-videopointeval")
def write_molmo2_videopointeval(ctx: SampleContext) -> None:
    rows = [point_eval_row(scene) for scene in youtube_videos(ctx) if scene.statics]
    rle = pa.struct([("size", pa.list_(pa.int64())), ("counts", pa.string())])
    schema = pa.schema([("video_id", pa.string()), ("video_source", pa.string()), ("width", pa.int64()),
                        ("height", pa.int64()), ("video_duration", pa.float64()),
                        ("two_fps_timestamps", pa.list_(pa.float64())),
                        ("points", pa.list_(pa.struct([("x", pa.float64()), ("y", pa.float64())]))),
                        ("masks", pa.list_(pa.list_(pa.struct([("frame_id", pa.int64()), ("rle", rle)])))),
                        ("label", pa.string())])
    ctx.write_table("molmo2-videopointeval", "val", pa.table({f.name: [r[f.name] for r in rows] for f in schema},
                                                           schema=schema))
    for i, r in enumerate(rows):
        ctx.record_truth("molmo2-videopointeval", i, {k: v for k, v in r.items() if k != "masks"})


# ---------------------------------------------------------------------------------------------
# Molmo2-CapEval
# ---------------------------------------------------------------------------------------------


def capeval_statements(scene: Scene) -> list[tuple[str, str]]:
    """(atomic statement, category) pairs that are true of a scene (and said by its merged caption)."""
    m = scene.mover
    out = [(f"{article(m.label).capitalize()} {m.label} moves from {scene.direction}.", "action"),
           (f"The background is {BACKGROUND_NAMES[scene.background]}.", "scene")]
    if scene.statics:
        s, k = scene.statics[0], len(scene.statics)
        out.append((f"{number_word(k).capitalize()} {s.color} {plural(s.shape, k)} appear.", "object"))
    return out


@sample_writer("molmo2-capeval")
def write_molmo2_capeval(ctx: SampleContext) -> None:
    """Vimeo (whole files, cut by the row's bounds), BDD100K and pre-cut Ego4D clips."""
    from molmo2_data.datasets.molmo2_video import ego4d_clip_name

    rng = ctx.rng("molmo2-capeval")
    rows = []
    for i in range(21):
        source = ("vimeo", "bdd100k", "ego4d")[i % 3]
        vid = str(100000 + i) if source == "vimeo" else f"{source[:3]}{i:04d}"
        start, end = (0.5, 3.5) if source != "ego4d" else (12.5 + i, 15.5 + i)
        name = {"vimeo": f"vimeo_{vid}", "bdd100k": vid, "ego4d": ego4d_clip_name(vid, start, end)}[source]
        scene = make_scene(rng, vid, f"{source}/{name}.mp4", 160, 128, 10, 4, n_static=int(rng.randint(0, 4)))
        write_scene(ctx, scene)
        pairs = capeval_statements(scene)
        rows.append({"video_id": vid, "source": source, "video_start": start, "video_end": end,
                     "duration": end - start, "atomic_statements": [p for p, _ in pairs],
                     "statement_categories": [c for _, c in pairs], "aggregated_caption": merged_caption(scene)})
        ctx.record_truth("molmo2-capeval", i, {**rows[-1], "scene": scene.to_json()})
    schema = pa.schema([("video_id", pa.string()), ("source", pa.string()), ("video_start", pa.float64()),
                        ("video_end", pa.float64()), ("duration", pa.float64()),
                        ("atomic_statements", pa.list_(pa.string())), ("statement_categories", pa.list_(pa.string())),
                        ("aggregated_caption", pa.string())])
    ctx.write_table("molmo2-capeval", "test", pa.table({f.name: [r[f.name] for r in rows] for f in schema},
                                                      schema=schema))


# ---------------------------------------------------------------------------------------------
# Molmo2-VideoTrack
# ---------------------------------------------------------------------------------------------

TRACK_DATASETS = ("mose", "sav", "sportsmot", "dancetrack")  # lower case, as the published video_dataset


def track_scene(rng: np.random.RandomState, name: str, rel_path: str, fps: int, n: int) -> Scene:
    """2-3 objects, each moving in its own horizontal lane (so they never overlap); the second
    object is hidden (not drawn) for a stretch of frames, which the annotation marks as null."""
    w, h = 176, 144
    lanes = [h * 0.25, h * 0.5, h * 0.75]
    n_obj = int(rng.randint(2, 4))
    (s1, c1), (s2, c2) = two_kinds(rng)
    kinds = [(s1, c1), (s2, c2), (s2, c2) if rng.rand() < 0.5 else (s1, c1)][:n_obj]
    objects = []
    for j, (shape, color) in enumerate(kinds):
        x0, x1 = rng.uniform(RADIUS + 3, w - RADIUS - 3, 2)
        pos: list[tuple[float, float] | None] = [(float(x0 + (x1 - x0) * t), float(lanes[j]))
                                                 for t in np.linspace(0, 1, n)]
        if j == 1:
            a = int(rng.randint(n // 4, n // 2))
            pos[a:a + n // 4] = [None] * (n // 4)
        objects.append(MovingObject(shape, color, RADIUS, pos))
    return Scene(name, rel_path, w, h, fps, n, int(rng.randint(len(BACKGROUNDS))), objects)


@sample_writer("molmo2-videotrack")
def write_molmo2_videotrack(ctx: SampleContext, n_scenes: int = 12) -> None:
    """Clips of four "source datasets"; one row per object kind (an expression may name several
    objects). The published schema: ``clip`` names carry no extension (the file is ``<clip>.mp4``),
    ``video_dataset`` is lower case, and each point's ``object_id`` is a string key into the row's
    ``mask_id`` list. Every third scene has no clip file (null ``clip``; a case the reader also
    accepts): its row points into the full video with start_frame > 0 and its points cover frames
    start_frame..end_frame."""
    rng = ctx.rng("molmo2-videotrack")
    pt = pa.struct([("object_id", pa.string()), ("points", pa.list_(pa.list_(pa.float64())))])
    schema = pa.schema([("id", pa.string()), ("video", pa.string()), ("clip", pa.string()),
                        ("video_dataset", pa.string()), ("video_source", pa.string()), ("exp", pa.string()),
                        ("obj_id", pa.list_(pa.int64())), ("mask_id", pa.list_(pa.string())),
                        ("points", pa.list_(pt)), ("segments", pa.list_(pa.list_(pa.int64()))),
                        ("start_frame", pa.int64()), ("end_frame", pa.int64()), ("w", pa.int64()),
                        ("h", pa.int64()), ("n_frames", pa.int64()), ("fps", pa.float64())])
    rows: list[dict[str, Any]] = []
    for i in range(n_scenes):
        dataset = TRACK_DATASETS[i % len(TRACK_DATASETS)]
        fps = (10, 5)[i % 2]
        ext = "mkv" if i % 4 == 1 else "mp4"
        video = f"{dataset}_{i:04d}"
        full = i % 3 == 2
        start = 5 if full else int(rng.randint(10, 60))
        n = fps * 3
        if full:  # the file is the whole video; annotated frames start at `start`
            file_name = f"{video}.{ext}"
            scene = track_scene(rng, video, f"tracking/{dataset}/{file_name}", fps, start + n)
            for o in scene.objects:
                o.positions[:start] = [o.positions[start]] * start
        else:
            file_name = f"{video}_{start}_{start + n - 1}.mp4"  # clips are always <clip>.mp4
            scene = track_scene(rng, video, f"tracking/{dataset}/{file_name}", fps, n)
        write_scene(ctx, scene)
        first = start if full else 0
        kinds: dict[str, list[int]] = {}
        for j, o in enumerate(scene.objects):
            kinds.setdefault(o.label, []).append(j)
        for label, ids in kinds.items():
            objs = [scene.objects[j] for j in ids]
            color, shape = label.split()
            exp = f"the {label}" if len(ids) == 1 else f"the {number_word(len(ids))} {color} {plural(shape, 2)}"
            per_obj = [[None if p is None else [round(p[0], 2), round(p[1], 2)] for p in o.positions[first:]]
                       for o in objs]
            segments = [[start + min(k for k, p in enumerate(pp) if p is not None),
                         start + max(k for k, p in enumerate(pp) if p is not None)] for pp in per_obj]
            rows.append({"id": f"{video}_{len(rows):03d}", "video": f"{video}.{ext}",
                         "clip": None if full else file_name[: -len(".mp4")], "video_dataset": dataset,
                         "video_source": dataset, "exp": exp, "obj_id": ids,
                         "mask_id": [f"{video}_{j}" for j in ids],
                         "points": [{"object_id": f"{video}_{j}", "points": pp}
                                    for j, pp in zip(ids, per_obj, strict=True)],
                         "segments": segments, "start_frame": start, "end_frame": start + n - 1,
                         "w": scene.width, "h": scene.height, "n_frames": n, "fps": float(fps)})
            ctx.record_truth("molmo2-videotrack", rows[-1]["id"],
                             {**scene.to_json(), "object_ids": ids, "first_frame": first})
    table = pa.table({f.name: [r[f.name] for r in rows] for f in schema}, schema=schema)
    ctx.write_table("molmo2-videotrack", "train", table)
