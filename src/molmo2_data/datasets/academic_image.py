"""Academic image QA sets (issue 13), one declarative reader each.

A reader here is a few class attributes: the source (``HF_PATH``, ``SPLITS``), the published columns
(``COLUMNS``, also recorded in :mod:`.published`), and how a row becomes annotations: the question and
answer columns, the official style, an optional per-row weight. :class:`AcademicImageQA` does the rest
(embedded images, null and empty rows counted, one :class:`~molmo2_data.annotations.VQA` per row whose
answer list the formatter chooses from as the official ``select_vqa_answer`` does).

Sets: ``chart-qa`` (HuggingFaceM4/ChartQA; official name ``chart_qa``; the official
``chart_qa_weighted`` is the variant ``get_dataset("chart_qa_weighted")`` = ``chart-qa, weighted=True``); ``doc-qa`` (DocVQA, from the
lmms-lab/DocVQA mirror; official name ``doc_qa``; the official loader reads a manual download);
``science-qa-img`` (derek-thomas/ScienceQA, rows with an image; official name ``science_qa_img``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from molmo2_data.annotations import VQA, MultipleChoice
from molmo2_data.datasets.base import AnnotationSet
from molmo2_data.datasets.pixmo import EmbeddedImageDataset, _drop, _identity_index, is_image_struct
from molmo2_data.datasets.registry import register_dataset, register_variant
from molmo2_data.example import Example, Metadata
from molmo2_data.tables import is_integer, is_list, is_string


class AcademicImageQA(EmbeddedImageDataset):
    """One VQA annotation per row: ``QUESTION`` column, ``ANSWERS`` column (a string or a list of
    annotator answers), ``STYLE``; ``row_weight`` may give the example a loss weight."""

    QUESTION: ClassVar[str] = "question"
    ANSWERS: ClassVar[str] = "answers"
    STYLE: ClassVar[str] = "user_qa"
    ID_COLUMNS: ClassVar[tuple[str, ...]] = ()

    def build_index(self, table: pa.Table) -> dict[str, np.ndarray]:
        return _identity_index(table.num_rows, self.keep_rows(table))

    def keep_rows(self, table: pa.Table) -> np.ndarray:
        """Rows that make an example: image bytes, a non-empty question, at least one answer (the others
        are counted in ``skipped`` by reason)."""
        keep = self.base_filter(table)
        q = pc.fill_null(table.column(self.QUESTION), "")
        keep &= _drop(self.skipped, (pc.utf8_length(pc.utf8_trim_whitespace(q)).to_numpy(zero_copy_only=False) > 0)
                      | ~keep, "empty question")
        answers = table.column(self.ANSWERS)
        if pa.types.is_list(answers.type) or pa.types.is_large_list(answers.type):
            has = pc.fill_null(pc.list_value_length(answers), 0).to_numpy(zero_copy_only=False) > 0
        else:
            has = pc.fill_null(pc.utf8_length(answers), 0).to_numpy(zero_copy_only=False) > 0
        return keep & _drop(self.skipped, has | ~keep, "no answer")

    def row_weight(self, row: dict[str, Any]) -> float | None:
        return None

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:
        row = int(rows[0])
        r = self.row_dicts(rows, [self.QUESTION, self.ANSWERS, *self.ID_COLUMNS, *self.extra_columns()])[0]
        anns = AnnotationSet()
        anns.add(VQA, r[self.QUESTION].strip(), r[self.ANSWERS], style=self.STYLE)
        meta = Metadata(dataset=self.NAME, split=self.split, rows=(row,),
                        source_ids={k: r.get(k) for k in self.ID_COLUMNS}, extra=self.extra(r))
        ex = anns.example(meta, images=self.row_images(row, r))
        ex.weight = self.row_weight(r)
        return ex

    def extra_columns(self) -> tuple[str, ...]:
        return ()

    def extra(self, row: dict[str, Any]) -> dict[str, Any]:
        return {}

    def row_images(self, row: int, values: dict[str, Any]) -> tuple[Any, ...]:
        """The example's images (embedded here; a reader of image files by path overrides it)."""
        return (self.image(row),)


# ChartQA: 20,901 human-written and 7,398 machine-generated training questions (the official counts)
CHART_QA_HUMAN, CHART_QA_AUGMENTED = 20901, 7398


