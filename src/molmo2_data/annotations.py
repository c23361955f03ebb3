"""The structured annotations of an :class:`~molmo2_data.example.Example`, validated when built.

Every annotation checks its own numbers and strings in ``__post_init__`` (finite, within its scale or
clip, non-negative integer counts, non-empty text, the right types) and raises
:class:`~molmo2_data.errors.AnnotationError` with a short, countable ``reason`` otherwise. No reader can
bypass it, so the formatter never sees NaN, infinities, negative counts or ``None`` where text belongs.
Readers build annotations through :class:`molmo2_data.datasets.base.AnnotationSet`, which drops an
invalid annotation and counts it in ``Metadata.dropped``.

This module imports nothing from ``media/`` or ``datasets/``: imports flow down the data flow.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Literal, NoReturn

import numpy as np

from molmo2_data.errors import AnnotationError

Scale = tuple[float, float]
"""(scale_x, scale_y): a point (x, y) lies at (x/scale_x, y/scale_y) in normalised [0, 1] units.
``(100, 100)`` for percent coordinates, ``(width, height)`` for pixel coordinates."""

POINT_MODES = ("point", "pointing", "point_count", "point_then_count", "count_then_point", "count_point", "count")
ROLES = ("system", "user", "assistant")
MAX_COUNT = 1_000_000_000  # a count beyond this is a broken value, not an annotation
POINT_TOLERANCE = 0.02  # points may lie this fraction of the scale outside it (annotation jitter; clamped later)
TIME_TOLERANCE = 0.5  # seconds a timestamp may lie beyond the known clip / video duration (frame grid rounding)


# --------------------------------------------------------------------------------------------
# Validators (each raises AnnotationError with a stable ``reason`` to count by)
# --------------------------------------------------------------------------------------------


def invalid(kind: str, reason: str, detail: str = "") -> NoReturn:
    """Raise the AnnotationError of ``kind``; ``err.reason`` ("kind: reason") is the key drops are counted by."""
    err = AnnotationError(f"{kind}: {reason}" + (f" ({detail})" if detail else ""))
    err.reason = f"{kind}: {reason}"  # type: ignore[attr-defined]
    raise err


def check_text(kind: str, name: str, value: Any, optional: bool = False) -> str | None:
    """A non-empty string (``None`` allowed only when ``optional``)."""
    if value is None:
        if optional:
            return None
        invalid(kind, f"{name} is missing")
    if not isinstance(value, str):
        invalid(kind, f"{name} is not text", f"got {type(value).__name__}")
    if not value.strip():
        invalid(kind, f"{name} is empty")
    return str(value)


def check_count(kind: str, value: Any, optional: bool = False, name: str = "count") -> int | None:
    """A non-negative integer (integral floats accepted; bools, NaN, fractions, negatives rejected)."""
    if value is None:
        if optional:
            return None
        invalid(kind, f"{name} is missing")
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        invalid(kind, f"{name} is not a number", f"got {type(value).__name__}")
    if isinstance(value, numbers.Integral):
        n = int(value)
    else:
        f = float(value)
        if not math.isfinite(f):
            invalid(kind, f"{name} is not finite", repr(f))
        if not f.is_integer():
            invalid(kind, f"{name} is not an integer", repr(f))
        n = int(f)
    if n < 0:
        invalid(kind, f"negative {name}", str(n))
    if n > MAX_COUNT:
        invalid(kind, f"{name} too large", str(n))
    return n


def check_number(kind: str, name: str, value: Any, optional: bool = False, positive: bool = False) -> float | None:
    """A finite real number (``positive``: > 0)."""
    if value is None:
        if optional:
            return None
        invalid(kind, f"{name} is missing")
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        invalid(kind, f"{name} is not a number", f"got {type(value).__name__}")
    f = float(value)
    if not math.isfinite(f):
        invalid(kind, f"{name} is not finite", repr(f))
    if positive and f <= 0:
        invalid(kind, f"{name} is not positive", repr(f))
    return f


def check_scale(kind: str, value: Any) -> Scale:
    try:
        sx, sy = value
    except (TypeError, ValueError):
        invalid(kind, "scale is not a pair", repr(value))
    return (check_number(kind, "scale", sx, positive=True), check_number(kind, "scale", sy, positive=True))  # type: ignore[return-value]


def _float_array(kind: str, name: str, value: Any) -> np.ndarray:
    if isinstance(value, str | bytes):
        invalid(kind, f"{name} are not numbers", f"got {type(value).__name__}")
    try:
        arr = np.asarray(value if value is not None else [], dtype=np.float64)
    except (TypeError, ValueError) as e:
        invalid(kind, f"{name} are not numbers", str(e)[:80])
    if not np.isfinite(arr).all():
        invalid(kind, f"non-finite {name[:-1] if name.endswith('s') else name}")
    return arr


def check_points(kind: str, value: Any, scales: np.ndarray | None = None) -> np.ndarray:
    """(N, 2) finite float points; with ``scales`` ((N, 2), each point's scale) within [0, scale]
    up to :data:`POINT_TOLERANCE`."""
    arr = _float_array(kind, "points", value)
    if arr.size == 0:
        return np.zeros((0, 2), dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        invalid(kind, "points must have shape (N, 2)", f"got {arr.shape}")
    if scales is not None:
        tol = POINT_TOLERANCE * scales
        if ((arr < -tol) | (arr > scales + tol)).any():
            invalid(kind, "point outside its scale", f"{arr.min():g}..{arr.max():g}")
    return arr


def check_indices(kind: str, name: str, value: Any, n: int, upper: int | None = None) -> np.ndarray:
    """(n,) int64 indices, each in [0, upper) when ``upper`` is given."""
    arr = _float_array(kind, name, value).reshape(-1)
    if arr.shape != (n,):
        invalid(kind, f"{name} must have one entry per point", f"{arr.shape[0]} for {n} points")
    if not (arr == np.round(arr)).all():
        invalid(kind, f"{name} are not integers")
    out = arr.astype(np.int64)
    if (out < 0).any() or (upper is not None and (out >= upper).any()):
        invalid(kind, f"{name} out of range")
    return out


def check_duration(kind: str, value: Any) -> float | None:
    d = check_number(kind, "duration", value, optional=True)
    if d is not None and d < 0:
        invalid(kind, "negative duration", repr(d))
    return d


def check_times(kind: str, value: Any, duration: float | None) -> np.ndarray:
    """(T,) finite, non-negative (clip-relative) seconds, within ``duration`` (+ tolerance) when known.

    Integer timestamps keep an integer dtype: the official formatter prints ``str(round(t, 1))``, which
    keeps the source's type (``10`` for an int, ``10.0`` for a float)."""
    arr = _float_array(kind, "timestamps", value).reshape(-1)
    raw = np.asarray(value) if not isinstance(value, np.ndarray) else value
    if raw.dtype.kind in "iu" and raw.size == arr.size:
        arr = raw.reshape(-1).astype(np.int64)
    if (arr < -1e-6).any():
        invalid(kind, "negative timestamp", f"{arr.min():g}")
    if duration is not None and len(arr) and arr.max() > duration + TIME_TOLERANCE:
        invalid(kind, "timestamp beyond the clip", f"{arr.max():g} s > {duration:g} s")
    return arr


def check_style(kind: str, style: Any) -> str:
    return check_text(kind, "style", style)  # type: ignore[return-value]


def check_mode(kind: str, mode: Any) -> str:
    if mode not in POINT_MODES:
        invalid(kind, "unknown answer mode", repr(mode))
    return str(mode)


# --------------------------------------------------------------------------------------------
# Annotations
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    role: Literal["system", "user", "assistant"]
    content: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            invalid("messages", "unknown role", repr(self.role))
        if self.role == "user":
            check_text("messages", "content", self.content)
        elif self.content is None:
            invalid("messages", "content is missing")
        elif not isinstance(self.content, str):
            invalid("messages", "content is not text", f"got {type(self.content).__name__}")
        # an assistant / system text may be empty (e.g. an action model's "nothing to do" window);
        # readers of QA data require a non-empty answer through Messages.qa


@dataclass
class Messages:
    """Literal chat turns (QA, custom data, text-only instruction data): optional system messages,
    then user/assistant pairs starting with user."""

    messages: list[Message]
    style: str = "user_qa"
    kind: Literal["messages"] = "messages"

    def __post_init__(self) -> None:
        if not isinstance(self.messages, list | tuple) or not all(isinstance(m, Message) for m in self.messages):
            invalid("messages", "messages are not a list of Message")
        self.messages = list(self.messages)
        turns = [m.role for m in self.messages if m.role != "system"]
        if not turns or len(turns) % 2:
            invalid("messages", "not complete user/assistant pairs")
        if any(r != ("user" if i % 2 == 0 else "assistant") for i, r in enumerate(turns)):
            invalid("messages", "turns do not alternate user/assistant")
        self.style = check_style("messages", self.style)

    @classmethod
    def qa(cls, question: Any, answer: Any, style: str = "user_qa", strip: bool = False) -> Messages:
        """One user/assistant pair; a missing or non-text question or answer is an AnnotationError."""
        q, a = check_text("messages", "question", question), check_text("messages", "answer", answer)
        if strip:
            q, a = q.strip(), a.strip()  # type: ignore[union-attr]
        return cls([Message("user", q), Message("assistant", a)], style=style)  # type: ignore[arg-type]

    @classmethod
    def from_dicts(cls, items: Any, style: str = "user_qa") -> Messages:
        """Chat turns given as ``[{"role": ..., "content": ...}, ...]`` (custom data, text sets, seed-style
        dicts); Message objects are taken as they are."""
        if not isinstance(items, list | tuple) or not items:
            invalid("messages", "messages are not a non-empty list", f"got {type(items).__name__}")
        out = []
        for m in items:
            if isinstance(m, Message):
                out.append(m)
                continue
            if not isinstance(m, dict) or "role" not in m or "content" not in m:
                invalid("messages", "a message is not a {role, content} mapping")
            out.append(Message(m["role"], m["content"]))
        return cls(out, style=style)


@dataclass
class Caption:
    """A caption or transcript of the media. ``style`` is the official style name
    (long_caption, short_caption, transcript, video_long_caption, ...)."""

    text: str
    style: str = "long_caption"
    kind: Literal["caption"] = "caption"
    subject: str | None = None  # the object a video_object_caption is about ({object} of its prompt)

    def __post_init__(self) -> None:
        self.text = check_text("caption", "text", self.text)  # type: ignore[assignment]
        self.style = check_style("caption", self.style)
        self.subject = check_text("caption", "subject", self.subject, optional=True)


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
    alt_text: str | None = None
    kind: Literal["pointing"] = "pointing"

    def __post_init__(self) -> None:
        k = "pointing"
        self.label = check_text(k, "label", self.label)  # type: ignore[assignment]
        self.scale = check_scale(k, self.scale)
        self.count = check_count(k, self.count, optional=True)
        self.question = check_text(k, "question", self.question, optional=True)
        self.alt_text = check_text(k, "alt_text", self.alt_text, optional=True)
        self.mode = check_mode(k, self.mode)
        self.style = check_style(k, self.style)
        pts = check_points(k, self.points)
        scales = np.broadcast_to(np.asarray(self.scale), pts.shape)
        if self.image_scales is not None:
            if not isinstance(self.image_scales, list | tuple) or not self.image_scales:
                invalid(k, "image_scales must be a non-empty list of scales")
            self.image_scales = tuple(check_scale(k, s) for s in self.image_scales)
        if self.image_index is not None:
            n_images = len(self.image_scales) if self.image_scales is not None else None
            self.image_index = check_indices(k, "image_index", self.image_index, len(pts), n_images)
            if self.image_scales is not None and len(pts):
                scales = np.asarray(self.image_scales, dtype=np.float64)[self.image_index]
        self.points = check_points(k, pts, scales)


@dataclass
class Count:
    """A count without points (e.g. pixmo-count validation/test, video counting)."""

    label: str
    count: int
    question: str | None = None
    style: str = "point_count"
    kind: Literal["count"] = "count"

    def __post_init__(self) -> None:
        self.label = check_text("count", "label", self.label)  # type: ignore[assignment]
        self.count = check_count("count", self.count)  # type: ignore[assignment]
        self.question = check_text("count", "question", self.question, optional=True)
        self.style = check_style("count", self.style)


@dataclass
class VideoPointing:
    """Points on video frames. ``timestamps`` (T,) lists annotated frames (seconds, relative to the
    clip start); ``frame_index`` (N,) says which of them each point in ``points`` (N, 2) is on.
    A listed frame may hold no points. ``duration``: the clip (or whole video) length when the reader
    knows it; timestamps beyond it are rejected."""

    label: str
    timestamps: np.ndarray
    points: np.ndarray
    frame_index: np.ndarray
    scale: Scale
    count: int | None = None
    question: str | None = None
    mode: str = "point_count"
    style: str = "video_point_count"
    duration: float | None = None
    alt_text: str | None = None
    kind: Literal["video_pointing"] = "video_pointing"

    def __post_init__(self) -> None:
        k = "video_pointing"
        self.label = check_text(k, "label", self.label)  # type: ignore[assignment]
        self.scale = check_scale(k, self.scale)
        self.count = check_count(k, self.count, optional=True)
        self.question = check_text(k, "question", self.question, optional=True)
        self.mode = check_mode(k, self.mode)
        self.style = check_style(k, self.style)
        self.duration = check_duration(k, self.duration)
        self.timestamps = check_times(k, self.timestamps, self.duration)
        pts = check_points(k, self.points)
        self.points = check_points(k, pts, np.broadcast_to(np.asarray(self.scale), pts.shape))
        self.frame_index = check_indices(k, "frame_index", self.frame_index, len(self.points), len(self.timestamps))


@dataclass
class Track:
    """Object tracks: per annotated frame, the positions of one or more objects.

    Point i is object ``object_ids[i]`` on frame ``frame_index[i]`` (into ``timestamps``, seconds
    relative to the clip start) at ``points[i]``; ``occluded[i]`` marks positions the annotation
    lists but that are not visible. ``duration`` as for :class:`VideoPointing`.
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
    duration: float | None = None
    alt_text: str | None = None
    kind: Literal["track"] = "track"

    def __post_init__(self) -> None:
        k = "track"
        self.label = check_text(k, "label", self.label)  # type: ignore[assignment]
        self.scale = check_scale(k, self.scale)
        self.fps = check_number(k, "fps", self.fps, optional=True, positive=True)
        self.question = check_text(k, "question", self.question, optional=True)
        self.style = check_style(k, self.style)
        self.duration = check_duration(k, self.duration)
        self.timestamps = check_times(k, self.timestamps, self.duration)
        pts = check_points(k, self.points)
        self.points = check_points(k, pts, np.broadcast_to(np.asarray(self.scale), pts.shape))
        n = len(self.points)
        self.frame_index = check_indices(k, "frame_index", self.frame_index, n, len(self.timestamps))
        self.object_ids = check_indices(k, "object_ids", self.object_ids, n)
        occ = np.asarray(self.occluded if self.occluded is not None else [], dtype=object).reshape(-1)
        if occ.shape != (n,) or not all(isinstance(o, bool | np.bool_) or o in (0, 1) for o in occ):
            invalid(k, "occluded must be one bool per point")
        self.occluded = occ.astype(bool)


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

    def __post_init__(self) -> None:
        k = "clock_time"
        self.hour = check_count(k, self.hour, name="hour")  # type: ignore[assignment]
        self.minute = check_count(k, self.minute, name="minute")  # type: ignore[assignment]
        self.second = check_count(k, self.second, optional=True, name="second")
        if self.hour > 24 or self.minute > 59 or (self.second is not None and self.second > 59):
            invalid(k, "time out of range", f"{self.hour}:{self.minute}:{self.second}")
        self.text = check_text(k, "text", self.text)  # type: ignore[assignment]
        self.time_format = check_text(k, "time_format", self.time_format, optional=True)
        self.question = check_text(k, "question", self.question, optional=True)
        self.style = check_style(k, self.style)


@dataclass
class MultipleChoice:
    question: str
    options: list[str]
    answer_index: int
    category: str | None = None
    style: str = "video_multiple_choice"
    kind: Literal["multiple_choice"] = "multiple_choice"

    def __post_init__(self) -> None:
        k = "multiple_choice"
        self.question = check_text(k, "question", self.question)  # type: ignore[assignment]
        if not isinstance(self.options, list | tuple) or not 1 <= len(self.options) <= 26:
            invalid(k, "options must be a list of 1 to 26 texts")
        self.options = [check_text(k, "option", o) for o in self.options]  # type: ignore[misc]
        self.answer_index = check_count(k, self.answer_index, name="answer_index")  # type: ignore[assignment]
        if self.answer_index >= len(self.options):
            invalid(k, "answer_index out of range", f"{self.answer_index} of {len(self.options)} options")
        if self.category is not None and not isinstance(self.category, str):
            invalid(k, "category is not text")
        self.style = check_style(k, self.style)

    @property
    def answer(self) -> str:
        return self.options[self.answer_index]


@dataclass
class VQA:
    """A question with its answer(s) as the source gives them: one answer, or the list of annotator
    answers of VQA-style sets (the formatter picks the training answer the way the official code does:
    the most frequent, ties broken by the example's rng). ``style`` is the official style name
    (vqa2, text_vqa, chart_qa, ...)."""

    question: str
    answers: str | list[str]
    style: str = "user_qa"
    kind: Literal["vqa"] = "vqa"

    def __post_init__(self) -> None:
        k = "vqa"
        self.question = check_text(k, "question", self.question)  # type: ignore[assignment]
        if isinstance(self.answers, str):
            self.answers = check_text(k, "answer", self.answers)  # type: ignore[assignment]
        elif isinstance(self.answers, list | tuple | np.ndarray) and len(self.answers):
            self.answers = [check_text(k, "answer", a) for a in self.answers]  # type: ignore[misc]
        else:
            invalid(k, "answers must be a text or a non-empty list of texts")
        self.style = check_style(k, self.style)


Annotation = Messages | Caption | Pointing | Count | VideoPointing | Track | ClockTime | MultipleChoice | VQA
