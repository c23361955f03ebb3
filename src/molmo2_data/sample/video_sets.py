"""Sample writers of the Molmo2 video sets.

Every video is a real H.264 stream (MP4 or MKV, written with PyAV) of flat-coloured shapes on a plain
background. Each object's centre is known on every frame (``None`` when it is not drawn), so the
captions, QA answers, points and tracks written next to the videos are true by construction and the
tests can check them against decoded pixels.

One set of synthetic "YouTube" videos is shared (``ctx.shared``) by the sets keyed by YouTube ids
(Cap, VideoCapQA, VideoSubtitleQA, AskModelAnything, VideoPoint/youtube) to keep the sample small.
Scene content of a shared video: one *mover* that crosses the frame in a straight line, plus 0-4
identical *static* objects that appear one by one (at multiples of 0.5 s) and stay until the end.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pyarrow as pa
from PIL import Image, ImageDraw

from molmo2_data import paths
from molmo2_data.sample import atomic, sample_writer
from molmo2_data.sample.context import SampleContext
from molmo2_data.sample.draw import BACKGROUNDS, COLORS, NUMBER_WORDS, SHAPES, DrawnObject, draw_shape, plural

BACKGROUND_NAMES = ("white", "grey", "cream", "pale blue")
DIRECTIONS = ("left to right", "right to left", "top to bottom", "bottom to top")
CORRUPT_CAP_IDS = ("0OfUqrbRa2Y", "a_")  # two of the ids the official Molmo2-Cap loader drops
VIDEOPOINT_CONFIGS = ("action_or_event", "animal", "anomaly", "comparative reference", "indirect reference",
                      "object", "referring expression", "spatial reference")
RADIUS = 10.0


# ---------------------------------------------------------------------------------------------
# Scenes and video encoding
# ---------------------------------------------------------------------------------------------


@dataclass
class MovingObject:
    """A shape with its centre on every frame (``None`` = not drawn on that frame)."""

    shape: str
    color: str
    radius: float
    positions: list[tuple[float, float] | None]
    appear: float = 0.0  # seconds; first time it is drawn

    @property
    def label(self) -> str:
        return f"{self.color} {self.shape}"

    def to_json(self) -> dict[str, Any]:
        return {"shape": self.shape, "color": self.color, "rgb": COLORS[self.color], "radius": self.radius,
                "appear": self.appear,
                "positions": [None if p is None else [round(p[0], 3), round(p[1], 3)] for p in self.positions]}


@dataclass
class Scene:
    """A synthetic video: its file, timing, and every object's per-frame position."""

    video_id: str
    rel_path: str  # relative to media/videos
    width: int
    height: int
    fps: int
    n_frames: int
    background: int
    objects: list[MovingObject]
    direction: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return self.n_frames / self.fps

    @property
    def mover(self) -> MovingObject:
        return self.objects[0]

    @property
    def statics(self) -> list[MovingObject]:
        return self.objects[1:]

    def to_json(self) -> dict[str, Any]:
        return {"video_id": self.video_id, "path": self.rel_path, "width": self.width, "height": self.height,
                "fps": self.fps, "n_frames": self.n_frames, "duration": self.duration,
                "background": BACKGROUNDS[self.background], "direction": self.direction,
                "objects": [o.to_json() for o in self.objects], **self.extra}


def render_frame(scene: Scene, k: int) -> np.ndarray:
    img = Image.new("RGB", (scene.width, scene.height), BACKGROUNDS[scene.background])
    draw = ImageDraw.Draw(img)
    for obj in scene.objects:
        pos = obj.positions[k]
        if pos is not None:
            draw_shape(draw, DrawnObject(obj.shape, obj.color, pos, obj.radius))
    return np.asarray(img)


