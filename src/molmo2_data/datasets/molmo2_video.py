"""Readers of the Molmo2 video datasets (allenai/Molmo2-*), in their published schemas.

Videos are files under ``media/videos/<source>/`` (``youtube`` for the sets keyed by YouTube ids;
``generated`` and ``MammalNet`` for the other VideoPoint sources; ``tracking/<video_dataset>`` for
VideoTrack), found by id with :class:`~molmo2_data.datasets.media_store.VideoFinder`. The index
stores each example's video path (relative to ``media/videos``) so ``get`` never searches; groups
whose video is missing are skipped and counted.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from molmo2_data import paths
from molmo2_data.datasets.base import AnnotationSet, TableDataset, index_from_mask
from molmo2_data.datasets.media_store import VideoFinder, unique_with_inverse
from molmo2_data.datasets.pixmo import nonempty_strings
from molmo2_data.datasets.registry import register_dataset
from molmo2_data.example import (
    Caption,
    Example,
    Messages,
    Metadata,
    MultipleChoice,
    Subtitle,
    VideoRef,
)
from molmo2_data.tables import group_rows, is_list, is_number, is_string

_SOURCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # a video_source must be a plain folder name

# The official Molmo2-Cap loader drops these ids (corrupt videos).
CORRUPT_CAP_VIDEO_IDS = ("0OfUqrbRa2Y", "mTXBQzptWAg", "NyuA4FatDQk", "a_", "gsfIHiBB6xE", "bXApJtAf6Qo",
                         "N8BlpYSpgg4")


def _bool(arr: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


def _floats(arr: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Numbers as float64 with nulls as NaN."""
    return np.asarray(pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


class VideoTableDataset(TableDataset):
    """Shared index building: filter rows, resolve videos by id, group rows, store video paths."""

    MEDIA: ClassVar[str] = "video"
    VIDEO_SOURCE: ClassVar[str] = "youtube"

    def videos_root(self) -> str:
        return os.path.join(self.root, "media", "videos")

    def media_fingerprint(self) -> Any:
        """mtimes of media/videos and two levels of sub-directories (tracking/<dataset>/ included), and of
        the prepared-videos manifest (a ``prepare videos`` run may add copies deeper down)."""
        top = self.videos_root()
        stamps: list[Any] = []
        for d in (top, *sorted(e.path for e in _subdirs(top))):
            try:
                stamps.append(os.stat(d).st_mtime_ns)
                stamps += sorted(os.stat(e.path).st_mtime_ns for e in _subdirs(d))
            except OSError:
                stamps.append("absent")
        prepared = paths.prepared_manifest_path(self.root)  # prepared copies may land deeper than two levels
        stamps.append(os.stat(prepared).st_mtime_ns if prepared.exists() else 0)
        return stamps

    def resolve(self, ids: pa.ChunkedArray | pa.Array, finder: VideoFinder) -> np.ndarray:
        """Per row, the video path relative to media/videos ('' when missing or the id is null)."""
        distinct, inverse = unique_with_inverse(pc.fill_null(ids, ""))
        top = self.videos_root()
        rel = np.array([_rel(finder.find(v), top) for v in distinct] or [""], dtype=object)
        return rel[inverse] if len(distinct) else np.full(len(inverse), "", dtype=object)

    def rows_with_ids(self, table: pa.Table) -> np.ndarray:
        """Keep mask of the rows with a ``video_id`` (null ids counted)."""
        return self.drop(np.ones(table.num_rows, dtype=bool), ~_bool(pc.is_valid(table.column("video_id"))),
                         "null video_id")

    def resolve_by_source(self, table: pa.Table, keep: np.ndarray, sources: Sequence[str] | None = None,
                          ) -> tuple[np.ndarray, np.ndarray]:
        """Per row, the video path under ``media/videos/<video_source>/`` (null source: youtube), and
        ``keep`` without rows whose source is not a plain folder name (counted). ``sources``: resolve
        only these (the caller has dropped the others)."""
        source = np.asarray(pc.fill_null(table.column("video_source"), "youtube").to_numpy(zero_copy_only=False),
                            dtype=object)
        video = np.full(table.num_rows, "", dtype=object)
        for name in sorted(set(source.tolist()) if sources is None else sources):
            rows = np.nonzero(source == name)[0]
            if not len(rows):
                continue
            if not _SOURCE_NAME.match(name):
                keep = self.drop(keep, source == name, "video_source is not a folder name")
                continue
            video[rows] = self.resolve(table.column("video_id").take(pa.array(rows)), VideoFinder([name], self.root))
        return video, keep

    def grouped_index(self, keys: np.ndarray, keep: np.ndarray, video: np.ndarray) -> dict[str, np.ndarray]:
        """Group the kept rows by integer ``keys`` (first-appearance order); drop, and count once per
        group, groups whose video is missing. Adds ``video`` (relative path) per group."""
        sel = np.nonzero(keep)[0]
        order, offsets, first = group_rows(pa.array(keys[sel], type=pa.int64()))
        group_video = video[sel[first]]
        present = group_video != ""
        if (~present).any():
            self.skipped["video missing locally"] += int((~present).sum())
        index = index_from_mask(sel[order], offsets, keep_groups=present)
        index["video"] = np.array([str(v) for v in group_video[present]], dtype=str)
        return index

    def drop(self, keep: np.ndarray, bad: np.ndarray, reason: str) -> np.ndarray:
        """Clear ``bad`` rows from ``keep`` and count the rows newly dropped."""
        newly = keep & bad
        if newly.any():
            self.skipped[reason] += int(newly.sum())
        return keep & ~bad

    def video_file(self, group: int) -> str:
        return os.path.join(self.videos_root(), str(self.index["video"][group]))

    def metadata(self, rows: np.ndarray, **source_ids: Any) -> Metadata:
        return Metadata(dataset=self.NAME, split=self.split, rows=tuple(int(r) for r in rows),
                        source_ids=source_ids)


def _subdirs(d: str) -> list[os.DirEntry]:
    try:
        with os.scandir(d) as it:
            return [e for e in it if e.is_dir()]
    except OSError:
        return []


def _rel(path: str | None, top: str) -> str:
    return "" if path is None else os.path.relpath(path, top)


class YoutubeVideoDataset(VideoTableDataset):
    """Sets keyed by ``video_id`` (YouTube ids), grouped by video."""

    def row_filter(self, table: pa.Table) -> np.ndarray:
        return np.ones(table.num_rows, dtype=bool)

    def group_keys(self, table: pa.Table) -> np.ndarray:
        return unique_with_inverse(pc.fill_null(table.column("video_id"), ""))[1].astype(np.int64)

    def build_index(self, table: pa.Table) -> dict[str, np.ndarray]:
        keep = self.row_filter(table)
        keep = self.drop(keep, ~_bool(pc.is_valid(table.column("video_id"))), "null video_id")
        video = self.resolve(table.column("video_id"), VideoFinder([self.VIDEO_SOURCE], self.root))
        return self.grouped_index(self.group_keys(table), keep, video)

    def video_id(self, rows: np.ndarray) -> str:
        return self.data.column("video_id")[int(rows[0])].as_py()


# ---------------------------------------------------------------------------------------------
# Molmo2-Cap
# ---------------------------------------------------------------------------------------------


@register_dataset("molmo2-cap")
class Molmo2Cap(YoutubeVideoDataset):
    """Dense video captions (allenai/Molmo2-Cap). Official filters: corrupt video ids and
    ``annotation_score < 3`` dropped. One example per row with up to three captions (empty ones
    left out); ``CAPTION_STYLES`` maps columns to styles. ``validation`` is an alias of ``val``."""

    NAME = "molmo2-cap"
    HF_PATH = "allenai/Molmo2-Cap"
    SPLITS = {"train": "train", "val": "val", "validation": "val"}
    COLUMNS = {"video_id": is_string, "video_caption": is_string, "merged_caption": is_string,
               "video_frame_merged_caption": is_string, "annotation_score": is_number}
    CAPTION_STYLES: ClassVar[tuple[tuple[str, str], ...]] = (
        ("video_caption", "video_short_caption"),
        ("merged_caption", "video_merged_caption"),
        ("video_frame_merged_caption", "video_long_caption"),
    )
    MIN_SCORE: ClassVar[float] = 3

    def row_filter(self, table: pa.Table) -> np.ndarray:
        keep = np.ones(table.num_rows, dtype=bool)
        corrupt = _bool(pc.is_in(table.column("video_id"), value_set=pa.array(CORRUPT_CAP_VIDEO_IDS)))
        keep = self.drop(keep, corrupt, "corrupt video id")
        score = _floats(table.column("annotation_score"))
        keep = self.drop(keep, ~(score >= self.MIN_SCORE), "annotation_score < 3 or null")
        any_caption = np.zeros(table.num_rows, dtype=bool)
        for col, _ in self.CAPTION_STYLES:
            any_caption |= nonempty_strings(table, col)
        return self.drop(keep, ~any_caption, "no caption")

    def group_keys(self, table: pa.Table) -> np.ndarray:
        return np.arange(table.num_rows, dtype=np.int64)  # one example per row

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:
        row = self.row_dicts(rows, ["video_id", "annotation_score"] + [c for c, _ in self.CAPTION_STYLES])[0]
        anns = AnnotationSet()
        for col, style in self.CAPTION_STYLES:
            if row[col] and row[col].strip():  # an empty one of the three captions is normal: left out
                anns.add(Caption, row[col].strip(), style=style)
        return anns.example(self.metadata(rows, video_id=row["video_id"], annotation_score=row["annotation_score"]),
                            video=VideoRef(self.video_file(group), source=row["video_id"]))


# ---------------------------------------------------------------------------------------------
# Molmo2-VideoCapQA / Molmo2-VideoSubtitleQA
# ---------------------------------------------------------------------------------------------


def multiple_choice(row: dict[str, Any], rng: np.random.RandomState, style: str) -> MultipleChoice:
    """Options = NegativeAnswers with the answer inserted at an index drawn from the example rng
    (the official loader uses unseeded ``random`` here, so it is not reproducible)."""
    negatives = [n for n in (row["NegativeAnswers"] or []) if n is not None]
    idx = int(rng.randint(len(negatives) + 1))
    options = negatives[:idx] + [row["Answer"]] + negatives[idx:]
    return MultipleChoice(question=row["Question"], options=options, answer_index=idx,
                          category=row.get("Category"), style=style)


@register_dataset("molmo2-videocapqa")
class Molmo2VideoCapQA(YoutubeVideoDataset):
    """Caption-derived multiple-choice QA (allenai/Molmo2-VideoCapQA, split ``CapQA``; ``train`` is
    its alias), one example per video with one MultipleChoice per row."""

    NAME = "molmo2-videocapqa"
    HF_PATH = "allenai/Molmo2-VideoCapQA"
    SPLITS = {"train": "CapQA", "CapQA": "CapQA"}
    COLUMNS = {"video_id": is_string, "Question": is_string, "Answer": is_string, "NegativeAnswers": is_list,
               "Category": is_string}
    STYLE: ClassVar[str] = "video_multiple_choice"

    def row_filter(self, table: pa.Table) -> np.ndarray:
        ok = nonempty_strings(table, "Question") & nonempty_strings(table, "Answer")
        return self.drop(np.ones(table.num_rows, dtype=bool), ~ok, "empty question or answer")

    def qa_rows(self, rows: np.ndarray) -> list[dict[str, Any]]:
        return self.row_dicts(rows, ["Question", "Answer", "NegativeAnswers", "Category", "AlignmentType"])

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:
        qa = self.qa_rows(rows)
        vid = self.video_id(rows)
        anns = AnnotationSet()
        for r in qa:
            anns.add(multiple_choice, r, rng, self.STYLE)
        return anns.example(self.metadata(rows, video_id=vid), video=VideoRef(self.video_file(group), source=vid))


@register_dataset("molmo2-videosubtitleqa")
class Molmo2VideoSubtitleQA(Molmo2VideoCapQA):
    """Subtitle-aware multiple-choice QA (allenai/Molmo2-VideoSubtitleQA, split ``SubtitleQA``). The
    video's ``subtitle`` list (the same on every row of a video) becomes ``VideoRef.subtitles``;
    each annotation's ``AlignmentType`` is kept in ``metadata.extra["alignment_types"]``."""

    NAME = "molmo2-videosubtitleqa"
    HF_PATH = "allenai/Molmo2-VideoSubtitleQA"
    SPLITS = {"train": "SubtitleQA", "SubtitleQA": "SubtitleQA"}
    COLUMNS = {**Molmo2VideoCapQA.COLUMNS, "AlignmentType": is_string, "subtitle": is_list}
    STYLE = "video_multiple_choice_w_subtitle"

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:
        ex = super().build_example(rows, group, rng)
        subs = self.data.column("subtitle")[int(rows[0])].as_py() or []
        lines = AnnotationSet()
        for sub in subs:
            if sub and sub.get("start") is not None and sub.get("end") is not None and sub.get("text"):
                lines.add(Subtitle, sub["start"], sub["end"], sub["text"])
        for reason, n in lines.dropped.items():
            ex.metadata.dropped[reason] = ex.metadata.dropped.get(reason, 0) + n
        ex.video = VideoRef(ex.video.path, subtitles=tuple(lines.annotations),  # type: ignore[union-attr,arg-type]
                            source=ex.video.source)  # type: ignore[union-attr]
        ex.metadata.extra["alignment_types"] = self.column("AlignmentType", rows)
        return ex


# ---------------------------------------------------------------------------------------------
# Molmo2-AskModelAnything
# ---------------------------------------------------------------------------------------------


@register_dataset("molmo2-askmodelanything", aliases=("molmo2-ask-model-anything",))
class Molmo2AskModelAnything(YoutubeVideoDataset):
    """Human-written video QA (allenai/Molmo2-AskModelAnything, split ``HumanQA``): text stripped,
    empty answers dropped, one message tree per video (one user/assistant pair per row)."""

    NAME = "molmo2-askmodelanything"
    HF_PATH = "allenai/Molmo2-AskModelAnything"
    SPLITS = {"train": "HumanQA", "HumanQA": "HumanQA"}
    COLUMNS = {"video_id": is_string, "question": is_string, "answer": is_string}

    def row_filter(self, table: pa.Table) -> np.ndarray:
        keep = np.ones(table.num_rows, dtype=bool)
        keep = self.drop(keep, ~nonempty_strings(table, "answer"), "empty answer")
        return self.drop(keep, ~nonempty_strings(table, "question"), "empty question")

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:
        anns = AnnotationSet()
        for r in self.row_dicts(rows, ["question", "answer"]):
            anns.add(Messages.qa, r["question"], r["answer"], "user_qa", strip=True)
        vid = self.video_id(rows)
        return anns.example(self.metadata(rows, video_id=vid), video=VideoRef(self.video_file(group), source=vid))


def _coord(p: Any, axis: str) -> float:
    """A point's x or y as a float (NaN when null: the annotation then rejects it, never a silent 0)."""
    v = p.get(axis) if isinstance(p, dict) else None
    return float("nan") if v is None else float(v)


def _finite_or_none(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and np.isfinite(v) and v > 0 else None


def ego4d_clip_name(video_id: str, start: float, end: float) -> str:
    """The file stem of a clipped Ego4D CapEval video: ``<id>_bounded_decimal_2_<start>_<end>``, times
    with two decimals, trailing zeros stripped but one digit kept after the point (3.0, 12.5, 7.25)."""

    def fmt(t: float) -> str:
        text = f"{t:.2f}".rstrip("0")
        return text + "0" if text.endswith(".") else text

    return f"{video_id}_bounded_decimal_2_{fmt(start)}_{fmt(end)}"
