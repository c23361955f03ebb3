"""Academic image sets read straight from their Hub tables (issue 13): CoSyn-400K and MMMU.

``cosyn-400k`` (allenai/CoSyn-400K): rendered documents of ten kinds (the configs), each row one image
with all its QA pairs; the official names ``cosyn_<doctype>`` / ``cosyn_<doctype>_exp`` are variants
(``get_dataset("cosyn_chart_exp")`` = ``cosyn-400k, config="chart", with_explanation=True``).

``mmmu`` (MMMU/MMMU): the multi-discipline benchmark, 30 subject configs, one question per row, an
evaluation set (splits validation, dev, test). The official ``mmmu_test_v2`` (all images of a row) is
the variant ``use_multi_image=True``.
"""

from __future__ import annotations

import ast
import re
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from molmo2_data.annotations import VQA, MultipleChoice
from molmo2_data.datasets.base import AnnotationSet, TableDataset
from molmo2_data.datasets.multi_image import (
    QA_EXP_PAIRS,
    RowFilter,
    explained_answer,
    nonempty_text,
    qa_exp_malformed,
    to_numpy,
)
from molmo2_data.datasets.pixmo import EmbeddedImageDataset, _has_bytes, is_image_struct
from molmo2_data.datasets.registry import register_dataset, register_variant
from molmo2_data.errors import ConfigError
from molmo2_data.example import Example, ImageRef, Metadata
from molmo2_data.tables import is_string, row_dict

# ---------------------------------------------------------------------------------------------
# CoSyn-400K
# ---------------------------------------------------------------------------------------------

# The configs of allenai/CoSyn-400K; the official doc_type of a config is its name ("document" included).
COSYN_DOC_TYPES = ("chart", "chemical", "circuit", "diagram", "document", "graphic", "math", "music",
                   "nutrition", "table")


@register_dataset("cosyn-400k", aliases=("cosyn_400k", "cosyn400k"))
class CoSyn400K(EmbeddedImageDataset):
    """CoSyn-400K (allenai/CoSyn-400K): a rendered chart / chemical structure / circuit / diagram /
    document / graphic / math figure / music sheet / nutrition label / table, with synthetic QA pairs.

    Columns (card): ``id``, ``image`` (HF Image), ``qa_pairs`` {question, explanation, answer: [str]},
    ``metadata`` {figure_type, persona, topic}, ``data``, ``code``. ``config=`` picks one doc type or a
    list (default: every config present locally). One example per row: its image and one VQA
    annotation per QA pair (a message tree), as the official ``CoSyn`` loader.

    Style ``cosyn_<doctype>``; with ``with_explanation=True`` (official ``use_exp``, also the official
    class default) ``cosyn_<doctype>_exp``: the formatter puts the question into a ``chain_of_thought``
    template (as it does for every ``*_exp`` style) and the answer is ``"<explanation> Answer:
    <answer>"`` (the official formatter's output for a message with an explanation; see
    :func:`explained_answer`). The official code does not say what an empty explanation should give.
    Explanations are always kept in ``metadata.extra["explanations"]``. Rows without image bytes or with
    malformed qa_pairs (null, empty, lists of unequal length) are skipped and counted; an empty question
    or answer drops that pair (counted in ``metadata.dropped``).
    """

    NAME = "cosyn-400k"
    HF_PATH = "allenai/CoSyn-400K"
    CONFIGS = COSYN_DOC_TYPES
    SPLITS = {"train": "train", "validation": "validation"}
    COLUMNS = {"image": is_image_struct, "id": is_string, "qa_pairs": QA_EXP_PAIRS}

    def __init__(self, split: str = "train", with_explanation: bool = True, **kw: Any):
        if not isinstance(with_explanation, bool):
            raise ConfigError(f"cosyn-400k: with_explanation must be True or False, got {with_explanation!r}")
        self.with_explanation = with_explanation
        super().__init__(split, **kw)

    def build_index(self, table: pa.Table) -> dict[str, np.ndarray]:
        f = RowFilter(table.num_rows, self.skipped)
        f.drop(~_has_bytes(table, "image"), "image bytes missing")
        f.drop(qa_exp_malformed(table.column("qa_pairs")), "malformed qa_pairs")
        return f.index()

    def style(self, doc_type: str) -> str:
        return f"cosyn_{doc_type}" + ("_exp" if self.with_explanation else "")

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:
        row = int(rows[0])
        r = row_dict(self.data, row, ["id", "qa_pairs", "metadata"])
        doc_type = self.configs_loaded[int(self.config_of_table[row])]
        style = self.style(doc_type)
        qa = r["qa_pairs"]
        anns = AnnotationSet()
        for q, e, a in zip(qa["question"], qa["explanation"], qa["answer"], strict=True):
            if self.with_explanation and isinstance(a, str) and a.strip():
                a = explained_answer(e, a)
            anns.add(VQA, q, a, style=style)
        meta = Metadata(dataset=self.NAME, split=self.split, rows=(row,),
                        source_ids={"id": r["id"], "config": doc_type},
                        extra={"explanations": list(qa["explanation"]), "metadata": r.get("metadata")})
        return anns.example(meta, images=(self.image(row),))