def rgb_to_yuv420p(rgb: np.ndarray) -> np.ndarray:
    """BT.601 limited-range YUV 4:2:0 planes (the convention decoders assume for untagged video),
    computed here rather than by swscale, whose threaded conversion is not bit-reproducible."""
    x = rgb.astype(np.float64) / 255.0
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    y = 16 + 65.481 * r + 128.553 * g + 24.966 * b
    cb = 128 - 37.797 * r - 74.203 * g + 112.0 * b
    cr = 128 + 112.0 * r - 93.786 * g - 18.214 * b
    h, w = y.shape

    def sub(c: np.ndarray) -> np.ndarray:
        return c.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))

    planes = np.concatenate([y.ravel(), sub(cb).ravel(), sub(cr).ravel()])
    return np.clip(np.round(planes), 0, 255).astype(np.uint8).reshape(h * 3 // 2, w)


def encode_video(path: Path, scene: Scene) -> None:
    """Write the scene as H.264 (yuv420p); frame k has pts k/fps, so it is displayed at k/fps.
    Single-threaded, without assembly and bitexact, so a seed always gives the same bytes."""
    with atomic.atomic_path(path) as tmp, \
            av.open(str(tmp), "w", container_options={"fflags": "+bitexact"}) as out:  # unique temp name
        stream = out.add_stream("libx264", rate=scene.fps)
        stream.width, stream.height, stream.pix_fmt = scene.width, scene.height, "yuv420p"
        # x264's SIMD paths gave different (equally decodable) bytes from run to run; plain C is exact
        stream.options = {"crf": "20", "preset": "veryfast", "bframes": "0", "threads": "1",
                          "x264-params": "asm=0"}
        stream.codec_context.thread_count = 1
        for k in range(scene.n_frames):
            frame = av.VideoFrame.from_ndarray(rgb_to_yuv420p(render_frame(scene, k)), format="yuv420p")
            frame.pts, frame.time_base = k, Fraction(1, scene.fps)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def youtube_like_id(rng: np.random.RandomState) -> str:
    alphabet = string.ascii_letters + string.digits + "-"
    return "".join(alphabet[rng.randint(len(alphabet))] for _ in range(11))


def mover_path(direction: str, n: int, w: int, h: int, r: float) -> list[tuple[float, float] | None]:
    lo_x, hi_x, lo_y, hi_y = r + 3, w - r - 3, r + 3, h - r - 3
    s = np.linspace(0.0, 1.0, n)
    if direction == "left to right":
        return [(float(lo_x + (hi_x - lo_x) * t), h / 2) for t in s]
    if direction == "right to left":
        return [(float(hi_x - (hi_x - lo_x) * t), h / 2) for t in s]
    if direction == "top to bottom":
        return [(w / 2, float(lo_y + (hi_y - lo_y) * t)) for t in s]
    return [(w / 2, float(hi_y - (hi_y - lo_y) * t)) for t in s]


def place_statics(rng: np.random.RandomState, w: int, h: int, n: int, vertical_path: bool,
                  r: float) -> list[tuple[float, float]]:
    """Positions for static objects outside the mover's corridor and apart from each other."""
    placed: list[tuple[float, float]] = []
    while len(placed) < n:
        x, y = rng.uniform(r + 3, w - r - 3), rng.uniform(r + 3, h - r - 3)
        off_path = abs(x - w / 2) > 2 * r + 3 if vertical_path else abs(y - h / 2) > 2 * r + 3
        if off_path and all((x - px) ** 2 + (y - py) ** 2 > (2 * r + 3) ** 2 for px, py in placed):
            placed.append((float(x), float(y)))
    return placed


def two_kinds(rng: np.random.RandomState) -> tuple[tuple[str, str], tuple[str, str]]:
    colors = list(COLORS)
    ca, cb = rng.choice(len(colors), 2, replace=False)
    return (SHAPES[rng.randint(len(SHAPES))], colors[ca]), (SHAPES[rng.randint(len(SHAPES))], colors[cb])


def make_scene(rng: np.random.RandomState, video_id: str, rel_path: str, w: int, h: int, fps: int,
               seconds: int, n_static: int) -> Scene:
    """A mover crossing the frame plus ``n_static`` identical objects appearing on the 0.5 s grid."""
    n = fps * seconds
    (ms, mc), (ss, sc) = two_kinds(rng)
    direction = DIRECTIONS[rng.randint(len(DIRECTIONS))]
    objects = [MovingObject(ms, mc, RADIUS, mover_path(direction, n, w, h, RADIUS))]
    spots = place_statics(rng, w, h, n_static, direction in DIRECTIONS[2:], RADIUS)
    grid = np.arange(0.0, seconds - 1.0 + 1e-9, 0.5)  # appear no later than 1 s before the end
    for pos in spots:
        appear = float(grid[rng.randint(len(grid))])
        first = int(round(appear * fps))
        objects.append(MovingObject(ss, sc, RADIUS, [None] * first + [pos] * (n - first), appear))
    objects[1:] = sorted(objects[1:], key=lambda o: o.appear)
    return Scene(video_id, rel_path, w, h, fps, n, int(rng.randint(len(BACKGROUNDS))), objects, direction)


def write_scene(ctx: SampleContext, scene: Scene) -> Scene:
    encode_video(paths.data_root(ctx.root) / "media" / "videos" / scene.rel_path, scene)
    return scene


def make_youtube_videos(ctx: SampleContext, n: int = 24) -> list[Scene]:
    """The shared synthetic YouTube videos (ids look like YouTube ids; every third one is MKV)."""
    rng = ctx.rng("molmo2-youtube-videos")
    scenes = []
    used: set[str] = set(CORRUPT_CAP_IDS)
    for i in range(n):
        vid = youtube_like_id(rng)
        while vid in used:
            vid = youtube_like_id(rng)
        used.add(vid)
        w, h = ((160, 128), (192, 144))[i % 2]
        ext = "mkv" if i % 3 == 2 else "mp4"
        seconds = 3 + i % 4
        scenes.append(write_scene(ctx, make_scene(rng, vid, f"youtube/{vid}.{ext}", w, h, 10, seconds,
                                                  n_static=int(rng.randint(0, 5)))))
    return scenes


def youtube_videos(ctx: SampleContext) -> list[Scene]:
    return ctx.shared("molmo2-youtube-videos", make_youtube_videos)


# ---------------------------------------------------------------------------------------------
# True text about a scene
# ---------------------------------------------------------------------------------------------


def number_word(n: int) -> str:
    return NUMBER_WORDS[n] if n < len(NUMBER_WORDS) else str(n)


def where(scene: Scene, pos: tuple[float, float]) -> str:
    col = "left" if pos[0] < scene.width / 3 else "right" if pos[0] > 2 * scene.width / 3 else "middle"
    row = "top" if pos[1] < scene.height / 3 else "bottom" if pos[1] > 2 * scene.height / 3 else "middle"
    return "centre" if col == row == "middle" else f"{row} {col}" if row != "middle" else f"middle {col}"


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def short_caption(scene: Scene) -> str:
    m, k = scene.mover, len(scene.statics)
    text = (f"{article(m.label).capitalize()} {m.label} moves from {scene.direction} across a {BACKGROUND_NAMES[scene.background]} "
            f"background")
    if k:
        s = scene.statics[0]
        text += f", while {number_word(k)} {s.color} {plural(s.shape, k)} appear"
        text += " one by one" if k > 1 else ""
    return text + "."


def merged_caption(scene: Scene) -> str:
    m = scene.mover
    parts = [short_caption(scene),
             f"The {m.label} moves at a steady speed and reaches the other side at the end of the "
             f"{scene.duration:g}-second video."]
    for i, s in enumerate(scene.statics):
        parts.append(f"{article(s.label).capitalize() if i == 0 else 'Another'} {s.label} appears at {s.appear:g} seconds in the "
                     f"{where(scene, s.positions[-1])} of the frame and stays there.")  # type: ignore[arg-type]
    if not scene.statics:
        parts.append("Nothing else appears in the video.")
    return " ".join(parts)


def frame_caption(scene: Scene) -> str:
    """Second-by-second description (the frame-merged caption)."""
    lines = []
    for sec in range(int(scene.duration)):
        k = sec * scene.fps
        visible = sum(1 for s in scene.statics if s.positions[k] is not None)
        line = f"At {sec} seconds the {scene.mover.label} is in the {where(scene, scene.mover.positions[k])}"
        if scene.statics:
            s = scene.statics[0]
            line += f" and {number_word(visible)} {s.color} {plural(s.shape, visible)} can be seen"
        lines.append(line + ".")
    return merged_caption(scene) + " " + " ".join(lines)


def choices(rng: np.random.RandomState, correct: str, pool: list[str], n: int = 3) -> list[str]:
    others = [p for p in pool if p != correct]
    return [others[i] for i in rng.choice(len(others), min(n, len(others)), replace=False)]


def capqa_items(rng: np.random.RandomState, scene: Scene) -> list[dict[str, Any]]:
    """Multiple-choice QA whose correct answer is true of the scene."""
    m, k = scene.mover, len(scene.statics)
    items = [
        {"Question": f"What colour is the {m.shape} that moves across the video?",
         "Answer": m.color.capitalize(), "Category": "color",
         "NegativeAnswers": [c.capitalize() for c in choices(rng, m.color, list(COLORS))]},
        {"Question": f"In which direction does the {m.label} move?", "Answer": f"From {scene.direction}",
         "Category": "motion",
         "NegativeAnswers": [f"From {d}" for d in choices(rng, scene.direction, list(DIRECTIONS))]},
    ]
    if k:
        s = scene.statics[0]
        items.append({"Question": f"How many {s.color} {plural(s.shape, 2)} are visible at the end of the video?",
                      "Answer": str(k), "Category": "counting",
                      "NegativeAnswers": [str(c) for c in choices(rng, str(k), [str(i) for i in range(1, 7)])]})
    return items


def subtitles_for(scene: Scene) -> list[dict[str, Any]]:
    subs = [{"start": 0.0, "end": 1.0, "text": f"Keep your eyes on the {scene.mover.label}."}]
    if scene.statics:
        s = scene.statics[0]
        subs.append({"start": s.appear, "end": s.appear + 0.5,
                     "text": f"Here comes the first {s.label}!"})
    subs.append({"start": scene.duration - 1.0, "end": scene.duration,
                 "text": "That is the end of our little show."})
    return subs


# ---------------------------------------------------------------------------------------------
# Writers of the YouTube-id sets
# ---------------------------------------------------------------------------------------------


@sample_writer("molmo2-cap")
def write_molmo2_cap(ctx: SampleContext) -> None:
    """One row per video (train: all shared videos; val: five of them) plus rows the official
    filters drop: two corrupt ids and one ``annotation_score < 3``."""
    rng = ctx.rng("molmo2-cap")
    scenes = youtube_videos(ctx)
    schema = pa.schema([("video_id", pa.string()), ("video_caption", pa.string()),
                        ("merged_caption", pa.string()), ("video_frame_merged_caption", pa.string()),
                        ("annotation_score", pa.int64())])

    def rows_for(selected: list[Scene], dropped: bool) -> pa.Table:
        rows: dict[str, list] = {f.name: [] for f in schema}
        for i, s in enumerate(selected):
            frame_cap = "" if i % 5 == 4 else frame_caption(s)  # published: "may be empty"
            for col, val in zip(schema.names, (s.video_id, short_caption(s), merged_caption(s), frame_cap,
                                               int(rng.randint(3, 6))), strict=True):
                rows[col].append(val)
            ctx.record_truth("molmo2-cap", s.video_id, s.to_json())
        if dropped:
            for vid, score in ((CORRUPT_CAP_IDS[0], 5), (CORRUPT_CAP_IDS[1], 4), (selected[0].video_id, 2)):
                for col, val in zip(schema.names, (vid, "A low quality caption.", "", "", score), strict=True):
                    rows[col].append(val)
        return pa.table(rows, schema=schema)

    ctx.write_table("molmo2-cap", "train", rows_for(scenes, dropped=True))
    ctx.write_table("molmo2-cap", "val", rows_for(scenes[:5], dropped=False))


@sample_writer("molmo2-videocapqa")
def write_molmo2_videocapqa(ctx: SampleContext) -> None:
    rng = ctx.rng("molmo2-videocapqa")
    schema = pa.schema([("video_id", pa.string()), ("Question", pa.string()), ("Answer", pa.string()),
                        ("NegativeAnswers", pa.list_(pa.string())), ("Category", pa.string())])
    rows: dict[str, list] = {f.name: [] for f in schema}
    for s in youtube_videos(ctx):
        items = capqa_items(rng, s)
        for item in items:
            rows["video_id"].append(s.video_id)
            for col in schema.names[1:]:
                rows[col].append(item[col])
        ctx.record_truth("molmo2-videocapqa", s.video_id, {**s.to_json(), "qa": items})
    ctx.write_table("molmo2-videocapqa", "CapQA", pa.table(rows, schema=schema))


@sample_writer("molmo2-videosubtitleqa")
def write_molmo2_videosubtitleqa(ctx: SampleContext) -> None:
    rng = ctx.rng("molmo2-videosubtitleqa")
    sub_type = pa.list_(pa.struct([("start", pa.float64()), ("end", pa.float64()), ("text", pa.string())]))
    schema = pa.schema([("video_id", pa.string()), ("Question", pa.string()), ("Answer", pa.string()),
                        ("NegativeAnswers", pa.list_(pa.string())), ("Category", pa.string()),
                        ("AlignmentType", pa.string()), ("subtitle", sub_type)])
    rows: dict[str, list] = {f.name: [] for f in schema}
    for s in youtube_videos(ctx):
        subs = subtitles_for(s)
        items = [{"Question": "What does the speaker tell the viewer to keep their eyes on?",
                  "Answer": f"The {s.mover.label}", "Category": "subtitle", "AlignmentType": "aligned",
                  "NegativeAnswers": [f"The {c} {s.mover.shape}" for c in choices(rng, s.mover.color, list(COLORS))]}]
        items += [{**it, "AlignmentType": "visual_only"} for it in capqa_items(rng, s)[:1]]
        for item in items:
            rows["video_id"].append(s.video_id)
            rows["subtitle"].append(subs)
            for col in schema.names[1:6]:
                rows[col].append(item[col])
        ctx.record_truth("molmo2-videosubtitleqa", s.video_id, {**s.to_json(), "qa": items, "subtitles": subs})
    ctx.write_table("molmo2-videosubtitleqa", "SubtitleQA", pa.table(rows, schema=schema))


@sample_writer("molmo2-askmodelanything")
def write_molmo2_askmodelanything(ctx: SampleContext) -> None:
    """Human QA rows with stray whitespace (stripped by the reader) and one empty answer per fourth
    video (dropped by the reader, as the official loader does)."""
    schema = pa.schema([("video_id", pa.string()), ("question", pa.string()), ("answer", pa.string())])
    rows: dict[str, list] = {f.name: [] for f in schema}
    for i, s in enumerate(youtube_videos(ctx)):
        k = len(s.statics)
        qa = [(f"  What is the {s.mover.shape} doing? ", f"It moves from {s.direction} at a steady speed.\n"),
              ("How long is the video?", f"The video is {s.duration:g} seconds long.")]
        if k:
            qa.append((f"How many {s.statics[0].color} shapes appear?", f" {number_word(k).capitalize()}. "))
        if i % 4 == 0:
            qa.append(("Is there any sound?", "   "))
        for q, a in qa:
            rows["video_id"].append(s.video_id)
            rows["question"].append(q)
            rows["answer"].append(a)
        kept = [(q.strip(), a.strip()) for q, a in qa if a.strip()]
        ctx.record_truth("molmo2-askmodelanything", s.video_id, {**s.to_json(), "qa": kept})
    ctx.write_table("molmo2-askmodelanything", "HumanQA", pa.table(rows, schema=schema))


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


@sample_writer("molmo2-videopoint")
def write_molmo2_videopoint(ctx: SampleContext) -> None:
    rng = ctx.rng("molmo2-videopoint")
    queries: list[tuple[Scene, dict[str, Any]]] = []
    sources = [("youtube", s) for s in youtube_videos(ctx)]
    sources += [("generated", s) for s in make_source_videos(ctx, "generated", "mp4", 4)]
    sources += [("MammalNet", s) for s in make_source_videos(ctx, "MammalNet", "mkv", 4)]
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

TRACK_DATASETS = ("MOSE", "SA-V", "SportsMOT", "DanceTrack")


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
    objects). Every third scene has no clip file: its row points into the full video with
    start_frame > 0 and its points cover frames start_frame..end_frame."""
    rng = ctx.rng("molmo2-videotrack")
    pt = pa.struct([("object_id", pa.int64()), ("points", pa.list_(pa.list_(pa.float64())))])
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
        video = f"{dataset.lower().replace('-', '')}_{i:04d}"
        full = i % 3 == 2
        start = 5 if full else int(rng.randint(10, 60))
        n = fps * 3
        if full:  # the file is the whole video; annotated frames start at `start`
            file_name = f"{video}.{ext}"
            scene = track_scene(rng, video, f"tracking/{dataset}/{file_name}", fps, start + n)
            for o in scene.objects:
                o.positions[:start] = [o.positions[start]] * start
        else:
            file_name = f"{video}_{start}_{start + n - 1}.{ext}"
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
                         "clip": None if full else file_name, "video_dataset": dataset, "video_source": dataset,
                         "exp": exp, "obj_id": ids, "mask_id": [f"{video}_{j}" for j in ids],
                         "points": [{"object_id": j, "points": pp} for j, pp in zip(ids, per_obj, strict=True)],
                         "segments": segments, "start_frame": start, "end_frame": start + n - 1,
                         "w": scene.width, "h": scene.height, "n_frames": n, "fps": float(fps)})
            ctx.record_truth("molmo2-videotrack", rows[-1]["id"],
                             {**scene.to_json(), "object_ids": ids, "first_frame": first})
    table = pa.table({f.name: [r[f.name] for r in rows] for f in schema}, schema=schema)
    ctx.write_table("molmo2-videotrack", "train", table)