@register_dataset("chart-qa", aliases=("chart_qa", "chartqa"))
class ChartQA(AcademicImageQA):
    """ChartQA (HuggingFaceM4/ChartQA): a chart, a question, its answer list, and whether a person or a
    generator wrote the question (``human_or_machine`` 0 / 1). ``parts``: "both", "human" or
    "augmented". ``weighted=True`` is the official ``chart_qa_weighted``: human questions weigh
    2·20901/28299, generated ones 2·7398/28299 (the official constants, as the official code writes
    them). Style ``chart_qa``; scored by relaxed accuracy."""

    NAME = "chart-qa"
    HF_PATH = "HuggingFaceM4/ChartQA"
    SPLITS = {"train": "train", "validation": "val", "test": "test"}
    COLUMNS = {"image": is_image_struct, "query": is_string, "label": is_list, "human_or_machine": is_integer}
    QUESTION, ANSWERS, STYLE = "query", "label", "chart_qa"

    def __init__(self, split: str = "train", parts: str = "both", weighted: bool = False, **kw: Any):
        from molmo2_data.errors import ConfigError

        if parts not in ("both", "human", "augmented"):
            raise ConfigError(f"chart-qa: parts must be 'both', 'human' or 'augmented', got {parts!r}")
        if not isinstance(weighted, bool):
            raise ConfigError(f"chart-qa: weighted must be True or False, got {weighted!r}")
        self.parts, self.weighted = parts, weighted
        super().__init__(split, parts=parts, weighted=weighted, **kw)

    def keep_rows(self, table: pa.Table) -> np.ndarray:
        keep = super().keep_rows(table)
        if self.parts == "both":
            return keep
        kind = pc.fill_null(table.column("human_or_machine"), -1).to_numpy(zero_copy_only=False)
        want = 0 if self.parts == "human" else 1
        return keep & _drop(self.skipped, (kind == want) | ~keep, f"not a {self.parts} question")

    def extra_columns(self) -> tuple[str, ...]:
        return ("human_or_machine",)

    def extra(self, row: dict[str, Any]) -> dict[str, Any]:
        return {"is_human": row.get("human_or_machine") == 0}

    def row_weight(self, row: dict[str, Any]) -> float | None:
        if not self.weighted:
            return None
        total = CHART_QA_HUMAN + CHART_QA_AUGMENTED
        return 2 * (CHART_QA_HUMAN if row.get("human_or_machine") == 0 else CHART_QA_AUGMENTED) / total


register_variant("chart_qa_weighted", "chart-qa", weighted=True)


@register_dataset("doc-qa", aliases=("doc_qa", "docvqa"))
class DocQA(AcademicImageQA):
    """DocVQA single-page questions (lmms-lab/DocVQA, config ``DocVQA``): a scanned page, a question and
    its annotator answers. The official loader reads the challenge's own download (manual, terms of use);
    this mirror carries the same questions and answers. The test split's answers are not public (rows
    without answers are counted as skipped). Style ``doc_qa``; scored by ANLS over the answers."""

    NAME = "doc-qa"
    HF_PATH = "lmms-lab/DocVQA"
    CONFIGS = ("DocVQA",)
    SPLITS = {"train": "train", "validation": "validation", "test": "test"}
    COLUMNS = {"image": is_image_struct, "questionId": is_string, "question": is_string, "answers": is_list,
               "docId": is_integer}
    QUESTION, ANSWERS, STYLE = "question", "answers", "doc_qa"
    ID_COLUMNS = ("questionId", "docId")


@register_dataset("science-qa-img", aliases=("science_qa_img", "scienceqa-img"))
class ScienceQAImage(EmbeddedImageDataset):
    """ScienceQA, the questions with an image (derek-thomas/ScienceQA, the official source): a multiple
    choice question over ``choices`` with the ``answer`` index. As the official loader: rows without an
    image are left out (counted as "text-only question"), a non-empty ``hint`` is prepended to the
    question with a newline. Style ``science_qa``; scored by multiple-choice accuracy."""

    NAME = "science-qa-img"
    HF_PATH = "derek-thomas/ScienceQA"
    SPLITS = {"train": "train", "validation": "validation", "test": "test"}
    COLUMNS = {"image": is_image_struct, "question": is_string, "choices": is_list, "answer": is_integer,
               "hint": is_string}

    def base_filter(self, table: pa.Table) -> np.ndarray:
        from molmo2_data.datasets.pixmo import _has_bytes

        return _drop(self.skipped, _has_bytes(table, "image"), "text-only question (no image)")

    def build_index(self, table: pa.Table) -> dict[str, np.ndarray]:
        return _identity_index(table.num_rows, self.base_filter(table))

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:
        row = int(rows[0])
        r = self.row_dicts(rows, ["question", "choices", "answer", "hint", "subject", "grade"])[0]
        question = r["question"] if not r.get("hint") else r["hint"] + "\n" + r["question"]
        anns = AnnotationSet()
        anns.add(MultipleChoice, question, list(r["choices"] or []), r["answer"], category=r.get("subject"),
                 style="science_qa")
        meta = Metadata(dataset=self.NAME, split=self.split, rows=(row,), extra={"grade": r.get("grade")})
        return anns.example(meta, images=(self.image(row),))

