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

from molmo2_data.datasets.base import AnnotationSet, TableDataset, index_from_mask, select_groups
from molmo2_data.datasets.media_store import VideoFinder, unique_with_inverse
from molmo2_data.datasets.pixmo import nonempty_strings
from molmo2_data.datasets.registry import register_dataset
from molmo2_data.example import (
    Caption,
    Count,
    Example,
    Messages,
    Metadata,
    MultipleChoice,
    Subtitle,
    Track,
    VideoPointing,
    VideoRef,
)
from molmo2_data.tables import group_rows, is_bool, is_list, is_number, is_string

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
        """mtimes of media/videos and two levels of sub-directories (tracking/<dataset>/ included)."""
        top = self.videos_root()
        stamps: list[Any] = []
        for d in (top, *sorted(e.path for e in _subdirs(top))):
            try:
                stamps.append(os.stat(d).st_mtime_ns)
                stamps += sorted(os.stat(e.path).st_mtime_ns for e in _subdirs(d))
            except OSError:
                stamps.append("absent")
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


# ---------------------------------------------------------------------------------------------
# Molmo2-VideoPoint
# ---------------------------------------------------------------------------------------------

VIDEOPOINT_CONFIGS = ("action_or_event", "animal", "anomaly", "comparative reference", "indirect reference",
                      "object", "referring expression", "spatial reference")
VIDEOPOINT_SOURCES = ("youtube", "generated", "MammalNet")