for _doc_type in COSYN_DOC_TYPES:
    register_variant(f"cosyn_{_doc_type}", "cosyn-400k", config=_doc_type, with_explanation=False)
    register_variant(f"cosyn_{_doc_type}_exp", "cosyn-400k", config=_doc_type, with_explanation=True)


# ---------------------------------------------------------------------------------------------
# MMMU
# ---------------------------------------------------------------------------------------------

MMMU_SUBJECTS = (
    "Accounting", "Agriculture", "Architecture_and_Engineering", "Art", "Art_Theory", "Basic_Medical_Science",
    "Biology", "Chemistry", "Clinical_Medicine", "Computer_Science", "Design",
    "Diagnostics_and_Laboratory_Medicine", "Economics", "Electronics", "Energy_and_Power", "Finance",
    "Geography", "History", "Literature", "Manage", "Marketing", "Materials", "Math", "Mechanical_Engineering",
    "Music", "Pharmacy", "Physics", "Psychology", "Public_Health", "Sociology",
)
MMMU_IMAGES = tuple(f"image_{i}" for i in range(1, 8))
_PLACEHOLDER = re.compile(r"<image\s*(\d+)>")
_IMAGE_OPTION = re.compile(r"<img='(.*?)'>")
MAX_OPTIONS_TEXT = 100_000  # longer ``options`` texts are not parsed (malformed)


def parse_options(text: Any) -> list[str] | None:
    """MMMU ``options``: a Python list literal of option texts (parsed with ``ast.literal_eval``, never
    ``eval``). None when it is not a list of 1-26 non-empty texts (numbers are taken as text)."""
    if not isinstance(text, str) or len(text) > MAX_OPTIONS_TEXT:
        return None
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    if not isinstance(value, list | tuple) or not 1 <= len(value) <= 26:
        return None
    out = []
    for o in value:
        if isinstance(o, bool) or not isinstance(o, str | int | float):
            return None
        o = str(o)
        if not o.strip():
            return None
        out.append(o)
    return out


def answer_index(answer: Any, n_options: int) -> int | None:
    """The option index of an MMMU multiple-choice answer letter ("A".."Z"), else None."""
    if not isinstance(answer, str) or len(answer.strip()) != 1:
        return None
    k = ord(answer.strip()) - ord("A")
    return k if 0 <= k < n_options else None


def replace_placeholders(text: str) -> str:
    """``<image 2>`` -> ``Image 2`` (the official multi-image mode)."""
    return _PLACEHOLDER.sub(r"Image \1", text)


def image_options(options: list[str]) -> int:
    """How many options are an image reference (``<img='...'>`` at the start, as the official checks)."""
    return sum(_IMAGE_OPTION.match(o) is not None for o in options)


