"""Academic image QA from the Ai2 Hub mirrors (``allenai/molmo2-*``): VQA v2, TextVQA, TallyQA, OK-VQA,
A-OKVQA and the Mantis-Instruct subsets, one declarative reader each.

These mirrors hold annotations only; images are files named by a path relative to the official data
home (COCO 2014/2017, Visual Genome, TextVQA, Mantis-Instruct zips), which this project keeps under
``media/files`` (:mod:`.local_files`). Their dataset cards are not readable here, so the columns are
those the official loaders read (``olmo/data/academic_image_datasets.py``): ``image`` (str),
``message_list`` (list of message structs) and ``metadata/<key>`` columns, except OK-VQA (``qas``) and
Mantis (per-row lists). The VQA-style mirrors publish one config per split (each with the single split
"train"), which ``SPLIT_IS_CONFIG`` expresses.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from molmo2_data.annotations import VQA, MultipleChoice
from molmo2_data.datasets.base import AnnotationSet
from molmo2_data.datasets.local_files import LocalImageDataset
from molmo2_data.datasets.multi_image import list_of, struct_with
from molmo2_data.datasets.pixmo import _drop
from molmo2_data.datasets.registry import register_dataset, register_variant
from molmo2_data.example import Example, Metadata
from molmo2_data.tables import is_integer, is_list, is_string

COCO_2014 = ("COCO 2014 images: http://images.cocodataset.org/zips/{train2014,val2014,test2015}.zip unzipped "
             "into media/files/images/coco/ (the official DATA_HOME/images/coco layout)")
COCO_2017 = ("COCO 2017 images: http://images.cocodataset.org/zips/{train2017,val2017,test2017}.zip unzipped "
             "into media/files/images/coco/")
VISUAL_GENOME = ("Visual Genome images: https://cs.stanford.edu/people/rak248/VG_100K_2/images.zip and "
                 "images2.zip unzipped into media/files/images/vg/")


def _flat_index(n_items: np.ndarray, keep_rows: np.ndarray, keep_items: np.ndarray | None = None
                ) -> dict[str, np.ndarray]:
    """One group per (row, item) of rows kept: ``order`` the row, ``item`` the position in its list.
    ``keep_items`` (per item of the flattened lists of all rows) drops single items."""
    n_all = n_items.astype(np.int64)
    rows = np.repeat(np.arange(len(n_all), dtype=np.int64), n_all)
    item = np.arange(len(rows), dtype=np.int64) - np.repeat(np.cumsum(n_all) - n_all, n_all)
    keep = keep_rows[rows] if len(rows) else np.zeros(0, dtype=bool)
    if keep_items is not None:
        keep &= keep_items
    rows, item = rows[keep], item[keep]
    return {"order": rows, "offsets": np.arange(len(rows) + 1, dtype=np.int64), "item": item}


def _identity(keep: np.ndarray) -> dict[str, np.ndarray]:
    from molmo2_data.datasets.pixmo import _identity_index

    return _identity_index(len(keep), keep)


class Ai2MessageListQA(LocalImageDataset):
    """An ``allenai/molmo2-*`` VQA mirror: per row one image and its ``message_list`` of {question,
    answers}; one example per image whose questions form one message tree (official
    ``Ai2HfDataset`` without flattening), each a :class:`VQA` annotation of style ``STYLE``."""

    SPLIT_IS_CONFIG = True
    STYLE: ClassVar[str] = "vqa2"
    CONFIGS = ("train", "validation", "test")
    SPLITS = {"train": "train", "validation": "validation", "test": "test"}
    COLUMNS = {"image": is_string,
               "message_list": list_of(struct_with({"question": is_string, "answers": list_of(is_string)}))}

    def build_index(self, table: pa.Table) -> dict[str, np.ndarray]:
        keep = self.files_filter(table)
        n = pc.fill_null(pc.list_value_length(table.column("message_list")), 0).to_numpy(zero_copy_only=False)
        return _identity(keep & _drop(self.skipped, (n > 0) | ~keep, "no questions"))

    def metadata_columns(self) -> list[str]:
        return [c for c in self.data.column_names if c.startswith("metadata/")]

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:
        row = int(rows[0])
        r = self.row_dicts(rows, ["image", "message_list", *self.metadata_columns()])[0]
        anns = AnnotationSet()
        for msg in r["message_list"]:
            answers = [a for a in (msg.get("answers") or []) if a is not None]
            anns.add(VQA, (msg.get("question") or "").strip(), answers, style=self.STYLE)
        extra = {k[len("metadata/"):]: v for k, v in r.items() if k.startswith("metadata/")}
        meta = Metadata(dataset=self.NAME, split=self.split, rows=(row,), extra=extra)
        return anns.example(meta, images=(self.local_image(r["image"]),))


@register_dataset("vqa-v2", aliases=("vqa2", "coco_2014_vqa_multi"))
class Vqa2(Ai2MessageListQA):
    """VQA v2 on COCO 2014 (allenai/molmo2-vqa2-2014), the multi-question form the official mixture
    names ``coco_2014_vqa_multi``: every question of an image in one tree, each with its 10 annotator
    answers (the formatter trains on the most frequent; eval uses the VQA score over all 10)."""

    NAME = "vqa-v2"
    HF_PATH = "allenai/molmo2-vqa2-2014"
    STYLE = "vqa2"
    FILES_HOWTO = COCO_2014


@register_dataset("text-vqa", aliases=("text_vqa", "textvqa"))
class TextVqa(Ai2MessageListQA):
    """TextVQA (allenai/molmo2-text-vqa): questions about text in Open Images pictures, 10 answers each."""

    NAME = "text-vqa"
    HF_PATH = "allenai/molmo2-text-vqa"
    STYLE = "text_vqa"
    FILES_HOWTO = ("TextVQA images: https://dl.fbaipublicfiles.com/textvqa/images/train_val_images.zip and "
                   "test_images.zip unzipped into media/files/text_vqa/{train_images,test_images}/")


@register_dataset("tally-qa", aliases=("tally_qa", "tallyqa"))
class TallyQa(Ai2MessageListQA):
    """TallyQA counting questions (allenai/molmo2-tally-qa) on COCO 2014 and Visual Genome images;
    splits train and test only."""

    NAME = "tally-qa"
    HF_PATH = "allenai/molmo2-tally-qa"
    STYLE = "tally_qa"
    CONFIGS = ("train", "test")
    SPLITS = {"train": "train", "test": "test"}
    FILES_HOWTO = COCO_2014 + "; " + VISUAL_GENOME


OKVQA_ANSWER = struct_with({"raw_answer": is_string})


@register_dataset("ok-vqa", aliases=("okvqa",))
class OkVqa(LocalImageDataset):
    """OK-VQA (allenai/molmo2-okvqa; configs train / val): per image a ``qas`` list of {question,
    question_id, answers: [{raw_answer, ...}]}. The official mixture flattens it (one example per
    question, ``flatten_annotations=True``); ``flatten=False`` keeps one tree per image. Style
    ``okvqa``; answers are the annotators' raw answers."""

    NAME = "ok-vqa"
    HF_PATH = "allenai/molmo2-okvqa"
    SPLIT_IS_CONFIG = True
    CONFIGS = ("train", "val")
    SPLITS = {"train": "train", "validation": "val"}
    COLUMNS = {"image": is_string,
               "qas": list_of(struct_with({"question": is_string, "answers": list_of(OKVQA_ANSWER)}))}
    FILES_HOWTO = COCO_2014

    def __init__(self, split: str = "train", flatten: bool = True, **kw: Any):
        self.flatten = bool(flatten)
        super().__init__(split, flatten=flatten, **kw)

    def build_index(self, table: pa.Table) -> dict[str, np.ndarray]:
        keep = self.files_filter(table)
        n = pc.fill_null(pc.list_value_length(table.column("qas")), 0).to_numpy(zero_copy_only=False)
        keep &= _drop(self.skipped, (n > 0) | ~keep, "no questions")
        return _flat_index(n, keep) if self.flatten else _identity(keep)

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:
        row = int(rows[0])
        r = self.row_dicts(rows, ["image", "image_id", "qas"])[0]
        qas = r["qas"] if not self.flatten else [r["qas"][int(self.index["item"][group])]]
        anns = AnnotationSet()
        for q in qas:
            answers = [a["raw_answer"] for a in (q.get("answers") or []) if a and a.get("raw_answer") is not None]
            anns.add(VQA, (q.get("question") or "").strip(), answers, style="okvqa")
        extra = {"example_id": qas[0].get("question_id")} if self.flatten else {"image_id": r.get("image_id")}
        meta = Metadata(dataset=self.NAME, split=self.split, rows=(row,), extra=extra)
        return anns.example(meta, images=(self.local_image(r["image"]),))


