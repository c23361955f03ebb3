"""The one example type every dataset reader produces.

An :class:`Example` is *media* (no media, one image, several images, or one video) plus one or more
*annotations* of that media (a message tree: all QA pairs / point queries of one image become one
example, as the official loaders group them) plus :class:`Metadata`.

Annotations stay structured until the formatter: points are float arrays with an explicit scale,
counts are ints, times are numbers. Nothing here renders text for the model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

# --------------------------------------------------------------------------------------------
# Media
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ImageRef:
    """An image that is decoded on demand: a local file, bytes embedded in a table, or pixels already
    decoded (``array``, e.g. a video frame of a desktop recording: no encode/decode round trip)."""

    path: str | None = None
    data: bytes | None = None
    source: str | None = None  # e.g. the URL it was downloaded from
    array: np.ndarray | None = None  # (H, W, 3) uint8 RGB

    def __post_init__(self) -> None:
        if sum(x is not None for x in (self.path, self.data, self.array)) != 1:
            raise ValueError("ImageRef needs exactly one of path=, data= or array=")
        if self.array is not None:
            a = self.array
            if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3 or 0 in a.shape:
                raise ValueError(f"ImageRef array must be non-empty (H, W, 3) uint8, got {a.dtype} {a.shape}")
            view = a.view()
            view.flags.writeable = False  # shared, never copied: nobody may write through it
            object.__setattr__(self, "array", view)

    def load(self) -> np.ndarray:
        """Decode to an RGB ``uint8`` array of shape (H, W, 3) (EXIF orientation applied)."""
        if self.array is not None:
            return self.array
        from molmo2_data.media.image import decode_image

        return decode_image(self.path if self.path is not None else self.data)

    def size(self) -> tuple[int, int]:
        """(width, height) after EXIF orientation, read from the header only."""
        if self.array is not None:
            return int(self.array.shape[1]), int(self.array.shape[0])
        from molmo2_data.media.image import image_size

        return image_size(self.path if self.path is not None else self.data)

    def __repr__(self) -> str:
        if self.array is not None:
            where = f"<{self.array.shape[1]}x{self.array.shape[0]} decoded pixels>"
        else:
            where = self.path if self.path is not None else f"<{len(self.data or b'')} embedded bytes>"
        return f"ImageRef({where})"


@dataclass(frozen=True)
class Subtitle:
    start: float  # seconds, relative to the start of the video file
    end: float
    text: str


@dataclass(frozen=True)
class VideoRef:
    """A video file, optionally restricted to a clip [clip_start, clip_end] (seconds)."""

    path: str
    clip_start: float | None = None
    clip_end: float | None = None
    subtitles: tuple[Subtitle, ...] = ()
    source: str | None = None

    def probe(self) -> VideoInfo:
        from molmo2_data.media.video import probe_video

        return probe_video(self.path)


@dataclass(frozen=True)
class VideoInfo:
    duration: float  # seconds
    fps: float  # average frame rate
    num_frames: int
    width: int
    height: int
    codec: str
    container: str


# --------------------------------------------------------------------------------------------
# Annotations
# --------------------------------------------------------------------------------------------


def _points(value: Any) -> np.ndarray:
    arr = np.asarray(value if value is not None else np.zeros((0, 2)), dtype=np.float64)
    if arr.size == 0:
        return np.zeros((0, 2), dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"points must have shape (N, 2), got {arr.shape}")
    return arr


Scale = tuple[float, float]
"""(scale_x, scale_y): a point (x, y) lies at (x/scale_x, y/scale_y) in normalised [0, 1] units.
``(100, 100)`` for percent coordinates, ``(width, height)`` for pixel coordinates."""


@dataclass(frozen=True)
class Message:
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass
class Messages:
    """Literal chat turns (QA, custom data, text-only instruction data)."""

    messages: list[Message]
    style: str = "user_qa"
    kind: Literal["messages"] = "messages"


@dataclass
class Caption:
    """A caption or transcript of the media. ``style`` is the official style name
    (long_caption, short_caption, transcript, video_long_caption, ...)."""

    text: str
    style: str = "long_caption"
    kind: Literal["caption"] = "caption"


@dataclass
class Pointing:
    """Points on one image (``image_index`` None) or on several images of a multi-image example.

    ``points`` is (N, 2) float; ``image_index`` (N,) int gives, for multi-image examples, the
    0-based image each point lies on; ``scales`` gives one Scale per image (multi-image) or a
    single one. ``count`` is the annotated count (may differ from N only in data that says so).
    ``mode`` is the answer mode: point, point_count (point-then-count), count_then_point, count.
    """

    label: str
    points: np.ndarray
    scale: Scale
    count: int | None = None
    question: str | None = None
    mode: str = "point"
    style: str = "pointing"
    image_index: np.ndarray | None = None
    image_scales: tuple[Scale, ...] | None = None
    kind: Literal["pointing"] = "pointing"

    def __post_init__(self) -> None:
        self.points = _points(self.points)
        if self.image_index is not None:
            self.image_index = np.asarray(self.image_index, dtype=np.int64)
            if self.image_index.shape != (len(self.points),):
                raise ValueError("image_index must have one entry per point")


@dataclass
class Count:
    """A count without points (e.g. pixmo-count validation/test, video counting)."""

    label: str
    count: int
    question: str | None = None
    style: str = "point_count"
    kind: Literal["count"] = "count"


@dataclass
class VideoPointing:
    """Points on video frames. ``timestamps`` (T,) lists annotated frames (seconds, relative to the
    clip start); ``frame_index`` (N,) says which of them each point in ``points`` (N, 2) is on.
    A listed frame may hold no points."""

    label: str
    timestamps: np.ndarray
    points: np.ndarray
    frame_index: np.ndarray
    scale: Scale
    count: int | None = None
    question: str | None = None
    mode: str = "point_count"
    style: str = "video_point_count"
    kind: Literal["video_pointing"] = "video_pointing"

    def __post_init__(self) -> None:
        self.timestamps = np.asarray(self.timestamps, dtype=np.float64).reshape(-1)
        self.points = _points(self.points)
        self.frame_index = np.asarray(self.frame_index, dtype=np.int64).reshape(-1)
        if self.frame_index.shape != (len(self.points),):
            raise ValueError("frame_index must have one entry per point")


@dataclass
class Track:
    """Object tracks: per annotated frame, the positions of one or more objects.

    Point i is object ``object_ids[i]`` on frame ``frame_index[i]`` (into ``timestamps``, seconds
    relative to the clip start) at ``points[i]``; ``occluded[i]`` marks positions the annotation
    lists but that are not visible.
    """

    label: str
    timestamps: np.ndarray
    points: np.ndarray
    frame_index: np.ndarray
    object_ids: np.ndarray
    occluded: np.ndarray
    scale: Scale
    fps: float | None = None
    question: str | None = None
    style: str = "video_point_track_per_frame"
    kind: Literal["track"] = "track"

    def __post_init__(self) -> None:
        self.timestamps = np.asarray(self.timestamps, dtype=np.float64).reshape(-1)
        self.points = _points(self.points)
        n = len(self.points)
        self.frame_index = np.asarray(self.frame_index, dtype=np.int64).reshape(-1)
        self.object_ids = np.asarray(self.object_ids, dtype=np.int64).reshape(-1)
        self.occluded = np.asarray(self.occluded, dtype=bool).reshape(-1)
        for name in ("frame_index", "object_ids", "occluded"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"{name} must have one entry per point")


@dataclass
class ClockTime:
    """The time a clock shows. ``second`` is None when the face shows no seconds."""

    hour: int
    minute: int
    second: int | None
    text: str  # the published answer string, e.g. "8:15:30"
    time_format: str | None = None
    question: str | None = None
    style: str = "clocks"
    kind: Literal["clock_time"] = "clock_time"


@dataclass
class MultipleChoice:
    question: str
    options: list[str]
    answer_index: int
    category: str | None = None
    style: str = "video_multiple_choice"
    kind: Literal["multiple_choice"] = "multiple_choice"

    @property
    def answer(self) -> str:
        return self.options[self.answer_index]


Annotation = Messages | Caption | Pointing | Count | VideoPointing | Track | ClockTime | MultipleChoice


# --------------------------------------------------------------------------------------------
# Example
# --------------------------------------------------------------------------------------------


@dataclass
class Metadata:
    dataset: str
    split: str
    rows: tuple[int, ...] = ()  # rows of the local table this example was built from
    source_ids: dict[str, Any] = field(default_factory=dict)  # image_url, video_id, id, ...
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Example:
    """Media + annotations (a message tree) + metadata; optionally a per-example loss weight.

    ``layout``: ``tree`` (default) — several annotations are separate branches sharing the media
    prefix; ``chat`` — they are the turns of one multi-turn conversation, in the (shuffled) order the
    tokenizer draws (official VideoPoint does this for 20 % of its multi-query clips)."""

    annotations: list[Annotation]
    metadata: Metadata
    images: tuple[ImageRef, ...] = ()
    video: VideoRef | None = None
    weight: float | None = None
    layout: Literal["tree", "chat"] = "tree"

    def __post_init__(self) -> None:
        if not self.annotations:
            raise ValueError("an Example needs at least one annotation")
        if self.images and self.video is not None:
            raise ValueError("an Example holds images or a video, not both")
        if self.layout not in ("tree", "chat"):
            raise ValueError(f"layout must be 'tree' or 'chat', got {self.layout!r}")
        self.images = tuple(self.images)

    @property
    def media_kind(self) -> Literal["none", "image", "multi_image", "video"]:
        if self.video is not None:
            return "video"
        return {0: "none", 1: "image"}.get(len(self.images), "multi_image")

    def __getitem__(self, key: str) -> Any:
        """Dict-style access in the shape of the seed documents' examples (``ex["image"]`` is the
        decoded array, ``ex["messages"]`` the chat turns of literal-message annotations, and for a
        single annotation its fields, e.g. ``ex["caption"]``)."""
        if key == "image":
            if not self.images:
                raise KeyError("image")
            arrays = [im.load() for im in self.images]
            return arrays[0] if len(arrays) == 1 else arrays
        if key == "images":
            return [im.load() for im in self.images]
        if key in ("video", "video_path"):
            if self.video is None:
                raise KeyError(key)
            return self.video.path
        if key == "metadata":
            return dataclasses.asdict(self.metadata)
        if key == "messages":
            msgs = [m for a in self.annotations if isinstance(a, Messages) for m in a.messages]
            return [{"role": m.role, "content": m.content} for m in msgs]
        if key == "annotations":
            return self.annotations
        if len(self.annotations) == 1:
            ann = self.annotations[0]
            if key == "caption" and isinstance(ann, Caption):
                return ann.text
            if hasattr(ann, key):
                return getattr(ann, key)
        raise KeyError(key)


def as_example(obj: Example | Mapping[str, Any], dataset: str = "custom", split: str = "train",
               row: int | None = None) -> Example:
    """Accept an Example or a seed-style dict (``image``/``images``/``video``, ``messages``,
    ``metadata``) as returned by hand-written ``Dataset.get`` methods."""
    if isinstance(obj, Example):
        return obj
    if not isinstance(obj, Mapping):
        raise TypeError(f"a dataset returned {type(obj).__name__}; expected Example or dict")
    images: list[ImageRef] = []
    raw = obj.get("image", obj.get("images"))
    if raw is not None:
        for item in raw if isinstance(raw, list | tuple) else [raw]:
            images.append(_image_ref(item))
    video = None
    if obj.get("video") is not None or obj.get("video_path") is not None:
        v = obj.get("video", obj.get("video_path"))
        video = v if isinstance(v, VideoRef) else VideoRef(path=str(v))
    messages = obj.get("messages")
    annotations: list[Annotation] = list(obj.get("annotations") or [])
    if messages:
        annotations.append(
            Messages([m if isinstance(m, Message) else Message(m["role"], m["content"]) for m in messages],
                     style=obj.get("style", "user_qa"))
        )
    if not annotations:
        raise ValueError("example dict has neither 'messages' nor 'annotations'")
    meta = dict(obj.get("metadata") or {})
    return Example(
        annotations=annotations,
        metadata=Metadata(dataset=dataset, split=split, rows=() if row is None else (row,), source_ids=meta),
        images=tuple(images),
        video=video,
        weight=obj.get("weight"),
    )


def _image_ref(item: Any) -> ImageRef:
    if isinstance(item, ImageRef):
        return item
    if isinstance(item, str | Path):
        return ImageRef(path=str(item))
    if isinstance(item, bytes):
        return ImageRef(data=item)
    if isinstance(item, np.ndarray) and item.dtype == np.uint8 and item.ndim == 3 and item.shape[2] == 3:
        return ImageRef(array=item)
    if isinstance(item, np.ndarray) or hasattr(item, "convert"):  # other modes: through Pillow's converters
        from molmo2_data.media.image import encode_png

        return ImageRef(data=encode_png(item))
    raise TypeError(f"cannot use {type(item).__name__} as an image")


def annotation_summary(ann: Annotation) -> dict[str, Any]:
    """A short, JSON-friendly description of an annotation (for inspect and logs)."""
    out: dict[str, Any] = {"kind": ann.kind, "style": ann.style}
    for f in dataclasses.fields(ann):
        if f.name in ("kind", "style"):
            continue
        v = getattr(ann, f.name)
        if isinstance(v, np.ndarray):
            if v.size > 12:
                out[f.name] = f"array{tuple(v.shape)}"
            else:
                out[f.name] = v.round(2).tolist() if np.issubdtype(v.dtype, np.floating) else v.tolist()
        elif isinstance(v, list) and v and isinstance(v[0], Message):
            out[f.name] = [{"role": m.role, "content": m.content} for m in v]
        elif isinstance(v, Sequence) and not isinstance(v, str) and len(v) > 12:
            out[f.name] = f"[{len(v)} items]"
        else:
            out[f.name] = v
    return out
