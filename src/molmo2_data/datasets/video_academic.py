"""The academic video QA and caption sets of the official SFT mixture (``VIDEO_ACADEMIC_DATASETS``):
one declarative reader per set over the set's own annotation files.

Each source publishes its annotations its own way (TGIF's tab-separated CSVs, TVQA's JSON lines,
ActivityNet's ``database`` JSON, EPIC-KITCHENS' CSV with ``HH:MM:SS.ff`` times, ...), mostly behind a
form or an agreement, and its videos separately. So every set is a :class:`~molmo2_data.download.manual.ManualSource`:
``download`` fetches the annotation files (from the Hub when they are there, ``HUB``) or says where to put
them, then the set's ``parse`` turns the files of one split into *messages*: one row per question or
caption, with the video it is about (a path under ``media/videos/``), an optional clip (start / end in
seconds), and the official style. A renamed or retyped field of a source file is a SchemaError naming
the file, the record and the key (:class:`Records`).

:class:`AcademicVideoQA` does the rest for every set: rows grouped per video and clip in first-appearance
order (the official loaders' ``video2msgs``), split into chunks of ``MAX_PER_VIDEO`` messages where the
official loader does, groups whose video is missing counted as skipped, and each message made an
annotation: multiple choice, short answer, a caption, or a *label* question whose wording is drawn from the
set's ``QUESTIONS`` with the example's rng (the official loaders draw it unseeded at load time).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from molmo2_data.annotations import VQA, Caption, MultipleChoice
from molmo2_data.datasets.base import AnnotationSet, index_from_mask
from molmo2_data.datasets.media_store import unique_with_inverse
from molmo2_data.datasets.molmo2_video import VideoTableDataset
from molmo2_data.datasets.registry import register_dataset, register_variant
from molmo2_data.download.manual import ManualSource
from molmo2_data.errors import SchemaError
from molmo2_data.example import Example, Subtitle, VideoRef
from molmo2_data.paths import VIDEO_EXTENSIONS, prepared_video_name
from molmo2_data.tables import group_rows, is_list, is_number, is_string

KINDS = ("mc", "qa", "label", "caption")

SUBTITLE = pa.struct([("start", pa.float64()), ("end", pa.float64()), ("text", pa.string())])
MESSAGES = pa.schema([
    ("video", pa.string()),  # relative to media/videos
    ("clip_start", pa.float64()), ("clip_end", pa.float64()),  # seconds in the video file; null = whole
    ("kind", pa.string()),  # mc | qa | label | caption
    ("question", pa.string()), ("options", pa.list_(pa.string())), ("answer_index", pa.int64()),
    ("answer", pa.string()),  # qa / label: the answer; caption: the text; mc: the correct option
    ("answers", pa.list_(pa.string())),  # qa with several annotator answers (the formatter picks one)
    ("subject", pa.string()),  # caption about one object (video_object_caption): the object's name
    ("style", pa.string()),
    ("subtitles", pa.list_(SUBTITLE)),
    ("source_id", pa.string()),
])
COLUMNS = {"video": is_string, "clip_start": is_number, "clip_end": is_number, "kind": is_string,
           "question": is_string, "options": is_list, "answer_index": None, "answer": is_string,
           "answers": is_list, "subject": is_string, "style": is_string, "subtitles": is_list, "source_id": is_string}


def message(video: str, kind: str, style: str, *, question: str | None = None, answer: Any = None,
            options: list[str] | None = None, answer_index: int | None = None, clip: tuple[float, float] | None = None,
            subtitles: list[dict[str, Any]] | None = None, source_id: Any = None, answers: list[str] | None = None,
            subject: str | None = None) -> dict[str, Any]:
    """One message row (see ``MESSAGES``)."""
    return {"video": video, "clip_start": None if clip is None else float(clip[0]),
            "clip_end": None if clip is None else float(clip[1]), "kind": kind, "question": question,
            "options": options, "answer_index": answer_index, "answer": None if answer is None else str(answer),
            "answers": answers, "subject": subject, "style": style, "subtitles": subtitles, "source_id": None if source_id is None else str(source_id)}


def messages_table(rows: Iterable[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=MESSAGES)


# ---------------------------------------------------------------------------------------------
# Source files with typed checks
# ---------------------------------------------------------------------------------------------


class Records:
    """The records of one source file (a JSON list or object, JSON lines, CSV / TSV), each read with
    :meth:`get`, which raises a SchemaError naming the file, the record and the key when a field is
    missing or of another type."""

    def __init__(self, path: Path, records: list[Any], label: Callable[[int], str] | None = None):
        self.path, self.records = path, records
        self._label = label or (lambda i: f"record {i}")

    def __iter__(self) -> Iterator[tuple[int, dict[str, Any]]]:
        for i, r in enumerate(self.records):
            if not isinstance(r, dict):
                raise SchemaError(f"{self.path}: {self._label(i)} is not an object")
            yield i, r

    def __len__(self) -> int:
        return len(self.records)

    def get(self, i: int, r: Mapping[str, Any], key: str, kind: type | tuple[type, ...] = str,
            optional: bool = False) -> Any:
        if key not in r or r[key] is None or (isinstance(r[key], float) and np.isnan(r[key]) and kind is not float):
            if optional:
                return None
            raise SchemaError(f"{self.path}: {self._label(i)} has no {key!r} (has {', '.join(sorted(map(str, r)))})")
        v = r[key]
        if kind is float and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if kind is int and isinstance(v, str) and v.strip().lstrip("-").isdigit():
            v = int(v)  # CSV cells are text
        if kind is float and isinstance(v, str):
            try:
                v = float(v)
            except ValueError:
                pass
        if not isinstance(v, kind) or (isinstance(v, bool) and kind is not bool):
            raise SchemaError(f"{self.path}: {self._label(i)}.{key} is {type(v).__name__}, expected "
                              f"{getattr(kind, '__name__', kind)}")
        return v


def _require(path: Path) -> Path:
    if not path.is_file():
        raise SchemaError(f"{path}: missing (the source's files are incomplete)")
    return path


def read_json_file(path: Path) -> Any:
    try:
        return json.loads(_require(path).read_text(encoding="utf-8"))
    except ValueError as e:
        raise SchemaError(f"{path}: not valid JSON ({e})") from e


def json_records(path: Path, key: str | None = None) -> Records:
    """A JSON list of objects (or the list under ``key``)."""
    doc = read_json_file(path)
    if key is not None:
        doc = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(doc, list):
        raise SchemaError(f"{path}: expected a JSON list{f' under {key!r}' if key else ''}")
    return Records(path, doc)


def json_mapping(path: Path, key: str | None = None) -> dict[str, Any]:
    """A JSON object (or the object under ``key``), e.g. ``{"database": {video id: {...}}}``."""
    doc = read_json_file(path)
    if key is not None:
        doc = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(doc, dict):
        raise SchemaError(f"{path}: expected a JSON object{f' under {key!r}' if key else ''}")
    return doc


def jsonl_records(path: Path) -> Records:
    rows = []
    for n, line in enumerate(_require(path).read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError as e:
                raise SchemaError(f"{path}: line {n} is not valid JSON ({e})") from e
    return Records(path, rows, lambda i: f"line {i + 1}")


def csv_records(path: Path, delimiter: str = ",") -> Records:
    text = _require(path).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text), delimiter=delimiter))
    return Records(path, rows, lambda i: f"row {i + 2}")


def require_file(path: Path) -> Path:
    """``path`` when it is a file, else a SchemaError: the source's files are incomplete."""
    return _require(path)