AOKVQA_MESSAGE = struct_with({"question": is_string, "choices": list_of(is_string), "direct_answers": list_of(is_string)})


@register_dataset("a-okvqa", aliases=("a_okvqa", "aokvqa"))
class AOkVqa(LocalImageDataset):
    """A-OKVQA (allenai/molmo2-a-ok-vqa; configs train / val / test) on COCO 2017: per image a
    ``message_list`` of {question, choices, answer_idx, direct_answers, question_id}. ``direct_answer``
    picks the form: multiple choice over ``choices`` (official ``a_okvqa_mc``) or the 10 direct answers
    (``a_okvqa_da``). Train keeps one tree per image; for validation/test in direct-answer form the
    official flattens and drops ``difficult_direct_answer`` questions (that flag's column is read at row
    level, ``metadata/difficult_direct_answer`` or ``difficult_direct_answer``; unclear in the official
    code, which reads it after flattening). The test split has no answers (counted skips)."""

    NAME = "a-okvqa"
    HF_PATH = "allenai/molmo2-a-ok-vqa"
    SPLIT_IS_CONFIG = True
    CONFIGS = ("train", "val", "test")
    SPLITS = {"train": "train", "validation": "val", "test": "test"}
    COLUMNS = {"image": is_string, "message_list": list_of(AOKVQA_MESSAGE)}
    FILES_HOWTO = COCO_2017

    def __init__(self, split: str = "train", direct_answer: bool = False, **kw: Any):
        self.direct_answer = bool(direct_answer)
        super().__init__(split, direct_answer=direct_answer, **kw)

    @staticmethod
    def _difficult(messages: pa.ChunkedArray) -> np.ndarray | None:
        """Per message (flattened over rows): its ``difficult_direct_answer`` flag, if published."""
        flat = pc.list_flatten(messages.combine_chunks())
        if flat.type.get_field_index("difficult_direct_answer") < 0:
            return None
        return pc.fill_null(pc.struct_field(flat, "difficult_direct_answer"), False).to_numpy(
            zero_copy_only=False).astype(bool)

    def build_index(self, table: pa.Table) -> dict[str, np.ndarray]:
        keep = self.files_filter(table)
        messages = table.column("message_list")
        n = pc.fill_null(pc.list_value_length(messages), 0).to_numpy(zero_copy_only=False)
        keep &= _drop(self.skipped, (n > 0) | ~keep, "no questions")
        if self.direct_answer and self.split != "train":
            hard = self._difficult(messages)
            if hard is not None:
                in_kept = np.repeat(keep, n)
                n_hard = int((hard & in_kept).sum())
                if n_hard:
                    self.skipped["difficult direct answer"] += n_hard
                return _flat_index(n, keep, ~hard)
            return _flat_index(n, keep)
        return _identity(keep)

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:
        row = int(rows[0])
        r = self.row_dicts(rows, ["image", "message_list"])[0]
        msgs = r["message_list"]
        if "item" in self.index:
            msgs = [msgs[int(self.index["item"][group])]]
        anns = AnnotationSet()
        for m in msgs:
            q = (m.get("question") or "").strip()
            if self.direct_answer:
                anns.add(VQA, q, [a for a in (m.get("direct_answers") or []) if a is not None], style="a_okvqa_da")
            elif m.get("answer_idx") is None:
                anns.drop("no answer")
            else:
                anns.add(MultipleChoice, q, list(m.get("choices") or []), m["answer_idx"], style="a_okvqa_mc")
        extra = {"example_id": msgs[0].get("question_id")} if len(msgs) == 1 else {}
        meta = Metadata(dataset=self.NAME, split=self.split, rows=(row,), extra=extra)
        return anns.example(meta, images=(self.local_image(r["image"]),))


