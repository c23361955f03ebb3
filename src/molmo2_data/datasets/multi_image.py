"""Readers of the Molmo2 multi-image datasets (allenai/Molmo2-MultiImageQA, -SynMultiImageQA,
-MultiImagePoint), in their published schemas.

Each published row is already one image set, so one row is one example (a message tree of all its
QA pairs or point queries). Filters and availability checks are vectorised over the Arrow columns;
rows dropped by them are counted in ``self.skipped``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from molmo2_data.annotations import invalid
from molmo2_data.datasets.base import AnnotationSet, TableDataset
from molmo2_data.datasets.media_store import url_image_file, url_lists_present
from molmo2_data.datasets.registry import register_dataset
from molmo2_data.errors import ConfigError
from molmo2_data.example import Example, ImageRef, Message, Messages, Metadata, Pointing
from molmo2_data.tables import is_list, is_string, is_struct, row_dict

# ---------------------------------------------------------------------------------------------
# Vectorised column helpers (shared with datasets.text)
# ---------------------------------------------------------------------------------------------


def chunks_of(col: pa.Array | pa.ChunkedArray) -> list[pa.Array]:
    return list(col.chunks) if isinstance(col, pa.ChunkedArray) else [col]


def chunkwise(col: pa.Array | pa.ChunkedArray, fn: Callable[[pa.Array], Any]) -> Any:
    """Apply a per-row function chunk by chunk and concatenate its numpy result(s). Never combines
    the chunks: on a memory-mapped table that would copy every byte of the column (images, texts)."""
    parts = [fn(c) for c in chunks_of(col)] or [fn(pa.array([], type=col.type))]
    if isinstance(parts[0], tuple):
        return tuple(np.concatenate(p) for p in zip(*parts, strict=True))
    return np.concatenate(parts)


def to_numpy(values: pa.Array | pa.ChunkedArray, dtype: Any) -> np.ndarray:
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=dtype)


def list_lengths(col: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Per row: length of a list column (0 for null)."""
    return to_numpy(pc.fill_null(pc.list_value_length(col), 0), np.int64)