@register_dataset("molmo2-videopoint")
class Molmo2VideoPoint(VideoTableDataset):
    """Video pointing/counting (allenai/Molmo2-VideoPoint; 8 configs, each a partition; all by default).

    Options: ``max_seconds`` (63): a video no longer than this is used whole; a longer one uses the
    row's ``clip_start``/``clip_end`` if that clip is no longer than ``max_seconds``, else the row is
    skipped. ``min_count``/``max_count``: keep rows whose ``count`` is in range. ``drop_unsure``
    (False, as the released loader; the card says training used only confident rows).
    ``styles``: each query's style is drawn from these with the example rng (official: point_count
    or point). A clip with several queries is one message tree, or with probability ``p_multi_turn``
    (0.2, drawn from the example rng after the styles) one multi-turn chat (``Example.layout="chat"``). Rows are grouped by (video, clip); timestamps are made clip-relative and floored to
    the 0.5 s grid; points (percent, scale 100) are sorted by (time, x, y).
    """

    NAME = "molmo2-videopoint"
    HF_PATH = "allenai/Molmo2-VideoPoint"
    CONFIGS = VIDEOPOINT_CONFIGS
    SPLITS = {"train": "train"}
    COLUMNS = {"video_id": is_string, "video_source": is_string, "label": is_string, "count": is_number,
               "two_fps_timestamps": is_list, "points": is_list, "clip_start": is_number, "clip_end": is_number,
               "video_duration": is_number, "annotator_unsure": is_bool}
    def __init__(self, split: str = "train", config: str | Sequence[str] | None = None, *,
                 max_seconds: float = 63.0, min_count: int | None = None, max_count: int | None = None,
                 drop_unsure: bool = False, styles: Sequence[str] = ("video_point_count", "video_point"),
                 oversample: bool = False, p_multi_turn: float = 0.2, **kw: Any):
        if not styles or any(not s.startswith("video_") for s in styles):
            raise ValueError(f"molmo2-videopoint: styles must be non-empty video_* styles, got {styles!r}")
        self.styles = tuple(styles)
        if not 0.0 <= p_multi_turn <= 1.0:
            raise ValueError(f"molmo2-videopoint: p_multi_turn must be in [0, 1], got {p_multi_turn!r}")
        super().__init__(split, config, max_seconds=float(max_seconds), min_count=min_count,
                         max_count=max_count, drop_unsure=bool(drop_unsure), oversample=bool(oversample),
                         p_multi_turn=float(p_multi_turn), **kw)

    def effective_clips(self, table: pa.Table, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per row (clip_start, clip_end) in seconds (NaN = whole video) and the updated keep mask."""
        max_s = self.options["max_seconds"]
        dur = _floats(table.column("video_duration"))
        cs, ce = _floats(table.column("clip_start")), _floats(table.column("clip_end"))
        whole = ~(dur > max_s)  # NaN duration: assume the video is short enough
        has_clip = np.isfinite(cs) & np.isfinite(ce) & (ce > cs) & (ce - cs <= max_s)
        keep = self.drop(keep, ~whole & ~has_clip, "video longer than max_seconds without a usable clip")
        use = ~whole & has_clip
        return np.where(use, cs, np.nan), np.where(use, ce, np.nan), keep

    def build_index(self, table: pa.Table) -> dict[str, np.ndarray]:
        keep = np.ones(table.num_rows, dtype=bool)
        if self.options["drop_unsure"]:
            keep = self.drop(keep, _bool(table.column("annotator_unsure")), "annotator unsure")
        count = _floats(table.column("count"))
        lo, hi = self.options["min_count"], self.options["max_count"]
        if lo is not None or hi is not None:
            ok = np.isfinite(count) & (count >= (lo if lo is not None else -np.inf)) & \
                (count <= (hi if hi is not None else np.inf))
            keep = self.drop(keep, ~ok, "count out of range")
        n_t = pc.fill_null(pc.list_value_length(table.column("two_fps_timestamps")), 0)
        n_p = pc.fill_null(pc.list_value_length(table.column("points")), 0)
        keep = self.drop(keep, ~_bool(pc.equal(n_t, n_p)), "points and timestamps differ in length")
        source = pc.fill_null(table.column("video_source"), "youtube")
        unknown = ~_bool(pc.is_in(source, value_set=pa.array(VIDEOPOINT_SOURCES)))
        keep = self.drop(keep, unknown, "unknown video_source")
        cs, ce, keep = self.effective_clips(table, keep)
        video, keep = self.resolve_by_source(table, keep, VIDEOPOINT_SOURCES)
        vid_code = unique_with_inverse(pc.binary_join_element_wise(source, pc.fill_null(
            table.column("video_id"), ""), "\x1f"))[1].astype(np.int64)
        clip_ms = np.stack([np.nan_to_num(cs * 1000, nan=-1), np.nan_to_num(ce * 1000, nan=-1)], 1).round()
        key = np.stack([vid_code, clip_ms[:, 0].astype(np.int64), clip_ms[:, 1].astype(np.int64)], 1)
        _, codes = np.unique(key, axis=0, return_inverse=True)
        index = self.grouped_index(codes.reshape(-1).astype(np.int64), keep, video)
        first = index["order"][index["offsets"][:-1]]
        index["clip_start"], index["clip_end"] = cs[first], ce[first]
        if self.options["oversample"] and len(first):
            # the official option: clips whose largest count is <= 5 / <= 25 / > 25 appear x1 / x2 / x4
            largest = np.maximum.reduceat(np.nan_to_num(count[index["order"]], nan=0.0), index["offsets"][:-1])
            reps = np.where(largest <= 5, 1, np.where(largest <= 25, 2, 4))
            index = select_groups(index, np.repeat(np.arange(len(first)), reps))
        return index

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:
        cs, ce = float(self.index["clip_start"][group]), float(self.index["clip_end"][group])
        clipped = np.isfinite(cs)
        recs = self.row_dicts(rows, ["video_id", "video_source", "label", "question", "count",
                                     "two_fps_timestamps", "points", "annotator_unsure", "category",
                                     "video_duration"])
        anns = AnnotationSet()
        for r in recs:
            # whole video: timestamps must lie within its duration (when the table gives it)
            duration = ce - cs if clipped else _finite_or_none(r.get("video_duration"))
            anns.add(self.pointing, r, cs if clipped else 0.0, ce - cs if clipped else np.inf, rng, duration)
        video = VideoRef(self.video_file(group), clip_start=cs if clipped else None,
                         clip_end=ce if clipped else None, source=recs[0]["video_id"])
        meta = self.metadata(rows, video_id=recs[0]["video_id"], video_source=recs[0]["video_source"])
        meta.extra["configs"] = [self.configs_loaded[self.config_of_table[r]] for r in rows]
        meta.extra["annotator_unsure"] = [bool(r["annotator_unsure"]) for r in recs]
        p_chat = self.options["p_multi_turn"]
        chat = len(anns.annotations) > 1 and p_chat > 0 and rng.random() < p_chat
        return anns.example(meta, video=video, layout="chat" if chat else "tree")

    def pointing(self, row: dict[str, Any], start: float, length: float, rng: np.random.RandomState,
                 duration: float | None = None) -> VideoPointing:
        """One row's query. Frames outside the clip are left out (the row annotates the whole video);
        a NaN timestamp or coordinate is not: the VideoPointing rejects it (AnnotationError)."""
        times: list[float] = []
        pts: list[tuple[float, float, float]] = []
        style = self.styles[int(rng.randint(len(self.styles)))] if len(self.styles) > 1 else self.styles[0]
        for t, frame_points in zip(row["two_fps_timestamps"] or [], row["points"] or [], strict=False):
            if t is None:
                continue
            rel = float(np.floor((float(t) - start) * 2 + 1e-6) / 2)  # clip-relative, on the 0.5 s grid
            if rel < 0 or rel > length + 1e-6:
                continue
            times.append(rel)
            pts += [(rel, _coord(p, "x"), _coord(p, "y")) for p in frame_points or [] if p is not None]
        timestamps = np.unique(np.asarray(times, dtype=np.float64))
        pts.sort()
        arr = np.asarray([(x, y) for _, x, y in pts], dtype=np.float64).reshape(-1, 2)
        frame_index = np.searchsorted(timestamps, [t for t, _, _ in pts]).astype(np.int64)
        return VideoPointing(label=row["label"], timestamps=timestamps, points=arr, frame_index=frame_index,
                             scale=(100.0, 100.0), count=row["count"], question=row.get("question"),
                             mode=style[len("video_"):], style=style, duration=duration)


def _coord(p: Any, axis: str) -> float:
    """A point's x or y as a float (NaN when null: the annotation then rejects it, never a silent 0)."""
    v = p.get(axis) if isinstance(p, dict) else None
    return float("nan") if v is None else float(v)


def _finite_or_none(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and np.isfinite(v) and v > 0 else None


# ---------------------------------------------------------------------------------------------
# Molmo2-VideoTrack
# ---------------------------------------------------------------------------------------------


@register_dataset("molmo2-videotrack")
class Molmo2VideoTrack(VideoTableDataset):
    """Referring-expression object tracks (allenai/Molmo2-VideoTrack), one example per row.

    Videos live under ``media/videos/tracking/<video_dataset>/``. The row's ``clip`` file is used
    when present (frame i of ``points`` at i/fps); otherwise the full ``video`` with the clip
    [start_frame/fps, (end_frame+1)/fps]. Points are pixels (scale = (w, h)); a null point means the
    object is not visible on that frame and is left out of the track.
    """

    NAME = "molmo2-videotrack"
    HF_PATH = "allenai/Molmo2-VideoTrack"
    SPLITS = {"train": "train"}
    COLUMNS = {"id": None, "video": is_string, "clip": is_string, "video_dataset": is_string, "exp": is_string,
               "points": is_list, "start_frame": is_number, "end_frame": is_number, "w": is_number, "h": is_number,
               "fps": is_number}

    def build_index(self, table: pa.Table) -> dict[str, np.ndarray]:
        keep = np.ones(table.num_rows, dtype=bool)
        fps = _floats(table.column("fps"))
        keep = self.drop(keep, ~(fps > 0), "no fps")
        size_ok = (_floats(table.column("w")) > 0) & (_floats(table.column("h")) > 0)
        keep = self.drop(keep, ~size_ok, "no frame size")
        finder = VideoFinder(["tracking"], self.root)
        dataset = pc.fill_null(table.column("video_dataset"), "")

        def ids(col: str) -> pa.ChunkedArray:
            return pc.binary_join_element_wise(dataset, table.column(col), "/")  # null when col is null

        from_clip = self.resolve(ids("clip"), finder)
        from_video = self.resolve(ids("video"), finder)
        uses_clip = from_clip != ""
        video = np.where(uses_clip, from_clip, from_video)
        index = self.grouped_index(np.arange(table.num_rows, dtype=np.int64), keep, video)
        index["uses_clip"] = uses_clip[index["order"][index["offsets"][:-1]]]
        return index

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:
        r = self.row_dicts(rows)[0]
        fps = float(r["fps"])
        path = self.video_file(group)
        duration = None
        if bool(self.index["uses_clip"][group]):
            video = VideoRef(path, source=r["video"])
        else:
            start = int(self.required("start_frame", int(rows[0]), r["start_frame"]))
            end = int(self.required("end_frame", int(rows[0]), r["end_frame"]))
            video = VideoRef(path, clip_start=start / fps, clip_end=(end + 1) / fps, source=r["video"])
            duration = (end + 1 - start) / fps
        anns = AnnotationSet()
        anns.add(track_of_row, r, fps, duration)
        meta = self.metadata(rows, id=r["id"], video=r["video"], clip=r["clip"], video_dataset=r["video_dataset"])
        meta.extra.update({k: r.get(k) for k in ("video_source", "obj_id", "mask_id", "n_frames") if k in r})
        return anns.example(meta, video=video)


def track_of_row(r: dict[str, Any], fps: float, duration: float | None) -> Track:
    """The Track of one Molmo2-VideoTrack row: frame i of an object's ``points`` is at i / fps; a null
    point means not visible there (left out); a NaN coordinate or null object id is an AnnotationError."""
    n = max([len(o.get("points") or []) for o in r["points"] or [] if o] + [0])
    pts, frames, oids = [], [], []
    for obj in r["points"] or []:
        for i, p in enumerate((obj or {}).get("points") or []):
            if p is not None and len(p) >= 2 and p[0] is not None and p[1] is not None:
                pts.append((float(p[0]), float(p[1])))
                frames.append(i)
                oids.append(obj.get("object_id"))
    if any(o is None for o in oids):
        from molmo2_data.annotations import invalid

        invalid("track", "object id is missing")
    order = np.lexsort((np.asarray(oids), np.asarray(frames))) if pts else np.zeros(0, dtype=np.int64)
    return Track(label=r["exp"], timestamps=np.arange(n) / fps,
                 points=np.asarray(pts, dtype=np.float64).reshape(-1, 2)[order],
                 frame_index=np.asarray(frames, dtype=np.int64)[order],
                 object_ids=np.asarray(oids, dtype=np.int64)[order], occluded=np.zeros(len(pts), dtype=bool),
                 scale=(float(r["w"]), float(r["h"])), fps=fps, duration=duration)


# ---------------------------------------------------------------------------------------------
# Molmo2-VideoCountEval
# ---------------------------------------------------------------------------------------------

@register_dataset("molmo2-videocounteval", aliases=("molmo2-video-count-eval",))
class Molmo2VideoCountEval(VideoTableDataset):
    """Video counting benchmark (allenai/Molmo2-VideoCountEval, published split ``val``, ours
    ``validation``): one example per row, a :class:`Count` of ``label`` in the clip
    [clip_start, clip_end] (the whole video when both are null; to the end when only the start is set),
    asked with the row's ``question`` (style ``video_count``); ``category`` goes to the metadata.
    Videos: ``media/videos/<video_source>/<video_id>.*``. Skipped and counted: null ids, a missing or
    negative count, an empty clip, a ``video_source`` that is not a plain folder name, a missing video.
    """

    NAME = "molmo2-videocounteval"
    HF_PATH = "allenai/Molmo2-VideoCountEval"
    SPLITS = {"validation": "val"}
    COLUMNS = {"video_id": is_string, "video_source": is_string, "clip_start": is_number, "clip_end": is_number,
               "count": is_number, "label": is_string, "category": is_string, "question": is_string,
               "video_duration": is_number}

    def build_index(self, table: pa.Table) -> dict[str, np.ndarray]:
        keep = self.rows_with_ids(table)
        count = _floats(table.column("count"))
        keep = self.drop(keep, ~(np.isfinite(count) & (count >= 0)), "missing or negative count")
        cs, ce = _floats(table.column("clip_start")), _floats(table.column("clip_end"))
        keep = self.drop(keep, np.isfinite(cs) & np.isfinite(ce) & ~(ce > cs), "empty clip")
        video, keep = self.resolve_by_source(table, keep)
        index = self.grouped_index(np.arange(table.num_rows, dtype=np.int64), keep, video)
        first = index["order"][index["offsets"][:-1]]
        index["clip_start"], index["clip_end"] = cs[first], ce[first]
        return index

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:
        (r,) = self.row_dicts(rows, ["video_id", "video_source", "count", "label", "category", "question"])
        cs, ce = float(self.index["clip_start"][group]), float(self.index["clip_end"][group])
        video = VideoRef(self.video_file(group), clip_start=cs if np.isfinite(cs) else None,
                         clip_end=ce if np.isfinite(ce) else None, source=r["video_id"])
        anns = AnnotationSet()
        anns.add(Count, label=r["label"], count=r["count"], question=r["question"], style="video_count")
        meta = self.metadata(rows, video_id=r["video_id"], video_source=r["video_source"])
        meta.extra["category"] = r["category"]
        return anns.example(meta, video=video)


# ---------------------------------------------------------------------------------------------
# Molmo2-VideoPointEval
# ---------------------------------------------------------------------------------------------


def _rows_with_null_points(points: pa.Array, times: pa.Array) -> np.ndarray:
    """Per row: does any point (or its x / y) or timestamp hold a null?"""
    bad = np.zeros(len(points), dtype=bool)
    for column, fields in ((points, ("x", "y")), (times, ())):
        flat = pc.list_flatten(column)
        if not len(flat):
            continue
        null = _bool(pc.is_null(flat))
        for f in fields:
            null |= _bool(pc.is_null(pc.struct_field(flat, f)))
        parents = np.asarray(pc.list_parent_indices(column).to_numpy(zero_copy_only=False))
        bad[parents[null]] = True
    return bad


def _video_masks(masks: Any) -> list[list[dict[str, Any]]]:
    """The ``masks`` cell (per point: a list of {frame_id, rle}; a JSON string is accepted) as plain
    lists, with each frame's time (frame_id / 2: the masks are on the 2 fps grid)."""
    if isinstance(masks, str):
        import json

        masks = json.loads(masks)
    out = []
    for per_point in masks or []:
        frames = []
        for f in per_point or []:
            if f is None or f.get("rle") is None or f.get("frame_id") is None:
                continue
            frames.append({"time": float(f["frame_id"]) / 2.0, "rle": dict(f["rle"])})
        out.append(frames)
    return out


@register_dataset("molmo2-videopointeval", aliases=("molmo2-video-point-eval",))
class Molmo2VideoPointEval(VideoTableDataset):
    """Video pointing benchmark (allenai/Molmo2-VideoPointEval, published split ``val``, ours
    ``validation``): one example per row, a :class:`VideoPointing` of ``label`` with one pixel point per
    annotated timestamp (scale = the row's ``width``/``height``), and every object's masks (COCO RLE,
    compressed or not, per 2 fps frame) in ``metadata.extra["video_masks"]`` (kept encoded; the scorer
    decodes the frames it needs). Skipped and counted: null ids, points and timestamps of different
    lengths, masks not one list per point, a missing size, an unusable ``video_source``, a missing video.
    """

    NAME = "molmo2-videopointeval"
    HF_PATH = "allenai/Molmo2-VideoPointEval"
    SPLITS = {"validation": "val"}
    COLUMNS = {"video_id": is_string, "video_source": is_string, "width": is_number, "height": is_number,
               "video_duration": is_number, "two_fps_timestamps": is_list, "points": is_list, "masks": None,
               "label": is_string}

    def build_index(self, table: pa.Table) -> dict[str, np.ndarray]:
        keep = self.rows_with_ids(table)
        n_t = pc.fill_null(pc.list_value_length(table.column("two_fps_timestamps")), -1)
        n_p = pc.fill_null(pc.list_value_length(table.column("points")), -2)
        keep = self.drop(keep, ~_bool(pc.equal(n_t, n_p)), "points and timestamps differ in length")
        keep = self.drop(keep, _rows_with_null_points(table.column("points").combine_chunks(),
                                                      table.column("two_fps_timestamps").combine_chunks()),
                         "a null point or timestamp")
        if pa.types.is_list(table.schema.field("masks").type) or pa.types.is_large_list(table.schema.field("masks").type):
            n_m = pc.fill_null(pc.list_value_length(table.column("masks")), -3)
            keep = self.drop(keep, ~_bool(pc.equal(n_m, n_p)), "masks are not one list per point")
        size_ok = (_floats(table.column("width")) > 0) & (_floats(table.column("height")) > 0)
        keep = self.drop(keep, ~size_ok, "missing video size")
        video, keep = self.resolve_by_source(table, keep)
        return self.grouped_index(np.arange(table.num_rows, dtype=np.int64), keep, video)

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:
        (r,) = self.row_dicts(rows, ["video_id", "video_source", "width", "height", "two_fps_timestamps",
                                     "points", "masks", "label", "video_duration"])
        order = np.argsort(np.asarray(r["two_fps_timestamps"], dtype=np.float64), kind="stable")
        times = np.asarray(r["two_fps_timestamps"], dtype=np.float64)[order]
        pts = np.asarray([(_coord(r["points"][k], "x"), _coord(r["points"][k], "y")) for k in order],
                         dtype=np.float64).reshape(-1, 2)
        timestamps, frame_index = np.unique(times, return_inverse=True)
        masks = _video_masks(r["masks"])
        anns = AnnotationSet()
        anns.add(VideoPointing, label=r["label"], timestamps=timestamps, points=pts,
                 frame_index=frame_index.astype(np.int64), scale=(float(r["width"]), float(r["height"])),
                 count=len(pts), question=None, mode="point", style="video_point",
                 duration=_finite_or_none(r.get("video_duration")))
        meta = self.metadata(rows, video_id=r["video_id"], video_source=r["video_source"])
        meta.extra["video_masks"] = [masks[k] for k in order] if len(masks) == len(pts) else masks
        return anns.example(meta, video=VideoRef(self.video_file(group), source=r["video_id"]))


# ---------------------------------------------------------------------------------------------
# Molmo2-CapEval
# ---------------------------------------------------------------------------------------------


def ego4d_clip_name(video_id: str, start: float, end: float) -> str:
    """The file stem of a clipped Ego4D CapEval video: ``<id>_bounded_decimal_2_<start>_<end>``, times
    with two decimals, trailing zeros stripped but one digit kept after the point (3.0, 12.5, 7.25)."""

    def fmt(t: float) -> str:
        text = f"{t:.2f}".rstrip("0")
        return text + "0" if text.endswith(".") else text

    return f"{video_id}_bounded_decimal_2_{fmt(start)}_{fmt(end)}"


@register_dataset("molmo2-capeval", aliases=("molmo2-cap-eval",))
class Molmo2CapEval(VideoTableDataset):
    """Video captioning benchmark (allenai/Molmo2-CapEval, split ``test``): one example per row, the
    ``aggregated_caption`` as a :class:`Caption` (style ``video_long_caption``), and the row's
    ``atomic_statements`` / ``statement_categories`` in the metadata, which the scorer uses (statement
    recall). Videos by ``source``: ``media/videos/vimeo/vimeo_<id>.*`` (the repo's vimeo_videos.zip;
    ``<id>.*`` accepted), ``media/videos/bdd100k/<id>.*``, and ``media/videos/ego4d/`` clips named by
    :func:`ego4d_clip_name` (already cut: used whole). Vimeo and BDD100K videos are cut to
    [video_start, video_end] when given **[unconfirmed: the released files may be pre-cut]**.
    Skipped and counted: null ids, no statements, an unknown source, a missing video."""

    NAME = "molmo2-capeval"
    HF_PATH = "allenai/Molmo2-CapEval"
    SPLITS = {"test": "test"}
    SOURCES: ClassVar[tuple[str, ...]] = ("vimeo", "bdd100k", "ego4d")
    COLUMNS = {"video_id": is_string, "source": is_string, "video_start": is_number, "video_end": is_number,
               "duration": is_number, "atomic_statements": is_list, "statement_categories": is_list,
               "aggregated_caption": is_string}

    def build_index(self, table: pa.Table) -> dict[str, np.ndarray]:
        keep = self.rows_with_ids(table)
        n_s = pc.fill_null(pc.list_value_length(table.column("atomic_statements")), 0)
        keep = self.drop(keep, ~_bool(pc.greater(n_s, 0)), "no atomic statements")
        source = np.asarray(pc.fill_null(table.column("source"), "").to_numpy(zero_copy_only=False), dtype=object)
        keep = self.drop(keep, ~np.isin(source, self.SOURCES), "unknown source")
        start, end = _floats(table.column("video_start")), _floats(table.column("video_end"))
        video = np.full(table.num_rows, "", dtype=object)
        top = self.videos_root()
        finders = {name: VideoFinder([name], self.root) for name in self.SOURCES if (source == name).any()}
        for r, (name, keys) in enumerate(self.file_stems(table)):
            if name in finders and keys:
                found = next((p for p in map(finders[name].find, keys) if p), None)
                video[r] = _rel(found, top)
        index = self.grouped_index(np.arange(table.num_rows, dtype=np.int64), keep, video)
        first = index["order"][index["offsets"][:-1]]
        cut = source[first] != "ego4d"
        index["clip_start"] = np.where(cut, start[first], np.nan)
        index["clip_end"] = np.where(cut, end[first], np.nan)
        return index

    @classmethod
    def file_stems(cls, table: pa.Table) -> list[tuple[str, list[str]]]:
        """Per row: (source folder, the file stems its video may have, preferred first)."""
        ids = table.column("video_id").to_pylist()
        sources = table.column("source").to_pylist()
        start, end = _floats(table.column("video_start")), _floats(table.column("video_end"))
        out: list[tuple[str, list[str]]] = []
        for vid, src, s, e in zip(ids, sources, start, end, strict=True):
            if vid is None or src is None:
                out.append((src or "", []))
            elif src == "ego4d" and np.isfinite(s) and np.isfinite(e):
                out.append((src, [ego4d_clip_name(vid, float(s), float(e))]))
            elif src == "vimeo":
                out.append((src, [vid if vid.startswith("vimeo_") else f"vimeo_{vid}", vid]))
            else:
                out.append((src, [vid]))
        return out

    @classmethod
    def video_needs(cls, table: pa.Table) -> list[tuple[str, str]]:
        """(source folder, file stem) of every video the table needs (the download report's check)."""
        return sorted({(src, keys[0]) for src, keys in cls.file_stems(table) if src in cls.SOURCES and keys})

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:
        (r,) = self.row_dicts(rows, ["video_id", "source", "atomic_statements", "statement_categories",
                                     "aggregated_caption"])
        cs, ce = float(self.index["clip_start"][group]), float(self.index["clip_end"][group])
        video = VideoRef(self.video_file(group), clip_start=cs if np.isfinite(cs) else None,
                         clip_end=ce if np.isfinite(ce) else None, source=r["video_id"])
        meta = self.metadata(rows, video_id=r["video_id"], source=r["source"])
        statements, cats = r["atomic_statements"], r["statement_categories"] or []
        paired = len(cats) == len(statements)
        kept = [k for k, x in enumerate(statements) if x is not None]
        meta.extra["atomic_statements"] = [str(statements[k]) for k in kept]
        if paired:  # categories only when there is one per statement
            meta.extra["statement_categories"] = [str(cats[k]) for k in kept]
        anns = AnnotationSet()
        anns.add(Caption, text=r["aggregated_caption"], style="video_long_caption")
        return anns.example(meta, video=video)