def options_of(recs: Records, i: int, r: dict[str, Any], keys: list[str]) -> list[str]:
    return [str(recs.get(i, r, k, (str, int, float))) for k in keys]


def answer_index_of(recs: Records, i: int, r: dict[str, Any], key: str, n: int) -> int | None:
    """An answer index in range, else None (the message is left out, as the official loaders do)."""
    k = recs.get(i, r, key, int)
    return k if 0 <= k < n else None


def fixed_draw(seed: str, n: int) -> int:
    """A fixed draw in [0, n) from a record's text: where the official loader draws with an unseeded
    ``random`` at load time, every import here gives the same table."""
    return int.from_bytes(hashlib.sha256(seed.encode()).digest()[:4], "little") % n


def insert_answer(answer: str, negatives: list[str], slot_seed: str) -> tuple[list[str], int]:
    """Options = negatives with the answer at a slot drawn from the record (:func:`_pick`)."""
    k = fixed_draw(slot_seed, len(negatives) + 1)
    return negatives[:k] + [answer] + negatives[k:], k


def parquet_split_rows(folder: Path, split: str) -> list[dict[str, Any]]:
    """Rows of a Hub dataset's parquet files of one split (``**/<split>-*.parquet`` or ``**/<split>/*``)."""
    import pyarrow.parquet as pq

    files = sorted(p for p in folder.rglob("*.parquet")
                   if p.name.startswith(f"{split}-") or p.name.startswith(f"{split}.") or p.parent.name == split)
    if not files:
        raise SchemaError(f"{folder}: no parquet file of split {split!r}")
    return [r for f in files for r in pq.read_table(f).to_pylist()]


