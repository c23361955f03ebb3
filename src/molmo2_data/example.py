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

from molmo2_data.annotations import (  # noqa: F401  re-exported: the public names of this module
    VQA,
    Annotation,
    Caption,
    ClockTime,
    Count,
    Message,
    Messages,
    MultipleChoice,
    Pointing,
    Scale,
    Track,
    VideoPointing,
    check_number,
    check_text,
    invalid,
)
from molmo2_data.errors import AnnotationError, EmptyExampleError, SchemaError

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

    def __post_init__(self) -> None:
        start = check_number("subtitle", "start", self.start)
        end = check_number("subtitle", "end", self.end)
        if start < 0 or end < start:  # type: ignore[operator]
            invalid("subtitle", "times out of order", f"{start:g} - {end:g}")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)
        object.__setattr__(self, "text", check_text("subtitle", "text", self.text))


def _seconds(name: str, value: Any) -> float | None:
    """A clip bound: None, or a finite, non-negative number of seconds."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating) \
            or not np.isfinite(value) or value < 0:
        raise SchemaError(f"VideoRef {name} must be a finite, non-negative number of seconds, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class VideoRef:
    """A video file, optionally restricted to a clip [clip_start, clip_end] (seconds); or a video given
    as decoded frames (``frames``: ImageRefs, ``frame_times``: their seconds), as a hand-written
    dataset's ``get`` may return it (``{"video": [frame, ...], "fps": 2}``); then ``path`` only names it."""

    path: str
    clip_start: float | None = None
    clip_end: float | None = None
    subtitles: tuple[Subtitle, ...] = ()
    source: str | None = None
    frames: tuple[ImageRef, ...] = ()
    frame_times: tuple[float, ...] = ()

    @classmethod
    def from_frames(cls, frames: Sequence[Any], frame_times: Sequence[float] | None = None, fps: float | None = None,
                    name: str = "<frames>") -> VideoRef:
        """A video of decoded frames: (H, W, 3) arrays, paths, bytes or ImageRefs. Times are ``frame_times``,
        or i / ``fps`` (default 2 fps, the stages' sampling rate); they must increase strictly."""
        from molmo2_data.annotations import check_number

        refs = tuple(f if isinstance(f, ImageRef) else _image_ref(f) for f in frames)
        if not refs:
            raise SchemaError("a video given as frames needs at least one frame")
        if frame_times is None:
            rate = 2.0 if fps is None else check_number("video", "fps", fps, positive=True)
            times = tuple(i / float(rate) for i in range(len(refs)))
        else:
            times = tuple(float(t) for t in frame_times)
            if len(times) != len(refs):
                raise SchemaError(f"{len(refs)} frames but {len(times)} frame_times")
            if any(not np.isfinite(t) or t < 0 for t in times) or any(b <= a for a, b in zip(times, times[1:], strict=False)):
                raise SchemaError("frame_times must be finite, non-negative and strictly increasing seconds")
        return cls(path=name, frames=refs, frame_times=times)

    @classmethod
    def from_frame_folder(cls, folder: str | Path, fps: float, source: str | None = None) -> VideoRef:
        """A video stored as a folder of still frames (the JPEG sequences of tracking benchmarks): the
        images in natural name order, frame i at i / ``fps`` (the source's frame rate); nothing is
        re-encoded, and only the frames a sampler picks are ever decoded."""
        folder = Path(folder)
        names = frame_folder_names(folder)
        if not names:
            raise SchemaError(f"{folder}: no .jpg/.jpeg/.png frames")
        ref = cls.from_frames([str(folder / n) for n in names], fps=fps, name=str(folder))
        return dataclasses.replace(ref, source=source)

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not self.path:
            raise SchemaError(f"VideoRef needs a file path, got {self.path!r}")
        object.__setattr__(self, "frames", tuple(self.frames))
        object.__setattr__(self, "frame_times", tuple(self.frame_times))
        start = _seconds("clip_start", self.clip_start)
        end = _seconds("clip_end", self.clip_end)  # an empty clip is the decoder's MediaDecodeError
        object.__setattr__(self, "clip_start", start)
        object.__setattr__(self, "clip_end", end)
        object.__setattr__(self, "subtitles", tuple(self.subtitles))


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
# Example
# --------------------------------------------------------------------------------------------


