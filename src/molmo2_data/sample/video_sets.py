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
