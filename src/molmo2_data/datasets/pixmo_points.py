"""Readers of the PixMo pointing and counting sets (allenai/pixmo-points, -points-eval, -count) and
CoSyn-point, in their published schemas. Points stay floats with an explicit scale; a NaN or
out-of-scale point, a negative count or an empty label makes that annotation invalid (dropped and
counted in ``Metadata.dropped``), never a number in the text.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from molmo2_data import paths
from molmo2_data.annotations import invalid
from molmo2_data.datasets.base import AnnotationSet, HeldOut, index_from_mask, select_groups
from molmo2_data.datasets.media_store import url_images_present
from molmo2_data.datasets.pixmo import (
    EmbeddedImageDataset,
    UrlImageDataset,
    _drop,
    _identity_index,
    _list_lengths,
    is_image_struct,
    nonempty_strings,
    null_rows,
)
from molmo2_data.datasets.registry import register_dataset
from molmo2_data.errors import ConfigError
from molmo2_data.example import Count, Example, Metadata, Pointing
from molmo2_data.tables import group_rows, is_integer, is_list, is_string

# ---------------------------------------------------------------------------------------------
# Point helpers
# ---------------------------------------------------------------------------------------------

POINT_STYLES = ("pointing", "point_count")
MAX_POINTS = 60  # pixmo-points: labels with more points are dropped, examples are split to stay below


def _xy_points(points: Any) -> np.ndarray:
    """(N, 2) float array from either published point layout: ``list<{x, y}>`` (list of dicts) or
    ``{x: [..], y: [..]}`` (dict of lists). A null or non-numeric coordinate is an AnnotationError."""
    if points is None:
        return np.zeros((0, 2))
    try:
        if isinstance(points, dict):
            xs, ys = points.get("x") or [], points.get("y") or []
            if len(xs) != len(ys):
                invalid("pointing", "points have unequal x and y lists", f"{len(xs)} x, {len(ys)} y")
            return np.stack([np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)], -1).reshape(-1, 2)
        return np.array([[p["x"], p["y"]] for p in points], dtype=np.float64).reshape(-1, 2)
    except (TypeError, KeyError, ValueError) as e:
        if isinstance(e, ValueError) and hasattr(e, "reason"):
            raise
        invalid("pointing", "points are not numbers", str(e)[:80])


def _clipped_pointing(label: Any, points: Any, style: str, count: Any = None, question: Any = None) -> Pointing:
    """A percent-coordinate Pointing, points clipped to [0, 100] as the official loaders do (NaN stays NaN
    and is rejected)."""
    return _pointing(label, np.clip(_xy_points(points), 0.0, 100.0), (100.0, 100.0), style, count=count,
                     question=question)


def _counting_styles(counting: bool | str) -> tuple[str, ...]:
    """Styles an item is served in: ``False`` pointing, ``True`` point_count, ``"both"`` each item twice
    (as the Molmo2 mixtures' ``counting="both"``: even index point_count, odd pointing)."""
    if counting == "both":
        return ("point_count", "pointing")
    if isinstance(counting, bool):
        return ("point_count",) if counting else ("pointing",)
    raise ConfigError(f"counting must be True, False or 'both', got {counting!r}")


def _pointing(label: Any, points: np.ndarray, scale: tuple[float, float], style: str, count: Any = None,
              question: Any = None) -> Pointing:
    mode = "point_count" if style == "point_count" else "point"
    return Pointing(label=label, points=points, scale=scale, count=len(points) if count is None else count,
                    question=question, mode=mode, style=style)


class _CountingMixin:
    """``len`` and ``get`` of datasets whose items may be served twice (pointing and point_count)."""

    styles: tuple[str, ...]

    def __len__(self) -> int:
        return super().__len__() * len(self.styles)  # type: ignore[misc]

    def get(self, item: int, rng: np.random.RandomState) -> Example:
        if not 0 <= item < len(self):
            raise IndexError(f"{self.NAME}: index {item} out of range for {len(self)} examples")  # type: ignore[attr-defined]
        group, k = divmod(item, len(self.styles))
        return self.build_styled(self.rows(group), group, rng, self.styles[k])  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------
# Pointing and counting
# ---------------------------------------------------------------------------------------------


def _points_eval_urls(root: Any) -> tuple[set[str], str | None]:
    """Image URLs of the local pixmo-points-eval table (removed from pixmo-points training data, as the
    official downloader does), and the table's fingerprint for the index cache key."""
    from molmo2_data.tables import file_fingerprint, read_table

    path = paths.table_path("pixmo-points-eval", "default", "test", root)
    if not path.exists():
        return set(), None
    table = read_table(path)
    if "image_url" not in table.column_names:
        return set(), None
    urls = pc.unique(table.column("image_url").combine_chunks()).to_pylist()
    return {u for u in urls if u is not None}, file_fingerprint(path)


@register_dataset("pixmo-points")
class PixMoPoints(_CountingMixin, UrlImageDataset):
    """Pointing at objects (allenai/pixmo-points), percent coordinates (scale 100, clipped to [0, 100]).

    ``subset``: ``"pointing"`` (the "basic" set), ``"counting"`` (the "high-frequency" set) or None for
    both (grouped separately, as the official download step builds them). Labels with more than 60
    points are dropped and an image's labels are split into several examples so none holds more than
    60 points. Rows with no points are negatives (count 0). Images of pixmo-points-eval are removed.
    ``counting``: False (style pointing), True (point_count) or "both" (each example twice)."""

    NAME = "pixmo-points"
    HF_PATH = "allenai/pixmo-points"
    SPLITS = {"train": HeldOut(), "validation": HeldOut()}
    COLUMNS = {"image_url": is_string, "image_sha256": is_string, "points": is_list, "count": is_integer,
               "label": is_string, "collection_method": is_string}
    VERSION = 2

    def __init__(self, split: str = "train", subset: str | None = None, counting: bool | str = False,
                 collection_method: str | None = None, **kw: Any):
        subset = subset or collection_method
        if subset in ("all", "both"):
            subset = None
        if subset not in (None, "pointing", "counting"):
            raise ConfigError(f"pixmo-points: subset must be 'pointing', 'counting' or None, got {subset!r}")
        self.subset = subset
        self.styles = _counting_styles(counting)
        super().__init__(split, subset=subset, **kw)

    def media_fingerprint(self) -> Any:
        return [super().media_fingerprint(), _points_eval_urls(self.root)[1]]

    def row_filter(self, table: pa.Table) -> np.ndarray:
        keep = np.ones(table.num_rows, dtype=bool)
        if self.subset is not None:
            method = pc.fill_null(pc.equal(table.column("collection_method"), self.subset), False)
            keep &= method.to_numpy(zero_copy_only=False)  # another subset: not counted as a skip
        keep &= _drop(self.skipped, nonempty_strings(table, "label") | ~keep, "empty label")
        n_points = _list_lengths(table.column("points"))
        keep &= _drop(self.skipped, (n_points <= MAX_POINTS) | ~keep, f"label with more than {MAX_POINTS} points")
        eval_urls, _ = _points_eval_urls(self.root)
        if eval_urls:
            in_eval = pc.is_in(table.column("image_url"), pa.array(sorted(eval_urls))).to_numpy(zero_copy_only=False)
            keep &= _drop(self.skipped, ~in_eval | ~keep, "image in pixmo-points-eval")
        return keep

    def build_index(self, table: pa.Table) -> dict[str, np.ndarray]:
        urls = table.column(self.URL_COLUMN)
        key = pc.binary_join_element_wise(pc.fill_null(table.column("collection_method"), ""), urls, "\n")
        order, offsets, _ = group_rows(key)  # a null URL: a group of its own, a per-row SchemaError on get
        keep = self.row_filter(table)
        present = (url_images_present(urls, self.root) | null_rows(urls))[order[offsets[:-1]]]
        if len(order):
            has_rows = np.add.reduceat(keep[order].astype(np.int64), offsets[:-1]) > 0
            _drop(self.skipped, present | ~has_rows, "image missing locally")
        index = index_from_mask(order, offsets, keep_rows=keep, keep_groups=present)
        return self._split_large(index, _list_lengths(table.column("points")), table)

    def _split_large(self, index: dict[str, np.ndarray], n_points: np.ndarray, table: pa.Table) -> dict[str, np.ndarray]:
        """Split groups with more than MAX_POINTS points into consecutive runs of labels that fit;
        record each piece's image (for the hold-out) and subset."""
        order, offsets = index["order"], index["offsets"]
        per_pos = n_points[order]
        breaks = np.zeros(len(order), dtype=bool)
        breaks[offsets[:-1]] = True
        image_of_pos = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
        totals = np.add.reduceat(per_pos, offsets[:-1]) if len(order) else np.zeros(0, dtype=np.int64)
        for g in np.nonzero(totals > MAX_POINTS)[0]:
            acc = 0
            for pos in range(offsets[g], offsets[g + 1]):
                if acc + per_pos[pos] > MAX_POINTS and pos != offsets[g]:
                    breaks[pos] = True
                    acc = 0
                acc += per_pos[pos]
        starts = np.nonzero(breaks)[0]
        new_offsets = np.append(starts, len(order)).astype(np.int64)
        method = pc.fill_null(table.column("collection_method"), "").to_numpy(zero_copy_only=False)
        return {"order": order, "offsets": new_offsets, "image_of_group": image_of_pos[starts],
                "is_counting": (method[order[starts]] == "counting") if len(starts) else np.zeros(0, bool)}

    def _hold_out(self, index: dict[str, np.ndarray], spec: HeldOut) -> dict[str, np.ndarray]:
        """Hold out whole images (never half of a split image), separately per subset as the official
        download step does."""
        image_of_group, is_counting = index["image_of_group"], index["is_counting"]
        keep = np.zeros(len(image_of_group), dtype=bool)
        for flag in (False, True):
            images = np.unique(image_of_group[is_counting == flag])
            perm = np.random.RandomState(spec.seed).permutation(len(images))
            held = images[perm[:spec.size(len(images))]]
            in_held = np.isin(image_of_group, held) & (is_counting == flag)
            keep |= in_held if self.split != spec.source else ((is_counting == flag) & ~in_held)
        return select_groups(index, np.nonzero(keep)[0])

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:
        return self.build_styled(rows, group, rng, self.styles[0])

    def build_styled(self, rows: np.ndarray, group: int, rng: np.random.RandomState, style: str) -> Example:
        rows_ = self.row_dicts(rows, ["label", "points", "count", "image_sha256", "collection_method"])
        image = self.image(rows)
        anns = AnnotationSet()
        for r in rows_:
            anns.add(_clipped_pointing, r["label"], r["points"], style, count=r["count"])
        meta = self.metadata(rows, image_sha256=rows_[0]["image_sha256"])
        meta.extra["collection_method"] = rows_[0]["collection_method"]
        return anns.example(meta, images=(image,))


def _masks_array(value: pa.Scalar) -> np.ndarray:
    """(K, H, W) bool array from one row of a ``list<list<list<bool>>>`` column without building a
    Python object per pixel."""
    if not value.is_valid or len(value) == 0:
        return np.zeros((0, 0, 0), dtype=bool)
    masks = value.values  # K masks, each list<list<bool>>
    k = len(masks)
    row_lengths = _list_lengths(masks.flatten())
    h = len(masks[0]) if k else 0
    w = int(row_lengths[0]) if len(row_lengths) else 0
    if len(row_lengths) != k * h or (row_lengths != w).any():
        raise ValueError("masks are not equal-sized 2-D arrays")
    flat = masks.flatten().flatten().to_numpy(zero_copy_only=False).astype(bool)
    return flat.reshape(k, h, w)


@register_dataset("pixmo-points-eval")
class PixMoPointsEval(UrlImageDataset):
    """The pointing eval set (allenai/pixmo-points-eval, split ``test``): one example per row with the
    label's points (percent) and, in ``metadata.extra["masks"]``, the human-filtered object masks
    ((K, H, W) bool) that point predictions are scored against."""

    NAME = "pixmo-points-eval"
    HF_PATH = "allenai/pixmo-points-eval"
    SPLITS = {"test": "test"}
    COLUMNS = {"image_url": is_string, "image_sha256": is_string, "label": is_string, "points": is_list,
               "masks": is_list}

    def __init__(self, split: str = "test", **kw: Any):
        super().__init__(split, **kw)

    def build_index(self, table: pa.Table) -> dict[str, np.ndarray]:
        urls = table.column(self.URL_COLUMN)
        present = _drop(self.skipped, url_images_present(urls, self.root) | null_rows(urls), "image missing locally")
        return _identity_index(table.num_rows, present)

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:
        row = int(rows[0])
        r = self.row_dicts(rows, ["label", "points", "image_sha256"])[0]
        image = self.image(rows)
        anns = AnnotationSet()
        anns.add(_clipped_pointing, r["label"], r["points"], "pointing")
        meta = self.metadata(rows, image_sha256=r["image_sha256"])
        meta.extra["masks"] = _masks_array(self.data.column("masks")[row])
        return anns.example(meta, images=(image,))


def _is_xy_struct(t: pa.DataType) -> bool:
    """pixmo-count ``points``: dict of lists ``{x: [..], y: [..]}``."""
    return pa.types.is_struct(t) and t.get_field_index("x") >= 0 and t.get_field_index("y") >= 0


@register_dataset("pixmo-count")
class PixMoCount(_CountingMixin, UrlImageDataset):
    """Object counts (allenai/pixmo-count). ``train`` has points in **pixels** (scale = the image's
    (width, height), read from its header); ``validation``/``test`` have no points and yield a
    :class:`Count` (human-verified counts 2-10). ``counting`` as for pixmo-points (train only)."""

    NAME = "pixmo-count"
    HF_PATH = "allenai/pixmo-count"
    SPLITS = {"train": "train", "validation": "validation", "test": "test"}
    COLUMNS = {"image_url": is_string, "count": is_integer, "label": is_string}

    def __init__(self, split: str = "train", counting: bool | str = False, **kw: Any):
        self.styles = _counting_styles(counting) if split == "train" else ("point_count",)
        if split == "train":
            self.COLUMNS = {**self.COLUMNS, "points": _is_xy_struct}
        super().__init__(split, **kw)

    def row_filter(self, table: pa.Table) -> np.ndarray:
        keep = _drop(self.skipped, nonempty_strings(table, "label"), "empty label")
        counts = pc.fill_null(table.column("count"), -1).to_numpy(zero_copy_only=False)
        keep &= _drop(self.skipped, (counts >= 0) | ~keep, "missing count")
        if self.split == "train":
            pts = table.column("points").combine_chunks()
            nx, ny = _list_lengths(pc.struct_field(pts, "x")), _list_lengths(pc.struct_field(pts, "y"))
            keep &= _drop(self.skipped, ((nx == ny) & (nx == counts)) | ~keep, "points do not match count")
        return keep

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:
        return self.build_styled(rows, group, rng, self.styles[0])

    def build_styled(self, rows: np.ndarray, group: int, rng: np.random.RandomState, style: str) -> Example:
        cols = ["label", "count", "image_sha256"] + (["points"] if self.split == "train" else [])
        rows_ = self.row_dicts(rows, cols)
        image = self.image(rows)
        anns = AnnotationSet()
        if self.split == "train":
            w, h = image.size()
            for r in rows_:
                anns.add(lambda r: _pointing(r["label"], _xy_points(r["points"]), (float(w), float(h)), style,
                                             count=r["count"]), r)
        else:
            for r in rows_:
                anns.add(Count, label=r["label"], count=r["count"], style="point_count")
        meta = self.metadata(rows, image_sha256=rows_[0].get("image_sha256"))
        return anns.example(meta, images=(image,))


_POINT_REQUEST = re.compile(
    r"^\s*(?:please\s+)?(?:point\s+(?:to|at|out)|locate|find|mark|show(?:\s+me)?|where\s+(?:is|are))\s+"
    r"(?:(?:all|every|each|any)\s+(?:of\s+)?)?(?:the\s+)?", re.IGNORECASE)
_IN_THE_PICTURE = re.compile(
    r"\s+(?:in|on|within|from|of)\s+(?:the|this)\s+(?:figure|image|chart|diagram|picture|plot|graph|document|"
    r"table|page|screenshot|screen|illustration|drawing|scene)\b.*$", re.IGNORECASE)


def label_from_question(question: str) -> str:
    """A point label from a pointing request, for CoSyn-point tables without ``names`` (the published
    card has none; the official loader reads ``names`` and fails without it): the request words and a
    trailing "in the figure"-style phrase are stripped ("Point to every pink triangle in the figure."
    -> "pink triangle"); a question of another form is kept whole."""
    text = question.strip().rstrip("?.!: ").strip()
    request = _POINT_REQUEST.match(text)
    if request is None:
        return question.strip()
    return _IN_THE_PICTURE.sub("", text[request.end():]).strip() or question.strip()


@register_dataset("cosyn-point")
class CoSynPoint(EmbeddedImageDataset):
    """Synthetic pointing (allenai/CoSyn-point): per image several questions, each with its answer points
    (percent, ``{x: [..], y: [..]}``). The label of each question comes from ``names`` when the table has
    that column (as the official loader reads it); the published card (revision 008ee8a) has no
    ``names``, and then the label is derived from the question (:func:`label_from_question`).
    One Pointing annotation per question, style ``cosyn_point``, in one tree."""

    NAME = "cosyn-point"
    HF_PATH = "allenai/CoSyn-point"
    SPLITS = {"train": "train", "validation": "validation"}
    COLUMNS = {"id": is_string, "image": is_image_struct, "questions": is_list, "answer_points": is_list}

    def build_index(self, table: pa.Table) -> dict[str, np.ndarray]:
        keep = self.base_filter(table)
        nq, npts = _list_lengths(table.column("questions")), _list_lengths(table.column("answer_points"))
        ok = (nq == npts) & (nq > 0)
        if "names" in table.column_names:
            ok &= _list_lengths(table.column("names")) == nq
        keep &= _drop(self.skipped, ok | ~keep, "questions/answer_points/names lengths differ")
        return _identity_index(table.num_rows, keep)

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:
        row = int(rows[0])
        r = self.row_dicts(rows, ["id", "questions", "answer_points", "names"])[0]
        names = r.get("names") or [label_from_question(q) for q in r["questions"]]
        anns = AnnotationSet()
        for q, pts, name in zip(r["questions"], r["answer_points"], names, strict=True):
            anns.add(_clipped_pointing, name, pts, "cosyn_point", question=q)
        meta = Metadata(dataset=self.NAME, split=self.split, rows=(row,), source_ids={"id": r["id"]})
        return anns.example(meta, images=(self.image(row),))
