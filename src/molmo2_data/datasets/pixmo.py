"""Readers of the PixMo image datasets (allenai/pixmo-*), in their published schemas: captions, QA,
documents and clocks here, the pointing and counting sets in :mod:`molmo2_data.datasets.pixmo_points`.

URL-based sets have one row per annotation; rows are grouped by ``image_url`` into one example per
image (a message tree), as the official download step does. Images come from the local image store
(``media/images/<sha256(url)>``); groups whose image is missing are skipped and counted. A null
``image_url`` is a per-row SchemaError (one counted skip), never a dead stage.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from molmo2_data import paths
from molmo2_data.annotations import invalid
from molmo2_data.datasets.base import AnnotationSet, HeldOut, TableDataset, index_from_mask
from molmo2_data.datasets.media_store import unique_with_inverse, url_image_file, url_images_present
from molmo2_data.datasets.registry import register_dataset
from molmo2_data.errors import ConfigError, SchemaError
from molmo2_data.example import (
    Caption,
    ClockTime,
    Example,
    ImageRef,
    Message,
    Messages,
    Metadata,
)
from molmo2_data.tables import group_rows, is_bool, is_integer, is_list, is_string, is_struct


class UrlImageDataset(TableDataset):
    """Shared index building of URL-image sets: group by URL, drop groups without a local image."""

    MEDIA: ClassVar[str] = "url_image"
    URL_COLUMN: ClassVar[str] = "image_url"

    def row_filter(self, table: pa.Table) -> np.ndarray | None:
        """Per-row keep mask for the dataset's official filters (None = keep all). Subclasses count
        what they drop in ``self.skipped``."""
        return None

    def build_index(self, table: pa.Table) -> dict[str, np.ndarray]:
        urls = table.column(self.URL_COLUMN)
        order, offsets, _ = group_rows(urls)
        keep = self.row_filter(table)
        present = url_images_present(urls, self.root)
        first = order[offsets[:-1]]
        group_present = present[first] | null_rows(urls)[first]  # a null URL: a per-row SchemaError on get
        n_missing = int((~group_present).sum())
        if n_missing:
            self.skipped["image missing locally"] += n_missing
        return index_from_mask(order, offsets, keep_rows=keep, keep_groups=group_present)

    def image(self, rows: np.ndarray) -> ImageRef:
        url = self.required(self.URL_COLUMN, int(rows[0]))
        return ImageRef(path=url_image_file(url, self.root), source=url)

    def metadata(self, rows: np.ndarray, **source_ids: Any) -> Metadata:
        url = self.data.column(self.URL_COLUMN)[int(rows[0])].as_py()
        return Metadata(dataset=self.NAME, split=self.split, rows=tuple(int(r) for r in rows),
                        source_ids={"image_url": url, **source_ids})


def null_rows(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Per row: is the value null?"""
    return np.asarray(pc.is_null(column).to_numpy(zero_copy_only=False), dtype=bool)


def nonempty_strings(table: pa.Table, column: str) -> np.ndarray:
    col = table.column(column)
    ok = pc.fill_null(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(col)), 0), False)
    return ok.to_numpy(zero_copy_only=False)


@register_dataset("pixmo-cap")
class PixMoCap(UrlImageDataset):
    """Dense captions (allenai/pixmo-cap). ``mode="caption"`` (SFT: the caption only) or
    ``mode="transcripts"`` (pre-training: caption + one transcript drawn with the example rng, a
    two-annotation tree). ``validation`` is the official 2,048-image hold-out (seed 96817)."""

    NAME = "pixmo-cap"
    HF_PATH = "allenai/pixmo-cap"
    SPLITS = {"train": HeldOut(), "validation": HeldOut()}
    COLUMNS = {"image_url": is_string, "caption": is_string, "transcripts": is_list}

    def __init__(self, split: str = "train", mode: str = "caption", **kw: Any):
        if mode not in ("caption", "transcripts"):
            raise ConfigError(f"pixmo-cap: mode must be 'caption' or 'transcripts', got {mode!r}")
        self.mode = mode
        super().__init__(split, **kw)

    def row_filter(self, table: pa.Table) -> np.ndarray:
        keep = nonempty_strings(table, "caption")
        if (~keep).any():
            self.skipped["empty caption"] += int((~keep).sum())
        return keep

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:
        anns = AnnotationSet()
        image = self.image(rows)
        for row in self.row_dicts(rows, ["caption", "transcripts"]):
            anns.add(Caption, row["caption"], style="long_caption")
            transcripts = [t for t in (row["transcripts"] or []) if isinstance(t, str) and t.strip()]
            if self.mode == "transcripts" and transcripts:
                anns.add(Caption, transcripts[rng.randint(len(transcripts))], style="transcript")
        return anns.example(self.metadata(rows), images=(image,))