# ---------------------------------------------------------------------------------------------
# The reader
# ---------------------------------------------------------------------------------------------


class AcademicVideoQA(VideoTableDataset):
    """Messages of one academic video set (see the module docstring). Subclasses set ``NAME``, ``SPLITS``,
    ``MANUAL`` (what to fetch, the files per split, ``convert``), optionally ``HUB`` / ``HUB_FILES``,
    ``QUESTIONS`` (label sets) and ``MAX_PER_VIDEO``."""

    COLUMNS = COLUMNS
    QUESTIONS: ClassVar[tuple[str, ...]] = ()  # label questions, one drawn per message
    MAX_PER_VIDEO: ClassVar[int | None] = None

    @classmethod
    def video_needs(cls, table: pa.Table) -> list[tuple[str, str]]:
        """(source folder, video path) of every video the table names, for ``download --check``."""
        return sorted({tuple(v.split("/", 1)) for v in pc.unique(table.column("video")).to_pylist()  # type: ignore[misc]
                       if v and "/" in v})

    def build_index(self, table: pa.Table) -> dict[str, np.ndarray]:
        keep = np.ones(table.num_rows, dtype=bool)
        kind = table.column("kind")
        keep = self.drop(keep, ~np.asarray(pc.fill_null(pc.is_in(kind, pa.array(KINDS)), False), dtype=bool),
                         "unknown message kind")
        keep = self.drop(keep, ~np.asarray(pc.is_valid(table.column("video")), dtype=bool), "no video")
        start = pc.fill_null(table.column("clip_start"), -1.0).to_numpy(zero_copy_only=False)
        end = pc.fill_null(table.column("clip_end"), -1.0).to_numpy(zero_copy_only=False)
        has_clip = np.asarray(pc.is_valid(table.column("clip_start")), dtype=bool)
        keep = self.drop(keep, has_clip & ~(np.isfinite(start) & np.isfinite(end) & (start >= 0) & (end > start)),
                         "clip end not after its start")
        video = self.resolve_paths(table.column("video"))
        # one group per (video, clip), in first-appearance order, then chunks of MAX_PER_VIDEO messages
        key = pc.binary_join_element_wise(pc.fill_null(table.column("video"), ""), pc.cast(pc.fill_null(
            table.column("clip_start"), -1.0), pa.string()), pc.cast(pc.fill_null(table.column("clip_end"), -1.0),
                                                                       pa.string()), "|")
        sel = np.nonzero(keep)[0]
        order, offsets, first = group_rows(key.take(pa.array(sel)))
        present = video[sel[first]] != ""
        if (~present).any():
            self.skipped["video missing locally"] += int((~present).sum())
        index = index_from_mask(sel[order], offsets, keep_groups=present)
        group_video = video[sel[first]][present]
        if self.MAX_PER_VIDEO:
            index, group_video = _chunk(index, group_video, self.MAX_PER_VIDEO)
        index["video"] = np.array([str(v) for v in group_video], dtype=str)
        return index

    def resolve_paths(self, videos: pa.ChunkedArray) -> np.ndarray:
        """Per row, the video path when the file exists (or the same name with another video extension:
        sources mix .mp4, .mkv and .webm), else ''."""
        distinct, inverse = unique_with_inverse(pc.fill_null(videos, ""))
        top = self.videos_root()
        ok = np.array([_existing(top, v) for v in distinct] or [""], dtype=object)
        return ok[inverse] if len(distinct) else np.full(len(inverse), "", dtype=object)

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:
        msgs = self.row_dicts(rows)
        anns = AnnotationSet()
        for m in msgs:
            anns.add(self.annotation, m, rng)
        first = msgs[0]
        subs = AnnotationSet()
        for s in first.get("subtitles") or []:
            if s and s.get("text") and s.get("start") is not None and s.get("end") is not None:
                subs.add(Subtitle, s["start"], s["end"], s["text"])
        meta = self.metadata(rows, video=first["video"], source_ids=[m["source_id"] for m in msgs])
        rel = str(self.index["video"][group])  # the file found (its extension may differ from the source's)
        video = VideoRef(self.video_file(group), clip_start=first["clip_start"], clip_end=first["clip_end"],
                         subtitles=tuple(subs.annotations), source=rel)  # type: ignore[arg-type]
        ex = anns.example(meta, video=video)
        for reason, n in subs.dropped.items():
            ex.metadata.dropped[reason] = ex.metadata.dropped.get(reason, 0) + n
        return ex

    def annotation(self, m: dict[str, Any], rng: np.random.RandomState) -> Any:
        kind, style = m["kind"], m["style"]
        if kind == "mc":
            return MultipleChoice(question=m["question"], options=m["options"], answer_index=m["answer_index"],
                                  style=style)
        if kind == "caption":
            return Caption(m["answer"], style=style, subject=m.get("subject"))
        question = m["question"]
        if kind == "label":
            question = self.QUESTIONS[int(rng.randint(len(self.QUESTIONS)))]
        return VQA(question, m.get("answers") or m["answer"], style=style)


