"""The dict view of an :class:`~molmo2_data.example.Example`: the keys the seed documents read
(``ex["image"]``, ``ex["caption"]``, ``ex["query"]``, ``ex["points"]``, ``ex["count"]``,
``ex["questions"]``, ``ex["answers"]``, ``ex["tracks"]``, ``ex["question"]``, ``ex["answer"]``,
``ex["subtitles"]``, ``ex["time"]``, ``ex["object_names"]``, ``"image" in ex``), computed from the
structured annotations on access. Nothing is stored twice: the annotations stay the one source.

A key taken from the annotations gives the value when one annotation has it, and a list with one value
per annotation when several do (a message tree: pixmo-points holds one Pointing per label of an image);
``questions``, ``answers`` and ``object_names`` are always one flat list over the tree.
Coordinates stay in the annotation's own scale (``ex["scale"]``), never rescaled.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from molmo2_data.annotations import (
    VQA,
    Annotation,
    Caption,
    ClockTime,
    Count,
    Messages,
    MultipleChoice,
    Pointing,
    Track,
    VideoPointing,
)

Example = Any  # an molmo2_data.example.Example; not imported: example imports this module (no cycle)

MEDIA_KEYS = ("image", "images", "video", "video_path")


def _query(a: Annotation) -> Any:
    if isinstance(a, Pointing | Count | VideoPointing | Track):
        return a.question if a.question is not None else a.label
    if isinstance(a, VQA | MultipleChoice):
        return a.question
    if isinstance(a, ClockTime):
        return a.question
    if isinstance(a, Messages):
        users = [m.content for m in a.messages if m.role == "user"]
        return users[0] if users else None
    return None


def _count(a: Annotation) -> Any:
    if isinstance(a, Count):
        return a.count
    if isinstance(a, Pointing | VideoPointing):
        return a.count if a.count is not None else len(a.points)
    return None


def _points(a: Annotation) -> Any:
    if isinstance(a, Pointing):
        return a.points
    if isinstance(a, VideoPointing):
        return [{"x": float(x), "y": float(y), "timestamp": _num(a.timestamps[f]), "object_id": 0}
                for (x, y), f in zip(a.points, a.frame_index, strict=True)]
    return None


def _tracks(a: Annotation) -> Any:
    if isinstance(a, Track):
        return [{"x": float(x), "y": float(y), "timestamp": _num(a.timestamps[f]), "object_id": int(o),
                 "occluded": bool(occ)}
                for (x, y), f, o, occ in zip(a.points, a.frame_index, a.object_ids, a.occluded, strict=True)]
    return None


def _num(v: Any) -> int | float:
    return int(v) if isinstance(v, np.integer) else float(v)


def _questions(a: Annotation) -> Any:
    if isinstance(a, Messages):
        return [m.content for m in a.messages if m.role == "user"]
    if isinstance(a, VQA | MultipleChoice):
        return [a.question]
    return None


def _answers(a: Annotation) -> Any:
    if isinstance(a, Messages):
        return [m.content for m in a.messages if m.role == "assistant"]
    if isinstance(a, VQA):
        return [a.answers] if isinstance(a.answers, str) else list(a.answers)
    if isinstance(a, MultipleChoice):
        return [a.answer]
    return None


def _question(a: Annotation) -> Any:
    """The one question an annotation asks (seed 000's ``question``): a chat's first user turn, else the
    annotation's own question (None when it has only a label)."""
    if isinstance(a, Messages):
        users = [m.content for m in a.messages if m.role == "user"]
        return users[0] if users else None
    return getattr(a, "question", None)


def _answer(a: Annotation) -> Any:
    """The one answer (seed 000's ``answer``): a chat's first assistant turn, a VQA's first answer, a
    multiple choice's answer, a clock's time text."""
    if isinstance(a, Messages):
        replies = [m.content for m in a.messages if m.role == "assistant"]
        return replies[0] if replies else None
    if isinstance(a, VQA):
        return a.answers if isinstance(a.answers, str) else (a.answers[0] if a.answers else None)
    if isinstance(a, MultipleChoice):
        return a.answer
    if isinstance(a, ClockTime):
        return a.text
    return None


def _field(name: str) -> Callable[[Annotation], Any]:
    return lambda a: getattr(a, name, None)


# key -> how one annotation gives it (None: that annotation has no such value)
FIELDS: dict[str, Callable[[Annotation], Any]] = {
    "caption": lambda a: a.text if isinstance(a, Caption) else None,
    "query": _query,
    "label": lambda a: getattr(a, "label", None),
    "object_name": lambda a: getattr(a, "label", None),
    "points": _points,
    "count": _count,
    "tracks": _tracks,
    "object_names": lambda a: [a.label] if isinstance(a, Pointing | Count | VideoPointing | Track) else None,
    "questions": _questions,
    "answers": _answers,
    "question": _question,
    "answer": _answer,
    "time": lambda a: a.text if isinstance(a, ClockTime) else None,
    "options": lambda a: a.options if isinstance(a, MultipleChoice) else None,
    "scale": lambda a: getattr(a, "scale", None),
    "timestamps": lambda a: getattr(a, "timestamps", None),
    "style": _field("style"),
}


FLAT = ("questions", "answers", "object_names")


def _from_annotations(ex: Example, key: str) -> list[Any]:
    return [v for v in (FIELDS[key](a) for a in ex.annotations) if v is not None]


def view_keys(ex: Example) -> list[str]:
    """The keys ``ex[...]`` answers for this example."""
    keys = []
    if ex.images:
        keys += ["image", "images"]
    if ex.video is not None:
        keys += ["video", "video_path"] + (["subtitles"] if ex.video.subtitles else [])
    keys += ["metadata", "annotations"]
    if any(isinstance(a, Messages) for a in ex.annotations):
        keys.append("messages")
    keys += [k for k in FIELDS if _from_annotations(ex, k)]
    return keys


def view_value(ex: Example, key: str) -> Any:
    if key == "image":
        if not ex.images:
            raise KeyError("image")
        arrays = [im.load() for im in ex.images]
        return arrays[0] if len(arrays) == 1 else arrays
    if key == "images":
        if not ex.images:
            raise KeyError("images")
        return [im.load() for im in ex.images]
    if key in ("video", "video_path"):
        if ex.video is None:
            raise KeyError(key)
        return ex.video.path
    if key == "subtitles":
        if ex.video is None or not ex.video.subtitles:
            raise KeyError(key)
        return [{"start": t.start, "end": t.end, "text": t.text} for t in ex.video.subtitles]
    if key == "metadata":
        return dataclasses.asdict(ex.metadata)
    if key == "annotations":
        return ex.annotations
    if key == "messages":
        msgs = [m for a in ex.annotations if isinstance(a, Messages) for m in a.messages]
        if not msgs:
            raise KeyError("messages")
        return [{"role": m.role, "content": m.content} for m in msgs]
    if key in FIELDS:
        values = _from_annotations(ex, key)
        if not values:
            raise KeyError(key)
        if key in FLAT:  # one list over the whole tree: every question, every answer
            return [v for vs in values for v in vs]
        return values[0] if len(values) == 1 else values
    raise KeyError(key)