@register_dataset("mmmu")
class MMMU(TableDataset):
    """MMMU (MMMU/MMMU; 30 subject configs; splits ``validation`` — the official evaluation split —,
    ``dev`` and ``test``, whose answers are hidden). One question per row.

    As the official ``MMMU`` loader: ``question_type == "multiple-choice"`` rows become a
    :class:`MultipleChoice` over ``options`` (a string holding a Python list, parsed with
    ``ast.literal_eval``) whose answer is the letter in ``answer``; other rows a :class:`VQA` with the
    ``answer`` text. Single-image mode (default): the image is ``image_1``, ``<image N>`` placeholders
    stay in the text, styles ``a_okvqa_mc`` / ``vqa2``; when more than one option is an ``<img='...'>``
    reference (the options are images) the example has no image, as the official (after LLaVA).
    ``use_multi_image=True`` (official ``mmmu_test_v2``): a row with several images keeps them all
    (styles ``mantis_instruct_mc`` / ``mantis_instruct_da``), a row with one keeps the single-image
    styles; placeholders in question and options become ``Image N``.

    Skipped and counted (the official would crash or keep them): an empty question, options that are
    not a list of texts ("malformed options"), an answer that is not one of the option letters (e.g. the
    hidden test answers), an open question without answer, a row without ``image_1`` bytes.
    """

    NAME = "mmmu"
    HF_PATH = "MMMU/MMMU"
    CONFIGS = MMMU_SUBJECTS
    SPLITS = {"validation": "validation", "dev": "dev", "test": "test"}
    COLUMNS = {"question": is_string, "options": is_string, "answer": is_string, "question_type": is_string,
               "id": is_string, **{c: is_image_struct for c in MMMU_IMAGES}}
    MEDIA = "embedded_image"
    MC_STYLES: ClassVar[tuple[str, str]] = ("a_okvqa_mc", "mantis_instruct_mc")
    OPEN_STYLES: ClassVar[tuple[str, str]] = ("vqa2", "mantis_instruct_da")

    def __init__(self, split: str = "validation", use_multi_image: bool = False, **kw: Any):
        if not isinstance(use_multi_image, bool):
            raise ConfigError(f"mmmu: use_multi_image must be True or False, got {use_multi_image!r}")
        self.use_multi_image = use_multi_image
        super().__init__(split, **kw)

    def build_index(self, table: pa.Table) -> dict[str, np.ndarray]:
        n = table.num_rows
        f = RowFilter(n, self.skipped)
        f.drop(~nonempty_text(table.column("question")), "empty question")
        mc = to_numpy(pc.fill_null(pc.equal(table.column("question_type"), "multiple-choice"), False), bool)
        options = table.column("options")
        answers = table.column("answer")
        malformed = np.zeros(n, dtype=bool)
        bad_answer = np.zeros(n, dtype=bool)
        for i in np.flatnonzero(mc & f.keep):  # Python only for the MC rows still kept
            parsed = parse_options(options[int(i)].as_py())
            if parsed is None:
                malformed[i] = True
            elif answer_index(answers[int(i)].as_py(), len(parsed)) is None:
                bad_answer[i] = True
        f.drop(malformed, "malformed options")
        f.drop(bad_answer, "answer is not an option letter")
        f.drop(~mc & ~nonempty_text(answers), "no answer")
        f.drop(~_has_bytes(table, "image_1"), "image_1 bytes missing")
        return f.index()

    def images(self, row: dict[str, Any]) -> list[ImageRef]:
        return [ImageRef(data=row[c]["bytes"], source=row[c].get("path"))
                for c in MMMU_IMAGES if row.get(c) is not None and row[c].get("bytes")]

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:
        row_i = int(rows[0])
        r = row_dict(self.data, row_i, [c for c in (*self.COLUMNS, "subfield", "img_type", "topic_difficulty")
                                        if c in self.data.column_names])
        mc = r["question_type"] == "multiple-choice"
        images = self.images(r)
        multi = self.use_multi_image and len(images) > 1
        style = (self.MC_STYLES if mc else self.OPEN_STYLES)[int(multi)]
        if not multi:
            images = images[:1]  # image_1 (checked at index time)
        question = replace_placeholders(r["question"]) if self.use_multi_image else r["question"]
        anns = AnnotationSet()
        dropped_image = False
        if mc:
            options = parse_options(r["options"]) or []
            if self.use_multi_image:
                options = [replace_placeholders(o) for o in options]
            elif image_options(options) > 1:
                images, dropped_image = [], True
            anns.add(MultipleChoice, question, options, answer_index(r["answer"], len(options)), style=style)
        else:
            anns.add(VQA, question, r["answer"], style=style)
        config = self.configs_loaded[int(self.config_of_table[row_i])]
        meta = Metadata(dataset=self.NAME, split=self.split, rows=(row_i,),
                        source_ids={"id": r["id"], "config": config},
                        extra={"answer": r["answer"], "question_type": r["question_type"],
                               "subfield": r.get("subfield"), "img_type": r.get("img_type"),
                               "topic_difficulty": r.get("topic_difficulty"), "image_dropped": dropped_image})
        return anns.example(meta, images=tuple(images))


register_variant("mmmu_test", "mmmu")
register_variant("mmmu_test_v2", "mmmu", use_multi_image=True)