@dataclass
class Metadata:
    dataset: str
    split: str
    rows: tuple[int, ...] = ()  # rows of the local table this example was built from
    source_ids: dict[str, Any] = field(default_factory=dict)  # image_url, video_id, id, ...
    extra: dict[str, Any] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)  # invalid annotations left out: reason -> count


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
            raise EmptyExampleError(f"{self.metadata.dataset} ({self.metadata.split}) rows {list(self.metadata.rows)}: "
                                    "no valid annotation (an Example needs at least one annotation)" + (f"; dropped {self.metadata.dropped}"
                                                              if self.metadata.dropped else ""))
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
        """Dict-style access in the shape of the seed documents' examples: ``ex["image"]`` (decoded
        array), ``ex["messages"]``, ``ex["caption"]``, ``ex["query"]``, ``ex["points"]``, ``ex["count"]``,
        ``ex["questions"]``, ``ex["answers"]``, ``ex["tracks"]``, ... (see :mod:`molmo2_data.example_view`
        and docs/examples.md). A key the example cannot answer is a KeyError."""
        from molmo2_data.example_view import view_value

        return view_value(self, key)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self.keys()

    def keys(self) -> list[str]:
        """The keys ``ex[...]`` answers for this example."""
        from molmo2_data.example_view import view_keys

        return view_keys(self)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default


MAX_IMAGES = 5  # images a multi-image example may hold (ImageConfig.max_images, the official limit)


def as_example(obj: Example | Mapping[str, Any], dataset: str = "custom", split: str = "train",
               row: int | None = None) -> Example:
    """Accept an Example or a seed-style dict (``image``/``images``/``video``, ``messages``,
    ``metadata``) as returned by hand-written ``Dataset.get`` methods. ``video`` may be a file path or a
    list of decoded frames (with ``fps`` or ``frame_times``); more than 5 ``image``s is a SchemaError
    (they would be cut), naming the ``video`` form."""
    if isinstance(obj, Example):
        return obj
    if not isinstance(obj, Mapping):
        raise TypeError(f"a dataset returned {type(obj).__name__}; expected Example or dict")
    images: list[ImageRef] = []
    raw = obj.get("image", obj.get("images"))
    if raw is not None:
        # a list, or a stacked (N, H, W, 3) array of frames, is N images
        items = list(raw) if isinstance(raw, list | tuple) or (isinstance(raw, np.ndarray) and raw.ndim == 4) else [raw]
        if len(items) > MAX_IMAGES:  # the model's multi-image limit: more would be cut silently
            raise SchemaError(
                f"{dataset}: an example has {len(items)} images, more than the {MAX_IMAGES} a multi-image example "
                "may hold (the rest would be dropped). For video frames return {'video': frames, 'fps': <rate>} "
                "(or 'frame_times': [...]) instead of 'image'")
        for item in items:
            images.append(_image_ref(item))
    video = None
    if obj.get("video") is not None or obj.get("video_path") is not None:
        v = obj.get("video", obj.get("video_path"))
        if isinstance(v, VideoRef):
            video = v
        elif isinstance(v, list | tuple) or (isinstance(v, np.ndarray) and v.ndim == 4):
            video = VideoRef.from_frames(list(v), obj.get("frame_times"), obj.get("fps"), name=f"{dataset}:frames")
        else:
            video = VideoRef(path=str(v))
    messages = obj.get("messages")
    annotations: list[Annotation] = list(obj.get("annotations") or [])
    dropped: dict[str, int] = {}
    if messages is not None:
        try:  # invalid turns (a null content, ...) are dropped and counted, as the readers do
            style = obj.get("style", "user_qa")
            if isinstance(messages, list | tuple) and messages and all(isinstance(m, Message) for m in messages):
                annotations.append(Messages(list(messages), style=style))
            else:
                annotations.append(Messages.from_dicts(messages, style=style))
        except AnnotationError as e:
            key = str(getattr(e, "reason", e))
            dropped[key] = dropped.get(key, 0) + 1
    elif not annotations:
        raise EmptyExampleError(f"{dataset}: example dict has neither 'messages' nor 'annotations'")
    meta = dict(obj.get("metadata") or {})
    return Example(
        annotations=annotations,
        metadata=Metadata(dataset=dataset, split=split, rows=() if row is None else (row,), source_ids=meta,
                          dropped=dropped),
        images=tuple(images),
        video=video,
        weight=obj.get("weight"),
    )


FRAME_EXTENSIONS = (".jpg", ".jpeg", ".png")


def frame_folder_names(folder: str | Path) -> list[str]:
    """Image file names of a frame folder in natural order ("2.jpg" before "10.jpg")."""
    import os
    import re

    try:
        names = [n for n in os.listdir(folder) if n.lower().endswith(FRAME_EXTENSIONS)]
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(names, key=lambda n: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", n)])


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