# ---------------------------------------------------------------------------------------------
# Shared helpers (also used by pixmo_points and the video readers)
# ---------------------------------------------------------------------------------------------

def _list_lengths(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Per row list length (null = 0), vectorised."""
    return pc.fill_null(pc.list_value_length(column), 0).to_numpy(zero_copy_only=False).astype(np.int64)


def _drop(skipped: Any, keep: np.ndarray, reason: str) -> np.ndarray:
    """Count the rows a filter removes under ``reason``; return ``keep`` unchanged."""
    n = int((~keep).sum())
    if n:
        skipped[reason] += n
    return keep


def _identity_index(n: int, keep: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """One group per row (tables that already hold one example per row)."""
    order = np.arange(n, dtype=np.int64)
    offsets = np.arange(n + 1, dtype=np.int64)
    return index_from_mask(order, offsets, keep_rows=keep)


def _embedded_bytes(table: pa.Table, column: str) -> pa.Array:
    """The ``bytes`` field of an HF Image column (struct<bytes: binary, path: string>)."""
    col = table.column(column)
    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    return pc.struct_field(col, "bytes")


def _has_bytes(table: pa.Table, column: str) -> np.ndarray:
    """Per row: does the image struct hold non-empty bytes? Computed chunk by chunk: merging the chunks
    of a column with more than 2 GB of images would overflow the binary offsets."""
    col = table.column(column)
    chunks = col.chunks if isinstance(col, pa.ChunkedArray) else [col]
    parts = [pc.fill_null(pc.greater(pc.binary_length(pc.struct_field(c, "bytes")), 0), False)
             .to_numpy(zero_copy_only=False) for c in chunks]
    return np.concatenate(parts).astype(bool) if parts else np.zeros(0, dtype=bool)


def is_image_struct(t: pa.DataType) -> bool:
    """HF ``Image`` feature: struct with a binary ``bytes`` field."""
    if not pa.types.is_struct(t) or t.get_field_index("bytes") < 0:
        return False
    b = t.field("bytes").type
    return pa.types.is_binary(b) or pa.types.is_large_binary(b)


# ---------------------------------------------------------------------------------------------
# QA sets
# ---------------------------------------------------------------------------------------------

_TURN_MARKER = re.compile(r"\s*\[(USER|ASSISTANT)\]\s*")


def split_turns(question: str, answer: str) -> list[Message]:
    """pixmo-cap-qa multi-turn encoding: ``[USER] q1 [ASSISTANT] a1 [USER] q2`` + ``answer`` (the final
    reply) -> alternating user/assistant messages. A question without markers is a single turn.
    Malformed turns (or a missing question / answer) raise AnnotationError."""
    from molmo2_data.annotations import check_text

    question = check_text("messages", "question", question)  # type: ignore[assignment]
    answer = check_text("messages", "answer", answer)  # type: ignore[assignment]
    if "[USER]" not in question and "[ASSISTANT]" not in question:
        return [Message("user", question.strip()), Message("assistant", answer.strip())]
    parts = _TURN_MARKER.split(question)
    if parts[0].strip():
        invalid("messages", "multi-turn question must start with [USER]")
    roles, texts = parts[1::2], parts[2::2]
    expected = ["USER" if i % 2 == 0 else "ASSISTANT" for i in range(len(roles))]
    if roles != expected or roles[-1] != "USER":
        invalid("messages", "turn markers do not alternate USER/ASSISTANT ending with USER", str(roles))
    msgs = [Message("user" if r == "USER" else "assistant", t.strip()) for r, t in zip(roles, texts, strict=True)]
    return msgs + [Message("assistant", answer.strip())]


@register_dataset("pixmo-cap-qa", aliases=("pixmo-capqa",))
class PixMoCapQa(UrlImageDataset):
    """Synthetic QA about images (allenai/pixmo-cap-qa), one tree per image, one conversation per row.

    ``source="question"`` (Molmo2): the ``question`` column carries ``[USER]``/``[ASSISTANT]`` markers
    and ``answer`` is the final reply; ``source="messages"`` (Molmo v1): the ``messages`` column lists the
    turns. The published card has no ``messages`` column; then ``source="messages"`` derives the same
    turns from ``question``/``answer`` (the two encodings hold the same conversation). Rows whose turns
    are malformed are skipped and counted."""

    NAME = "pixmo-cap-qa"
    HF_PATH = "allenai/pixmo-cap-qa"
    SPLITS = {"train": HeldOut(), "validation": HeldOut()}
    COLUMNS = {"image_url": is_string, "question": is_string, "answer": is_string}

    def __init__(self, split: str = "train", source: str = "question", style: str = "user_qa", **kw: Any):
        if source not in ("question", "messages"):
            raise ConfigError(f"pixmo-cap-qa: source must be 'question' or 'messages', got {source!r}")
        self.source = source
        self.style = style
        self.turns_column = source == "messages"
        super().__init__(split, source=source, **kw)

    def check_layout(self, table: pa.Table, where: str) -> None:
        if self.source == "messages":
            self.turns_column = "messages" in table.column_names
            if self.turns_column:
                self.COLUMNS = {"image_url": is_string, "messages": is_list}  # type: ignore[misc]

    def row_filter(self, table: pa.Table) -> np.ndarray:
        if self.turns_column:
            n = _list_lengths(table.column("messages"))
            return _drop(self.skipped, (n >= 2) & (n % 2 == 0), "messages not in user/assistant pairs")
        keep = _drop(self.skipped, nonempty_strings(table, "question") & nonempty_strings(table, "answer"),
                     "empty question or answer")
        q = pc.fill_null(table.column("question"), "")
        n_user = pc.count_substring(q, "[USER]").to_numpy(zero_copy_only=False)
        n_asst = pc.count_substring(q, "[ASSISTANT]").to_numpy(zero_copy_only=False)
        starts = pc.starts_with(pc.utf8_ltrim_whitespace(q), "[USER]").to_numpy(zero_copy_only=False)
        plain = (n_user == 0) & (n_asst == 0)
        well_formed = plain | (starts & (n_user == n_asst + 1))
        return keep & _drop(self.skipped, well_formed | ~keep, "malformed multi-turn question")

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:
        anns = AnnotationSet()
        image = self.image(rows)
        if self.turns_column:
            for turns in self.column("messages", rows):
                anns.add(_alternating, turns or [], self.style)
        else:
            for row in self.row_dicts(rows, ["question", "answer"]):
                anns.add(lambda q, a: Messages(split_turns(q, a), style=self.style), row["question"], row["answer"])
        return anns.example(self.metadata(rows), images=(image,))


def _alternating(turns: list[Any], style: str) -> Messages:
    """pixmo-cap-qa v1 ``messages``: plain strings, alternating user / assistant."""
    return Messages([Message("user" if i % 2 == 0 else "assistant", t) for i, t in enumerate(turns)], style=style)


@register_dataset("pixmo-ask-model-anything")
class PixMoAskModelAnything(UrlImageDataset):
    """Human-written QA (allenai/pixmo-ask-model-anything): the QA rows of one image form one tree."""

    NAME = "pixmo-ask-model-anything"
    HF_PATH = "allenai/pixmo-ask-model-anything"
    SPLITS = {"train": HeldOut(), "validation": HeldOut()}
    COLUMNS = {"image_url": is_string, "image_sha256": is_string, "question": is_string, "answer": is_string}

    def row_filter(self, table: pa.Table) -> np.ndarray:
        return _drop(self.skipped, nonempty_strings(table, "question") & nonempty_strings(table, "answer"),
                     "empty question or answer")

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:
        rows_ = self.row_dicts(rows, ["question", "answer", "image_sha256"])
        image = self.image(rows)
        anns = AnnotationSet()
        for r in rows_:
            anns.add(Messages.qa, r["question"], r["answer"], "user_qa")
        meta = self.metadata(rows, image_sha256=rows_[0]["image_sha256"])
        return anns.example(meta, images=(image,))


# ---------------------------------------------------------------------------------------------
# Embedded-image sets: pixmo-docs, CoSyn-point
# ---------------------------------------------------------------------------------------------


class EmbeddedImageDataset(TableDataset):
    """One example per row; the image is embedded as an HF ``Image`` struct in column ``image``."""

    MEDIA: ClassVar[str] = "embedded_image"

    def image(self, row: int) -> ImageRef:
        data = _embedded_bytes(self.data.slice(row, 1), "image")[0].as_py()
        return ImageRef(data=data)

    def base_filter(self, table: pa.Table) -> np.ndarray:
        return _drop(self.skipped, _has_bytes(table, "image"), "image bytes missing")


@register_dataset("pixmo-docs")
class PixMoDocs(EmbeddedImageDataset):
    """Synthetic documents with QA (allenai/pixmo-docs; configs charts, diagrams, tables, other). All
    QA pairs of a document form one tree; the style is ``pixmo_docs_<config>`` as in the official code."""

    NAME = "pixmo-docs"
    HF_PATH = "allenai/pixmo-docs"
    CONFIGS = ("charts", "diagrams", "tables", "other")
    SPLITS = {"train": "train", "validation": "validation"}
    COLUMNS = {"image": is_image_struct, "image_id": is_string, "questions": is_struct}

    def build_index(self, table: pa.Table) -> dict[str, np.ndarray]:
        keep = self.base_filter(table)
        qa = table.column("questions").combine_chunks()
        nq, na = _list_lengths(pc.struct_field(qa, "question")), _list_lengths(pc.struct_field(qa, "answer"))
        keep &= _drop(self.skipped, (nq == na) | ~keep, "question/answer count mismatch")
        keep &= _drop(self.skipped, (nq > 0) | ~keep, "no questions")
        return _identity_index(table.num_rows, keep)

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:
        row = int(rows[0])
        r = self.row_dicts(rows, ["image_id", "questions"])[0]
        config = self.configs_loaded[int(self.config_of_table[row])]
        style = f"pixmo_docs_{config}"
        qas = r["questions"]
        anns = AnnotationSet()
        for q, a in zip(qas["question"], qas["answer"], strict=True):
            anns.add(Messages.qa, q, a, style)
        meta = Metadata(dataset=self.NAME, split=self.split, rows=(row,), source_ids={"image_id": r["image_id"]},
                        extra={"config": config})
        return anns.example(meta, images=(self.image(row),))


# ---------------------------------------------------------------------------------------------
# pixmo-clocks (rendered media)
# ---------------------------------------------------------------------------------------------


@register_dataset("pixmo-clocks")
class PixMoClocks(TableDataset):
    """Clock reading (allenai/pixmo-clocks). The published data has no images: each row's face must be
    rendered to ``media/clocks/<example_id>.png`` (see :func:`molmo2_data.media.clock.render_rows`);
    rows without a rendered image are skipped and counted. Yields a :class:`ClockTime`."""

    NAME = "pixmo-clocks"
    HF_PATH = "allenai/pixmo-clocks"
    SPLITS = {"train": "train", "validation": "validation"}
    MEDIA = "rendered"
    COLUMNS = {"example_id": None, "watchface_id": None, "time_format": is_string,
               "shows_seconds": is_bool, "hour_visible": is_integer, "minute_visible": is_integer,
               "second_visible": is_integer, "text": is_string}

    def check_layout(self, table: pa.Table, where: str) -> None:
        names = set(table.column_names)
        if {"hour", "minute"} <= names and "text" not in names:
            raise SchemaError(
                f"{where}: this is the first published revision of allenai/pixmo-clocks (1ee1d94: hour, minute, "
                "second, time_format; no answer text and no visible-unit columns), which the reader cannot turn "
                "into the published answers; it needs revision ad2996a or later (columns watch_time, "
                "hour_visible, minute_visible, second_visible, text). Fetch the current one with "
                "`molmo2-data download --datasets pixmo-clocks`.")

    def build_index(self, table: pa.Table) -> dict[str, np.ndarray]:
        from molmo2_data.datasets.media_store import list_names

        names = list_names(paths.clock_dir(self.root))
        ids = pc.cast(table.column("example_id"), pa.string())
        distinct, inverse = unique_with_inverse(ids)
        ok = np.array([d is not None and f"{d}.png" in names for d in distinct], dtype=bool)
        present = ok[inverse] if len(distinct) else np.zeros(table.num_rows, dtype=bool)
        keep = _drop(self.skipped, present, "clock image not rendered")
        hours = pc.fill_null(table.column("hour_visible"), -1).to_numpy(zero_copy_only=False)
        minutes = pc.fill_null(table.column("minute_visible"), -1).to_numpy(zero_copy_only=False)
        keep &= _drop(self.skipped, ((hours >= 0) & (minutes >= 0)) | ~keep, "hour or minute not shown")
        return _identity_index(table.num_rows, keep)

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:

        row = int(rows[0])
        r = self.row_dicts(rows, [*self.COLUMNS, "watch_time", "watchface_name"])[0]
        second = r["second_visible"]
        anns = AnnotationSet()
        anns.add(ClockTime, hour=r["hour_visible"], minute=r["minute_visible"],
                 second=None if second is None or second < 0 else second, text=r["text"], time_format=r["time_format"])
        path = paths.clock_dir(self.root) / f"{r['example_id']}.png"
        meta = Metadata(dataset=self.NAME, split=self.split, rows=(row,),
                        source_ids={"example_id": r["example_id"], "watchface_id": r["watchface_id"]},
                        extra={"watchface_name": r.get("watchface_name"), "watch_time": r.get("watch_time"),
                               "shows_seconds": r["shows_seconds"]})
        return anns.example(meta, images=(ImageRef(path=str(path)),))