register_variant("a_okvqa_mc", "a-okvqa", direct_answer=False)
register_variant("a_okvqa_da", "a-okvqa", direct_answer=True)


class MantisInstruct(LocalImageDataset):
    """A Mantis-Instruct subset as Ai2 preprocessed it (``allenai/molmo2-mantis-instruct-<subset>``):
    per row ``images`` (paths), and per question ``mc_question`` / ``oe_question`` / ``direct_answer``
    / ``choices`` / ``correct_choice_idx`` lists. One example per row, its questions one tree;
    multiple choice (style ``mantis_instruct_mc``) with the options shuffled by the example's rng as
    the official does, or ``direct_answer=True`` (``mantis_instruct_da``). ``multi_image_only`` keeps
    rows with more than one image (the official ``*_multi_only`` names)."""

    SUBSET: ClassVar[str] = ""
    SPLITS = {"train": "train"}
    IMAGE_COLUMN = "images"
    COLUMNS = {"images": list_of(is_string), "mc_question": list_of(is_string), "oe_question": list_of(is_string),
               "direct_answer": list_of(is_string), "choices": list_of(is_list), "correct_choice_idx": list_of(is_integer)}

    def __init__(self, split: str = "train", direct_answer: bool = False, multi_image_only: bool = False, **kw: Any):
        self.direct_answer, self.multi_image_only = bool(direct_answer), bool(multi_image_only)
        super().__init__(split, direct_answer=direct_answer, multi_image_only=multi_image_only, **kw)

    def build_index(self, table: pa.Table) -> dict[str, np.ndarray]:
        keep = self.files_filter(table)
        if self.multi_image_only:
            n_img = pc.fill_null(pc.list_value_length(table.column("images")), 0).to_numpy(zero_copy_only=False)
            keep &= _drop(self.skipped, (n_img > 1) | ~keep, "single image (multi_image_only)")
        lens = [pc.fill_null(pc.list_value_length(table.column(c)), -1).to_numpy(zero_copy_only=False)
                for c in ("mc_question", "oe_question", "direct_answer", "choices", "correct_choice_idx")]
        same = np.all([x == lens[0] for x in lens], axis=0) & (lens[0] > 0)
        return _identity(keep & _drop(self.skipped, same | ~keep, "question lists of different lengths"))

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:
        row = int(rows[0])
        cols = ["images", "mc_question", "oe_question", "direct_answer", "choices", "correct_choice_idx",
                "subset", "example_id"]
        r = self.row_dicts(rows, cols)[0]
        anns = AnnotationSet()
        for i in range(len(r["mc_question"])):
            if self.direct_answer:
                anns.add(VQA, (r["oe_question"][i] or "").strip(), r["direct_answer"][i] or "",
                         style="mantis_instruct_da")
                continue
            options, idx = list(r["choices"][i] or []), r["correct_choice_idx"][i]
            if idx is None or not 0 <= idx < len(options):
                anns.drop("answer index out of range")
                continue
            perm = rng.permutation(len(options))
            shuffled = [options[j] for j in perm]
            anns.add(MultipleChoice, (r["mc_question"][i] or "").strip(), shuffled, int(np.argmax(perm == idx)),
                     style="mantis_instruct_mc")
        meta = Metadata(dataset=self.NAME, split=self.split, rows=(row,),
                        extra={"example_id": r.get("example_id"), "subset": r.get("subset")})
        return anns.example(meta, images=tuple(self.local_image(p) for p in r["images"]))


def _mantis(subset: str, splits: dict[str, str]) -> type[MantisInstruct]:
    name = f"mantis-{subset.replace('_', '-')}"
    how = (f"Mantis-Instruct {subset} images: the {subset}/<split>_images.zip files of the Hub repo "
           f"TIGER-Lab/Mantis-Instruct unzipped into media/files/mantis-instruct/{subset}/<split>_images/")
    cls = type(f"Mantis_{subset.replace('-', '_')}", (MantisInstruct,), {
        "NAME": name, "SUBSET": subset, "HF_PATH": f"allenai/molmo2-mantis-instruct-{subset}", "SPLITS": splits,
        "FILES_HOWTO": how, "__doc__": f"Mantis-Instruct {subset} ({MantisInstruct.__name__})."})
    register_dataset(name, aliases=(f"mantis_instruct_{subset}",))(cls)
    register_variant(f"mantis_instruct_{subset}_multi_only", name, multi_image_only=True)
    return cls


MantisLlava665kMulti = _mantis("llava_665k_multi", {"train": "train"})
MantisNlvr2 = _mantis("nlvr2", {"train": "train", "validation": "validation"})
MantisSpotTheDiff = _mantis("spot-the-diff", {"train": "train"})