def is_null(col: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return to_numpy(pc.is_null(col), bool)


def struct_field(col: pa.Array | pa.ChunkedArray, name: str) -> pa.Array | pa.ChunkedArray:
    """A struct column's child (zero-copy); rows whose struct is null become null."""
    return pc.struct_field(col, name)


def nonempty_text(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Per value: a string with non-whitespace content (null -> False)."""
    return to_numpy(pc.fill_null(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(values)), 0), False), bool)


def per_row_count(flags: np.ndarray, parents: np.ndarray, n_rows: int) -> np.ndarray:
    """Number of True flags per row, for flattened list values with their parent row indices."""
    return np.bincount(parents[flags], minlength=n_rows)


def list_parents(chunk: pa.Array) -> np.ndarray:
    """Row (within ``chunk``) of every value of ``pc.list_flatten(chunk)``."""
    return to_numpy(pc.list_parent_indices(chunk), np.int64)


def first_items_nonempty(chunk: pa.Array) -> np.ndarray:
    """Per row of a ``list<str>`` chunk: is its first item a non-empty string?"""
    lengths = list_lengths(chunk)
    starts = to_numpy(chunk.offsets, np.int64)[:-1]
    rows = np.flatnonzero(lengths > 0)
    out = np.zeros(len(chunk), dtype=bool)
    out[rows] = nonempty_text(chunk.values.take(pa.array(starts[rows], type=pa.int64())))
    return out


def struct_with(fields: dict[str, Callable[[pa.DataType], bool]]) -> Callable[[pa.DataType], bool]:
    """Type predicate: a struct having these fields with these types."""
    def check(t: pa.DataType) -> bool:
        return is_struct(t) and all(t.get_field_index(f) >= 0 and ok(t.field(f).type) for f, ok in fields.items())
    return check


def list_of(item: Callable[[pa.DataType], bool]) -> Callable[[pa.DataType], bool]:
    def check(t: pa.DataType) -> bool:
        return is_list(t) and item(t.value_type)
    return check


def is_binary(t: pa.DataType) -> bool:
    return pa.types.is_binary(t) or pa.types.is_large_binary(t)


# The Hugging Face ``Image`` feature in Arrow: struct<bytes: binary, path: string>.
is_hf_image = struct_with({"bytes": is_binary})
is_image_list = list_of(is_hf_image)


class RowFilter:
    """Accumulates a per-row keep mask; each row is counted under the first reason that drops it."""

    def __init__(self, n_rows: int, skipped: Any):
        self.keep = np.ones(n_rows, dtype=bool)
        self.skipped = skipped

    def drop(self, bad: np.ndarray, reason: str) -> None:
        newly = self.keep & np.asarray(bad, dtype=bool)
        if newly.any():
            self.skipped[reason] += int(newly.sum())
        self.keep &= ~newly

    def index(self) -> dict[str, np.ndarray]:
        order = np.flatnonzero(self.keep).astype(np.int64)
        return {"order": order, "offsets": np.arange(len(order) + 1, dtype=np.int64)}


def embedded_images_ok(images: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Per row of a ``list<Image>`` column: non-empty and every image has bytes."""
    def chunk_ok(chunk: pa.Array) -> np.ndarray:
        flat = pc.list_flatten(chunk)
        missing = is_null(flat) | is_null(pc.struct_field(flat, "bytes"))
        bad = per_row_count(missing, list_parents(chunk), len(chunk))
        return (bad == 0) & (list_lengths(chunk) > 0)

    return chunkwise(images, chunk_ok)


def embedded_image_refs(images: Sequence[dict[str, Any]] | None) -> tuple[ImageRef, ...]:
    return tuple(ImageRef(data=im["bytes"], source=im.get("path")) for im in images or ())


# ---------------------------------------------------------------------------------------------
# Molmo2-MultiImageQA
# ---------------------------------------------------------------------------------------------


def _qa_pair_counts(chunk: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row of a qa_pairs {question: [str], answer: [str]} chunk: (malformed, number of pairs with
    a non-empty question and answer, number of pairs with an empty one)."""
    questions, answers = pc.struct_field(chunk, "question"), pc.struct_field(chunk, "answer")
    nq, na = list_lengths(questions), list_lengths(answers)
    malformed = is_null(chunk) | (nq != na) | (nq == 0)
    good = np.zeros(len(chunk), dtype=np.int64)
    empty = np.zeros(len(chunk), dtype=np.int64)
    aligned = ~malformed
    if aligned.any():
        mask = pa.array(aligned)
        q_sub, a_sub = questions.filter(mask), answers.filter(mask)
        ok = nonempty_text(pc.list_flatten(q_sub)) & nonempty_text(pc.list_flatten(a_sub))
        parents = list_parents(q_sub)
        good[aligned] = per_row_count(ok, parents, int(aligned.sum()))
        empty[aligned] = per_row_count(~ok, parents, int(aligned.sum()))
    return malformed, good, empty


@register_dataset("molmo2-multiimageqa")
class Molmo2MultiImageQA(TableDataset):
    """Human-written QA over 2-5 web images (allenai/Molmo2-MultiImageQA).

    Columns: ``image_urls`` list<str>, ``qa_pairs`` {question: [str], answer: [str]}. One row is one
    example: its images (all must be in the local image store, else the row is skipped and counted)
    and one annotation per QA pair (style ``correction_qa``, as the official loader). As in the SFT
    mixture (``pixmo_multi_image_qa_multi_only_max5``) only rows with ``min_images`` (2) to
    ``max_images`` (5) images are kept; pass ``max_images=None`` for no upper bound.
    """

    NAME = "molmo2-multiimageqa"
    HF_PATH = "allenai/Molmo2-MultiImageQA"
    SPLITS = {"train": "train", "validation": "validation"}
    COLUMNS = {"image_urls": list_of(is_string),
               "qa_pairs": struct_with({"question": list_of(is_string), "answer": list_of(is_string)})}
    MEDIA = "url_image"
    STYLE = "correction_qa"

    def __init__(self, split: str = "train", min_images: int = 2, max_images: int | None = 5, **kw: Any):
        self.min_images = int(min_images)
        self.max_images = None if max_images is None else int(max_images)
        super().__init__(split, min_images=self.min_images, max_images=self.max_images, **kw)

    def build_index(self, table: pa.Table) -> dict[str, np.ndarray]:
        n = table.num_rows
        f = RowFilter(n, self.skipped)
        urls = table.column("image_urls")
        n_img = list_lengths(urls)
        malformed, good_pairs, empty_pairs = chunkwise(table.column("qa_pairs"), _qa_pair_counts)
        f.drop(malformed, "malformed qa_pairs")
        empty = int(empty_pairs[f.keep].sum())
        if empty:
            self.skipped["empty QA pair (dropped from its row)"] += empty
        f.drop(good_pairs == 0, "no non-empty QA pair")
        too_many = n_img > self.max_images if self.max_images is not None else np.zeros(n, dtype=bool)
        f.drop((n_img < self.min_images) | too_many, f"image count outside {self._range_text()}")
        f.drop(~url_lists_present(urls, self.root), "image missing locally")
        return f.index()

    def _range_text(self) -> str:
        return f"{self.min_images}-{self.max_images}" if self.max_images is not None else f">={self.min_images}"

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:
        row = row_dict(self.data, rows[0], ["image_urls", "qa_pairs"])
        urls = row["image_urls"]
        anns = AnnotationSet()
        for q, a in zip(row["qa_pairs"]["question"], row["qa_pairs"]["answer"], strict=True):
            if q and q.strip() and a and a.strip():  # empty pairs: counted at index time
                anns.add(lambda q, a: Messages([Message("user", q.strip()), Message("assistant", a)],
                                               style=self.STYLE), q, a)
        images = self.url_images(urls, int(rows[0]))
        meta = Metadata(dataset=self.NAME, split=self.split, rows=(int(rows[0]),),
                        source_ids={"image_urls": list(urls)})
        return anns.example(meta, images=images)

    def url_images(self, urls: list[Any], row: int) -> tuple[ImageRef, ...]:
        return tuple(ImageRef(path=url_image_file(self.required("image_urls", row, u), self.root), source=u)
                     for u in urls)


# ---------------------------------------------------------------------------------------------
# Molmo2-SynMultiImageQA
# ---------------------------------------------------------------------------------------------


# The CoSyn QA layout (also allenai/CoSyn-400K): qa_pairs {question, explanation, answer: [str]}.
QA_EXP_PAIRS = struct_with({k: list_of(is_string) for k in ("question", "explanation", "answer")})


def qa_exp_malformed(qa: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Per row of a ``QA_EXP_PAIRS`` column: null, no question, or question / explanation / answer
    lists of unequal length."""
    lens = [list_lengths(struct_field(qa, k)) for k in ("question", "explanation", "answer")]
    return is_null(qa) | (lens[0] == 0) | (lens[0] != lens[1]) | (lens[0] != lens[2])


def explained_answer(explanation: str | None, answer: str) -> str:
    """The official training answer of an ``*_exp`` CoSyn QA pair: the explanation, then `` Answer: ``
    and the answer (one space, no newline). An empty explanation gives the answer alone (our choice: the
    official would start the text with a space)."""
    if explanation is None or not explanation.strip():
        return answer
    return f"{explanation} Answer: {answer}"


@register_dataset("molmo2-synmultiimageqa")
class Molmo2SynMultiImageQA(TableDataset):
    """Synthetic QA over 2-5 rendered images (charts, tables, documents, ...) with embedded bytes
    (allenai/Molmo2-SynMultiImageQA; configs chart, chemical, circuit, diagram, doc, graphic, music,
    table; split train).

    Columns: ``id``; ``images`` list<Image> (struct<bytes, path>); ``qa_pairs`` {question,
    explanation, answer: [str]}; ``metadata`` {num_images, ...}. Rows with ``metadata.num_images >
    max_images`` (5) are dropped, as the official loader does; rows with an image without bytes or
    malformed QA lists are skipped and counted. One annotation per QA pair, style ``cosyn_<config>`` as
    the official ``PixmoMulitDocQa`` names it; with ``with_explanation=True`` (the official
    ``cosyn_multidoc_<config>_exp`` names) the style is ``cosyn_<config>_exp`` and the answer is the
    explanation, then `` Answer: `` and the answer, as for CoSyn-400K. Explanations are always kept in
    ``metadata.extra["explanations"]``.
    """

    NAME = "molmo2-synmultiimageqa"
    HF_PATH = "allenai/Molmo2-SynMultiImageQA"
    CONFIGS = ("chart", "chemical", "circuit", "diagram", "doc", "graphic", "music", "table")
    SPLITS = {"train": "train"}
    COLUMNS = {"id": is_string, "images": is_image_list,
               "qa_pairs": QA_EXP_PAIRS, "metadata": is_struct}
    MEDIA = "embedded_image"

    def __init__(self, split: str = "train", max_images: int = 5, with_explanation: bool = False, **kw: Any):
        self.max_images = int(max_images)
        self.with_explanation = bool(with_explanation)
        super().__init__(split, max_images=self.max_images, with_explanation=self.with_explanation, **kw)

    def build_index(self, table: pa.Table) -> dict[str, np.ndarray]:
        n = table.num_rows
        f = RowFilter(n, self.skipped)
        images = table.column("images")
        meta = table.column("metadata")
        n_img = list_lengths(images)
        if table.schema.field("metadata").type.get_field_index("num_images") >= 0:
            declared = struct_field(meta, "num_images")
            num = np.where(is_null(declared), n_img, to_numpy(pc.fill_null(declared, 0), np.int64))
        else:
            num = n_img
        f.drop(num > self.max_images, f"metadata.num_images > {self.max_images}")
        f.drop(qa_exp_malformed(table.column("qa_pairs")), "malformed qa_pairs")
        f.drop(~embedded_images_ok(images), "image bytes missing")
        return f.index()

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:
        row_i = int(rows[0])
        row = row_dict(self.data, row_i, ["id", "images", "qa_pairs", "metadata"])
        qa = row["qa_pairs"]
        config = self.configs_loaded[int(self.config_of_table[row_i])]
        anns = AnnotationSet()
        for q, e, a in zip(qa["question"], qa["explanation"], qa["answer"], strict=True):
            if self.with_explanation and isinstance(a, str):
                anns.add(Messages.qa, q, explained_answer(e, a), f"cosyn_{config}_exp")
            else:
                anns.add(Messages.qa, q, a, f"cosyn_{config}")
        meta = Metadata(dataset=self.NAME, split=self.split, rows=(row_i,),
                        source_ids={"id": row["id"], "config": config},
                        extra={"explanations": list(qa["explanation"]), "metadata": row["metadata"]})
        return anns.example(meta, images=embedded_image_refs(row["images"]))


# ---------------------------------------------------------------------------------------------
# Molmo2-MultiImagePoint
# ---------------------------------------------------------------------------------------------

POINT_STRUCT = struct_with({"x": lambda t: pa.types.is_floating(t), "y": lambda t: pa.types.is_floating(t)})


@register_dataset("molmo2-multiimagepoint")
class Molmo2MultiImagePoint(TableDataset):
    """Pointing to one object category across several images (allenai/Molmo2-MultiImagePoint).

    How the columns nest (our reading of the card; the set is built from pixmo-points rows, one per
    image): ``image_urls``, ``image_sha256s``, ``points``, ``counts``, ``labels`` and
    ``collection_method`` are parallel lists with one entry per image. ``points[i]`` is the list of
    {x, y} points (percent 0-100) of the query object on image i (empty: none there), ``counts[i]``
    the annotated count on image i, ``labels[i]`` the pixmo-points label of image i (the same
    category, possibly spelled differently) and ``collection_method[i]`` ``pointing`` or
    ``counting``. ``image_sha256s[i]`` is sha256 of the URL string (not of the bytes).

    One row gives one :class:`Pointing`: all points concatenated, ``image_index`` saying which image
    each lies on, ``image_scales`` = (100, 100) per image, points clipped to [0, 100], ``count`` =
    sum of ``counts``, ``label`` = ``labels[0]`` (all labels in ``metadata.extra``). The style is
    drawn with the example rng from ``styles`` (official: multi_image_pointing /
    multi_image_point_then_count). Rows whose lists disagree in length, with no images or an empty
    label are skipped and counted, as are rows with any image missing locally.
    """

    NAME = "molmo2-multiimagepoint"
    HF_PATH = "allenai/Molmo2-MultiImagePoint"
    SPLITS = {"train": "train"}
    COLUMNS = {"image_urls": list_of(is_string), "image_sha256s": list_of(is_string),
               "points": list_of(list_of(POINT_STRUCT)), "counts": list_of(pa.types.is_integer),
               "labels": list_of(is_string), "collection_method": list_of(is_string)}
    MEDIA = "url_image"
    STYLES: ClassVar[tuple[str, ...]] = ("multi_image_pointing", "multi_image_point_then_count")
    MODES: ClassVar[dict[str, str]] = {"multi_image_pointing": "point", "multi_image_point_then_count": "point_count",
                                       "multi_image_counting": "count",
                                       "multi_image_count_then_point": "count_then_point"}

    def __init__(self, split: str = "train", styles: Sequence[str] = STYLES, **kw: Any):
        bad = [s for s in styles if s not in self.MODES]
        if bad or not styles:
            raise ConfigError(f"{self.NAME}: unknown style {bad[:1]} (valid: {', '.join(self.MODES)})")
        self.styles = tuple(styles)
        super().__init__(split, **kw)

    def build_index(self, table: pa.Table) -> dict[str, np.ndarray]:
        n = table.num_rows
        f = RowFilter(n, self.skipped)
        urls = table.column("image_urls")
        n_img = list_lengths(urls)
        unequal = np.zeros(n, dtype=bool)
        for col in ("image_sha256s", "points", "counts", "labels", "collection_method"):
            unequal |= list_lengths(table.column(col)) != n_img
        f.drop(n_img == 0, "no images")
        f.drop(unequal, "per-image lists of unequal length")
        ok_rows = f.keep.copy()
        has_label = chunkwise(table.column("labels"), first_items_nonempty)
        f.drop(ok_rows & ~has_label, "empty label")
        f.drop(~url_lists_present(urls, self.root), "image missing locally")
        return f.index()

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:
        row = row_dict(self.data, rows[0])
        style = str(rng.choice(self.styles))
        urls = row["image_urls"]
        anns = AnnotationSet()
        anns.add(self.pointing, row, style)
        meta = Metadata(dataset=self.NAME, split=self.split, rows=(int(rows[0]),),
                        source_ids={"image_urls": list(urls), "image_sha256s": list(row["image_sha256s"])},
                        extra={"counts": list(row["counts"]), "labels": list(row["labels"]),
                               "collection_method": list(row["collection_method"])})
        images = tuple(ImageRef(path=url_image_file(self.required("image_urls", int(rows[0]), u), self.root), source=u)
                       for u in urls)
        return anns.example(meta, images=images)

    def pointing(self, row: dict[str, Any], style: str) -> Pointing:
        """All points of the row (percent, clipped to [0, 100]; a null coordinate is NaN and rejected),
        ``count`` = the sum of ``counts`` (a null or negative count rejected)."""
        pts, idx = [], []
        for i, image_points in enumerate(row["points"]):
            for p in image_points or ():
                pts.append((np.nan if p is None or p["x"] is None else p["x"],
                            np.nan if p is None or p["y"] is None else p["y"]))
                idx.append(i)
        counts = row["counts"]
        if any(c is None or c < 0 for c in counts):
            invalid("pointing", "negative count" if None not in counts else "count is missing")
        return Pointing(label=row["labels"][0], points=np.clip(np.asarray(pts, dtype=np.float64).reshape(-1, 2), 0, 100),
                        scale=(100.0, 100.0), count=int(sum(counts)), mode=self.MODES[style], style=style,
                        image_index=np.asarray(idx, dtype=np.int64),
                        image_scales=tuple((100.0, 100.0) for _ in row["image_urls"]))
