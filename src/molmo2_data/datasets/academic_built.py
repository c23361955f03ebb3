"""Academic sets the official code builds itself from raw archives (its ``olmo/data/dataset_builders``):
AI2D, DVQA, FigureQA, PlotQA and TabMWP.

There is no published table: the official builder downloads the archives, builds a Hugging Face
dataset and saves it with ``save_to_disk``. These readers take that output as their table (the
builder's ``features`` are the schema; ``datasets`` stores ``Image()`` as struct<bytes, path> and a
``Sequence`` of features as a struct of lists). ``download`` imports each split's folder from
``manual/<name>/<split>/`` (``data-*.arrow`` or parquet) and says what to fetch when it is absent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from molmo2_data.annotations import VQA, Messages, MultipleChoice
from molmo2_data.datasets.base import AnnotationSet
from molmo2_data.datasets.multi_image import list_of, struct_with
from molmo2_data.datasets.pixmo import EmbeddedImageDataset, _drop, _identity_index, is_image_struct
from molmo2_data.datasets.registry import register_dataset, register_variant
from molmo2_data.download.manual import ManualSource, read_builder_output
from molmo2_data.errors import ConfigError
from molmo2_data.example import Example, Metadata
from molmo2_data.tables import is_bool, is_integer, is_list, is_string

BUILDER_NOTE = ("Build it with the official builder (allenai/molmo2 olmo/data/dataset_builders/{module}.py, "
                "class {builder}) and save each split with datasets' save_to_disk - or write its features as "
                "parquet - one folder per split.")


def _built(what: str, module: str, builder: str, splits: tuple[str, ...]) -> ManualSource:
    return ManualSource(what=f"{what} {BUILDER_NOTE.format(module=module, builder=builder)}",
                        files={s: s for s in splits}, convert=_read_split)


def _read_split(folder: Path, split: str) -> pa.Table:
    return read_builder_output(folder, split)


class BuiltQA(EmbeddedImageDataset):
    """One image per row and its ``questions`` struct of lists (DVQA, FigureQA, PlotQA): one example
    per image, its questions one message tree of style ``STYLE``."""

    HF_PATH = ""
    STYLE: ClassVar[str] = ""
    ID_COLUMN: ClassVar[str] = "image_index"

    def build_index(self, table: pa.Table) -> dict[str, np.ndarray]:
        keep = self.base_filter(table)
        qs = table.column("questions").combine_chunks()
        nq = pc.fill_null(pc.list_value_length(pc.struct_field(qs, "question")), -1).to_numpy(zero_copy_only=False)
        na = pc.fill_null(pc.list_value_length(pc.struct_field(qs, "answer")), -2).to_numpy(zero_copy_only=False)
        keep &= _drop(self.skipped, (nq == na) | ~keep, "question/answer count mismatch")
        keep &= _drop(self.skipped, (nq > 0) | ~keep, "no questions")
        return _identity_index(table.num_rows, keep)

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:
        row = int(rows[0])
        r = self.row_dicts(rows, ["questions", self.ID_COLUMN])[0]
        anns = AnnotationSet()
        for q, a in zip(r["questions"]["question"], r["questions"]["answer"], strict=True):
            if a is None:
                anns.drop("no answer")
                continue
            anns.add(Messages.qa, (q or "").strip(), str(a), self.STYLE)
        meta = Metadata(dataset=self.NAME, split=self.split, rows=(row,), extra={"image_id": r.get(self.ID_COLUMN)})
        return anns.example(meta, images=(self.image(row),))


@register_dataset("dv-qa", aliases=("dv_qa", "dvqa"))
class DvQA(BuiltQA):
    """DVQA bar-chart questions (style ``dv_qa``; official virtual size 10,000 in the SFT mixture).
    Builder splits train / val_hard / val_easy; ``validation`` here is val_easy (the official loader
    passes its split name through, so it has no ``validation``: our choice)."""

    NAME = "dv-qa"
    STYLE = "dv_qa"
    ID_COLUMN = "image_id"
    SPLITS = {"train": "train", "validation": "val_easy", "val_hard": "val_hard", "val_easy": "val_easy"}
    COLUMNS = {"image": is_image_struct, "image_id": is_string,
               "questions": struct_with({"question": list_of(is_string), "answer": list_of(is_string)})}
    MANUAL = _built("DVQA images and QA JSON (the Google-Drive files the builder names).", "dv_qa", "DvQaBuilder",
                    ("train", "val_hard", "val_easy"))


@register_dataset("figure-qa", aliases=("figure_qa", "figureqa"))
class FigureQA(BuiltQA):
    """FigureQA yes/no questions (answers 1 / 0 as the builder stores them, given as "1" / "0" as the
    official ``str(a)``; style ``figure_qa``; virtual size 10,000). ``validation`` = validation1 as the
    official mapping."""

    NAME = "figure-qa"
    STYLE = "figure_qa"
    SPLITS = {"train": "train", "validation": "validation1", "validation2": "validation2", "test1": "test1",
              "test2": "test2"}
    COLUMNS = {"image": is_image_struct, "image_index": is_integer,
               "questions": struct_with({"question": list_of(is_string), "answer": list_of(is_integer)})}
    MANUAL = _built("FigureQA tarballs from download.microsoft.com (figureqa-{train1,validation1,validation2,"
                    "test1,test2}-v1.tar.gz).", "figure_qa", "FigureQaBuilder",
                    ("train", "validation1", "validation2", "test1", "test2"))


@register_dataset("plot-qa", aliases=("plot_qa", "plotqa"))
class PlotQA(BuiltQA):
    """PlotQA (style ``plot_qa``; virtual size 20,000). The builder declares ``Image(decode=False)``:
    rows whose saved image has no bytes are counted ("image bytes missing")."""

    NAME = "plot-qa"
    STYLE = "plot_qa"
    SPLITS = {"train": "train", "validation": "validation", "test": "test"}
    COLUMNS = {"image": is_image_struct, "image_index": is_integer,
               "questions": struct_with({"question": list_of(is_string), "answer": list_of(is_string),
                                         "question_id": list_of(is_integer)})}
    MANUAL = _built("PlotQA images and annotations (the Google-Drive files the builder names).", "plot_qa",
                    "PlotQaBuilder", ("train", "validation", "test"))


@register_dataset("ai2d", aliases=("ai2_diagram", "ai2-diagram"))
class AI2D(EmbeddedImageDataset):
    """AI2D diagram questions as the official builder renders them (answer-letter boxes drawn opaque or
    transparent): one multiple-choice question per row over ``answer_texts`` with ``correct_answer``.
    ``boxes``: "both", "transparent" (keep rows without letter labels or with transparent boxes) or
    "opaque", as the official filter. The official ``ai2_diagram_v2_mix_transparent`` uses
    ``boxes="both"``. When the options are letters (``abc_label`` and all but at most one option a
    letter) the official style is ``ai2_diagram_no_letter`` with unlabelled, upper-cased options; our
    formatter letters every option list, so those rows keep their upper-cased options under that style
    (a known difference)."""

    NAME = "ai2d"
    HF_PATH = ""
    SPLITS = {"train": "train", "validation": "validation", "test": "test"}
    COLUMNS = {"image": is_image_struct, "question": is_string, "image_id": is_integer,
               "option_is_abc": list_of(is_bool), "question_id": is_string, "abc_label": is_bool,
               "answer_texts": list_of(is_string), "correct_answer": is_integer, "has_transparent_box": is_bool}
    MANUAL = _built("AI2D: http://ai2-website.s3.amazonaws.com/data/ai2d-all.zip and the test ids "
                    "https://s3-us-east-2.amazonaws.com/prior-datasets/ai2d_test_ids.csv.", "ai2d",
                    "Ai2dDatasetBuilder", ("train", "validation", "test"))

    def __init__(self, split: str = "train", boxes: str = "both", **kw: Any):
        if boxes not in ("both", "transparent", "opaque"):
            raise ConfigError(f"ai2d: boxes must be 'both', 'transparent' or 'opaque', got {boxes!r}")
        self.boxes = boxes
        super().__init__(split, boxes=boxes, **kw)

    def build_index(self, table: pa.Table) -> dict[str, np.ndarray]:
        keep = self.base_filter(table)
        if self.boxes != "both":
            abc = pc.fill_null(table.column("abc_label"), False).to_numpy(zero_copy_only=False).astype(bool)
            tb = pc.fill_null(table.column("has_transparent_box"), False).to_numpy(zero_copy_only=False).astype(bool)
            ok = ~abc | (tb if self.boxes == "transparent" else ~tb)
            keep &= _drop(self.skipped, ok | ~keep, f"not {self.boxes} boxes")
        return _identity_index(table.num_rows, keep)

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:
        row = int(rows[0])
        r = self.row_dicts(rows, ["question", "image_id", "question_id", "abc_label", "option_is_abc", "answer_texts",
                                  "correct_answer", "has_transparent_box"])[0]
        options = list(r["answer_texts"] or [])
        is_abc = list(r["option_is_abc"] or [])
        anns = AnnotationSet()
        if r["abc_label"] and len(is_abc) == len(options) and sum(is_abc) >= len(options) - 1:
            options = [o.upper() if a else o for o, a in zip(options, is_abc, strict=True)]
            style = "ai2_diagram_no_letter"
        else:
            style = "ai2_diagram"
        anns.add(MultipleChoice, (r["question"] or "").strip(), options, r["correct_answer"], style=style)
        meta = Metadata(dataset=self.NAME, split=self.split, rows=(row,),
                        extra={"example_id": r["question_id"], "image_id": r["image_id"], "abc_label": r["abc_label"],
                               "has_transparent_box": r["has_transparent_box"]})
        return anns.example(meta, images=(self.image(row),))


register_variant("ai2_diagram_v2_mix_transparent", "ai2d", boxes="both")


@register_dataset("tabmwp", aliases=("tabwmp", "tab-mwp"))
class TabMWP(EmbeddedImageDataset):
    """TabMWP table math word problems (PromptPG), direct answer: the table picture, the question and
    its answer (style ``tabwmp_da``, the official spelling ``tabwmp_da`` resolves here).
    ``include_options=True`` turns rows with ``choices`` into multiple choice (the official option of
    that name; off in the SFT mixture). Builder splits train / dev / test."""

    NAME = "tabmwp"
    HF_PATH = ""
    SPLITS = {"train": "train", "validation": "dev", "test": "test"}
    COLUMNS = {"image": is_image_struct, "question": is_string, "answer": is_string, "choices": is_list,
               "table_title": is_string, "table": is_string, "ques_type": is_string, "ans_type": is_string,
               "example_id": is_integer}
    MANUAL = _built("TabMWP: https://codeload.github.com/lupantech/PromptPG/legacy.zip/main (problems_*.json "
                    "and tables/).", "tabe_wmpd", "TabMwpBuilder", ("train", "dev", "test"))

    def __init__(self, split: str = "train", include_options: bool = False, **kw: Any):
        self.include_options = bool(include_options)
        super().__init__(split, include_options=include_options, **kw)

    def build_index(self, table: pa.Table) -> dict[str, np.ndarray]:
        keep = self.base_filter(table)
        has = pc.fill_null(pc.utf8_length(table.column("answer")), 0).to_numpy(zero_copy_only=False) > 0
        return _identity_index(table.num_rows, keep & _drop(self.skipped, has | ~keep, "no answer"))

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:
        row = int(rows[0])
        r = self.row_dicts(rows, ["question", "answer", "choices", "example_id", "unit"])[0]
        anns = AnnotationSet()
        choices = list(r.get("choices") or [])
        if self.include_options and choices and r["answer"] in choices:
            anns.add(MultipleChoice, r["question"].strip(), choices, choices.index(r["answer"]), style="tabwmp_da")
        else:
            anns.add(VQA, (r["question"] or "").strip(), r["answer"], style="tabwmp_da")
        meta = Metadata(dataset=self.NAME, split=self.split, rows=(row,), extra={"example_id": r["example_id"]})
        return anns.example(meta, images=(self.image(row),))


register_variant("tabwmp_da", "tabmwp", include_options=False)