def _existing(top: str, rel: str) -> str:
    """The file to read for ``rel``: its prepared 2 fps copy when ``prepare videos`` made one (the loader
    reads the original beside it for times off the copy's grid), else the file, else the same name with
    another video extension."""
    if not rel:
        return ""
    stem = os.path.splitext(rel)[0]
    prepared = prepared_video_name(stem, 2)
    if os.path.isfile(os.path.join(top, prepared)):
        return prepared
    if os.path.isfile(os.path.join(top, rel)):
        return rel
    for ext in VIDEO_EXTENSIONS:
        if os.path.isfile(os.path.join(top, stem + ext)):
            return stem + ext
    return ""


def _chunk(index: dict[str, np.ndarray], video: np.ndarray, size: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Split every group into consecutive chunks of at most ``size`` rows (the official
    ``split_into_groups``: sizes as even as possible)."""
    order, offsets = index["order"], index["offsets"]
    new_offsets, new_video = [0], []
    for g in range(len(offsets) - 1):
        n = int(offsets[g + 1] - offsets[g])
        k = -(-n // size)
        base, extra = divmod(n, k)
        pos = int(offsets[g])
        for j in range(k):
            pos += base + (1 if j < extra else 0)
            new_offsets.append(pos)
            new_video.append(video[g])
    return {"order": order, "offsets": np.asarray(new_offsets, dtype=np.int64)}, np.asarray(new_video, dtype=object)


# ---------------------------------------------------------------------------------------------
# Declaring a set
# ---------------------------------------------------------------------------------------------

VIDEO_ACADEMIC_SETS: dict[str, type[AcademicVideoQA]] = {}  # catalog name -> reader, in declaration order

Parse = Callable[[Path, str], Iterable[dict[str, Any]]]  # (the set's manual folder, source split) -> messages


def video_set(name: str, official: str | Iterable[str], parse: Parse, what: str, *,
              splits: Mapping[str, str] | None = None, files: Mapping[str, str] | None = None,
              hub: str | None = None, hub_files: tuple[str, ...] = (), questions: tuple[str, ...] = (),
              max_per_video: int | None = None, aliases: tuple[str, ...] = (), doc: str = "",
              variants: Mapping[str, Mapping[str, Any]] | None = None,
              base: type[AcademicVideoQA] = AcademicVideoQA) -> type[AcademicVideoQA]:
    """Register one set: catalog ``name``, official name(s), ``parse`` (the split's messages from the
    files under ``manual/<name>/``), what to fetch and from where. ``files`` maps source splits to the file
    or folder ``download`` checks for (default: the whole manual folder)."""
    splits = dict(splits or {"train": "train"})
    src_splits = sorted(set(splits.values()))
    files = dict(files or {s: "." for s in src_splits})

    def convert(path: Path, split: str) -> pa.Table:
        folder = path
        for _ in Path(files[split]).parts:  # back from the split's file to the set's manual folder
            folder = folder.parent
        return messages_table(parse(folder, split))

    cls = type(f"VideoQA_{name.replace('-', '_')}", (base,), {
        "NAME": name, "SPLITS": splits, "QUESTIONS": questions, "MAX_PER_VIDEO": max_per_video,
        "MANUAL": ManualSource(what, files, convert, hub=hub, hub_files=hub_files, watch_folder=True),
        "__doc__": doc or f"{name}: {what}", "__module__": base.__module__})
    register_dataset(name, aliases=aliases)(cls)
    VIDEO_ACADEMIC_SETS[name] = cls
    for off in [official] if isinstance(official, str) else official:
        register_variant(off, name)
    for off, opts in (variants or {}).items():
        register_variant(off, name, **opts)
    return cls


