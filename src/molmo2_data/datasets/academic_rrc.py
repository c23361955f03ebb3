"""Robust Reading Competition sets, fetched by hand (registration and terms of use at rrc.cvc.uab.es):
InfographicVQA (DocVQA challenge task 3) and ST-VQA (scene-text VQA, task 3).

``download`` imports the challenge's own JSON files from ``manual/<name>/`` into tables (the JSON
fields as columns, ``image`` the path of the picture inside that folder); the readers are the
declarative :class:`~.academic_image.AcademicImageQA` over image files by path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from molmo2_data.datasets.academic_image import AcademicImageQA
from molmo2_data.datasets.base import index_from_mask
from molmo2_data.datasets.local_files import LocalImageDataset
from molmo2_data.datasets.registry import register_dataset
from molmo2_data.download.manual import ManualSource, read_json
from molmo2_data.errors import SchemaError
from molmo2_data.tables import is_integer, is_list, is_string


def json_rows(path: Path, required: dict[str, type | tuple[type, ...]]) -> list[dict[str, Any]]:
    """The ``data`` list of a challenge JSON file, every row checked for the ``required`` keys and types
    (a renamed or retyped field is a SchemaError naming the file, the row and the key)."""
    doc = read_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise SchemaError(f"{path}: expected a JSON object with a 'data' list")
    for i, row in enumerate(doc["data"]):
        if not isinstance(row, dict):
            raise SchemaError(f"{path}: data[{i}] is not an object")
        for key, kind in required.items():
            if key not in row:
                raise SchemaError(f"{path}: data[{i}] has no {key!r} (has {', '.join(sorted(row))})")
            if not isinstance(row[key], kind) or isinstance(row[key], bool):
                raise SchemaError(f"{path}: data[{i}].{key} is {type(row[key]).__name__}, expected "
                                  f"{getattr(kind, '__name__', kind)}")
    return doc["data"]


def _answers(rows: list[dict[str, Any]], path: Path) -> pa.Array:
    out = []
    for i, r in enumerate(rows):
        a = r.get("answers", [])
        if not isinstance(a, list) or not all(isinstance(x, str) for x in a):
            raise SchemaError(f"{path}: data[{i}].answers is not a list of strings")
        out.append(a)
    return pa.array(out, pa.list_(pa.string()))


class RRCQA(LocalImageDataset, AcademicImageQA):
    """One question per row over an image file in the dataset's manual folder."""

    FILES_IN_MANUAL = True
    QUESTION, ANSWERS = "question", "answers"

    def base_filter(self, table: pa.Table) -> np.ndarray:
        return self.files_filter(table)

    def extra_columns(self) -> tuple[str, ...]:
        return ("image",)

    def row_images(self, row: int, values: dict[str, Any]) -> tuple[Any, ...]:
        return (self.local_image(values["image"]),)


def convert_info_qa(path: Path, split: str) -> pa.Table:
    rows = json_rows(path, {"questionId": int, "question": str, "image_local_name": str})
    return pa.table({"questionId": pa.array([r["questionId"] for r in rows], pa.int64()),
                     "question": pa.array([r["question"] for r in rows], pa.string()),
                     "image_local_name": pa.array([r["image_local_name"] for r in rows], pa.string()),
                     "image": pa.array(["images/" + r["image_local_name"] for r in rows], pa.string()),
                     "answers": _answers(rows, path)})


@register_dataset("info-qa", aliases=("info_qa", "infographicvqa", "infovqa"))
class InfoQA(RRCQA):
    """InfographicVQA: a question about an infographic with its annotator answers (style ``info_qa``,
    scored by ANLS). The test split has no answers (its rows are counted as skipped)."""

    NAME = "info-qa"
    HF_PATH = ""
    STYLE = "info_qa"
    ID_COLUMNS = ("questionId",)
    SPLITS = {"train": "train", "validation": "validation", "test": "test"}
    COLUMNS = {"questionId": is_integer, "question": is_string, "image": is_string, "answers": is_list}
    MANUAL = ManualSource(
        what="InfographicVQA (https://rrc.cvc.uab.es/?ch=17, task 3; free registration, terms of use): the "
             "annotation files infographicsVQA_train_v1.0.json, infographicsVQA_val_v1.0_withQT.json and "
             "infographicsVQA_test_v1.0.json, and the images unzipped into an images/ folder next to them.",
        files={"train": "infographicsVQA_train_v1.0.json", "validation": "infographicsVQA_val_v1.0_withQT.json",
               "test": "infographicsVQA_test_v1.0.json"},
        convert=convert_info_qa)


def convert_st_qa(path: Path, split: str) -> pa.Table:
    rows = json_rows(path, {"question_id": int, "question": str, "file_path": str})
    return pa.table({"question_id": pa.array([r["question_id"] for r in rows], pa.int64()),
                     "question": pa.array([r["question"] for r in rows], pa.string()),
                     "file_path": pa.array([r["file_path"] for r in rows], pa.string()),
                     "image": pa.array([r["file_path"] for r in rows], pa.string()),
                     "answers": _answers(rows, path)})


ST_QA_VALIDATION, ST_QA_SEED = 1024, 63069  # the official held-out size and shuffle seed


@register_dataset("st-qa", aliases=("st_qa", "st-vqa", "stvqa", "scene-text-qa"))
class SceneTextQA(RRCQA):
    """ST-VQA task 3: a question about text in a scene picture (style ``st_qa``, ANLS). The challenge
    has no validation split: as the official loader, the train questions sorted by ``question_id`` and
    shuffled with ``RandomState(63069)`` give validation = the first 1024, train = the rest (in that
    shuffled order)."""

    NAME = "st-qa"
    HF_PATH = ""
    STYLE = "st_qa"
    ID_COLUMNS = ("question_id",)
    SPLITS = {"train": "train", "validation": "train", "test": "test"}
    COLUMNS = {"question_id": is_integer, "question": is_string, "image": is_string, "answers": is_list}
    VERSION: ClassVar[int] = 2
    MANUAL = ManualSource(
        what="ST-VQA (https://rrc.cvc.uab.es/?ch=11, task 3; free registration, terms of use): "
             "train_task_3.json and test_task_3.json, and the image archives unpacked next to them (the "
             "JSON's file_path values are relative to that folder).",
        files={"train": "train_task_3.json", "test": "test_task_3.json"}, convert=convert_st_qa)

    def build_index(self, table: pa.Table) -> dict[str, np.ndarray]:
        keep = self.keep_rows(table)
        if self.split == "test":
            order = np.arange(table.num_rows, dtype=np.int64)
        else:
            ids = table.column("question_id").to_numpy(zero_copy_only=False)
            order = np.argsort(ids, kind="stable").astype(np.int64)
            np.random.RandomState(ST_QA_SEED).shuffle(order)
            order = order[:ST_QA_VALIDATION] if self.split == "validation" else order[ST_QA_VALIDATION:]
        return index_from_mask(order, np.arange(len(order) + 1, dtype=np.int64), keep_rows=keep)
