"""Sample tables of the Ai2-mirror academic sets (VQA v2, TextVQA, TallyQA, OK-VQA, A-OKVQA,
Mantis-Instruct) in the columns the official loaders read, with JPEG images at their relative paths
under ``media/files`` and answers true for the pictures (counts and colours of drawn shapes, words
painted on a sign)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
from PIL import ImageDraw

from molmo2_data import paths
from molmo2_data.media.image import encode_jpeg
from molmo2_data.sample import atomic, sample_writer
from molmo2_data.sample.context import SampleContext
from molmo2_data.sample.draw import COLORS, TextItem, draw_text, plural, random_scene

WORDS = ("STOP", "EXIT", "OPEN", "SALE", "CAFE", "TAXI", "HOTEL", "BANK", "PARK", "MUSEUM")
SIDE = (192, 144)


def _put_file(root: Path, rel: str, data: bytes) -> None:
    atomic.write_bytes(paths.files_dir(root) / rel, data)


def _scene(ctx: SampleContext, rng: np.random.RandomState, rel: str) -> list:
    img, objects = random_scene(rng, *SIDE, n_min=1, n_max=4, radius=10.0)
    _put_file(ctx.root, rel, encode_jpeg(img, quality=95))
    return objects


def _scene_qas(objects: list) -> list[tuple[str, str, dict]]:
    """(question, answer, truth) pairs true for the scene: counts per shape, colour of unique shapes."""
    by_shape = Counter(o.shape for o in objects)
    out = []
    for shape in sorted(by_shape):
        out.append((f"How many {plural(shape, 2)} are there?", str(by_shape[shape]),
                    {"shape": shape, "objects": [o.to_json() for o in objects if o.shape == shape]}))
        if by_shape[shape] == 1:
            o = next(o for o in objects if o.shape == shape)
            out.append((f"What color is the {shape}?", o.color, {"shape": shape, "center": list(o.center)}))
    return out


def _annotators(answer: str, rng: np.random.RandomState) -> list[str]:
    """Ten annotator answers: the truth from most, two stray ones (the VQA score needs the list)."""
    stray = [answer.upper(), "not sure"] if rng.rand() < 0.5 else ["unknown", answer]
    return [answer] * 8 + stray


def _message_list_table(rows: list[dict], message_type: pa.DataType) -> pa.Table:
    cols = {"image": pa.array([r["image"] for r in rows], pa.string()),
            "message_list": pa.array([r["message_list"] for r in rows], pa.list_(message_type))}
    for key in sorted({k for r in rows for k in r if k.startswith("metadata/")}):
        cols[key] = pa.array([r.get(key) for r in rows])
    return pa.table(cols)


VQA_MESSAGE = pa.struct([("question", pa.string()), ("answers", pa.list_(pa.string())), ("question_id", pa.int64())])


def _vqa_like(ctx: SampleContext, name: str, style: str, prefix: str, splits: dict[str, int], text: bool = False,
              tally: bool = False) -> None:
    rng = ctx.rng(name)
    qid = 0
    for split, n in splits.items():
        rows = []
        for i in range(n):
            rel = f"{prefix}/{split}/{name}_{split}_{i:05d}.jpg"
            objects = _scene(ctx, rng, rel)
            qas = _scene_qas(objects)
            if tally:
                qas = [q for q in qas if q[0].startswith("How many")]
            if text:
                from PIL import Image
                path = paths.files_dir(ctx.root) / rel
                img = Image.open(path).convert("RGB")
                word = WORDS[rng.randint(len(WORDS))]
                item = TextItem(word, (8, SIDE[1] - 24), 16)
                d = ImageDraw.Draw(img)
                x0, y0 = item.xy
                d.rectangle((x0 - 2, y0 - 2, x0 + 70, y0 + 20), fill=item.background)
                draw_text(d, item)
                _put_file(ctx.root, rel, encode_jpeg(img, quality=95))
                qas = [("What word is written on the sign?", word, {"text": item.to_json()})]
            msgs = []
            for q, a, t in qas:
                qid += 1
                msgs.append({"question": q, "answers": [a] if tally else _annotators(a, rng), "question_id": qid})
                ctx.record_truth(name, qid, {"image": rel, "question": q, "answer": a, **t})
            rows.append({"image": rel, "message_list": msgs, "metadata/image_id": i})
        ctx.write_table(name, "train", _message_list_table(rows, VQA_MESSAGE), config=split)


@sample_writer("vqa-v2")
def write_vqa2(ctx: SampleContext) -> None:
    """allenai/molmo2-vqa2-2014 layout: config per split; COCO-like paths under images/coco."""
    _vqa_like(ctx, "vqa-v2", "vqa2", "images/coco", {"train": 20, "validation": 6, "test": 3})


@sample_writer("text-vqa")
def write_text_vqa(ctx: SampleContext) -> None:
    _vqa_like(ctx, "text-vqa", "text_vqa", "text_vqa", {"train": 20, "validation": 6, "test": 3}, text=True)


@sample_writer("tally-qa")
def write_tally_qa(ctx: SampleContext) -> None:
    _vqa_like(ctx, "tally-qa", "tally_qa", "images/vg", {"train": 20, "test": 6}, tally=True)


OKVQA_QA = pa.struct([("question", pa.string()), ("question_id", pa.int64()),
                      ("answers", pa.list_(pa.struct([("raw_answer", pa.string()), ("answer_confidence", pa.string())])))])


@sample_writer("ok-vqa")
def write_okvqa(ctx: SampleContext) -> None:
    """allenai/molmo2-okvqa layout: per image ``qas`` with raw annotator answers; configs train / val."""
    rng = ctx.rng("ok-vqa")
    qid = 0
    for split, n in (("train", 12), ("val", 4)):
        images, ids, qas_col = [], [], []
        for i in range(n):
            rel = f"images/coco/{split}2014/okvqa_{split}_{i:05d}.jpg"
            qas = []
            for q, a, t in _scene_qas(_scene(ctx, rng, rel)):
                qid += 1
                qas.append({"question": q, "question_id": qid,
                            "answers": [{"raw_answer": x, "answer_confidence": "yes"} for x in _annotators(a, rng)]})
                ctx.record_truth("ok-vqa", qid, {"image": rel, "question": q, "answer": a, **t})
            images.append(rel)
            ids.append(i)
            qas_col.append(qas)
        table = pa.table({"image": pa.array(images, pa.string()), "image_id": pa.array(ids, pa.int64()),
                          "qas": pa.array(qas_col, pa.list_(OKVQA_QA))})
        ctx.write_table("ok-vqa", "train", table, config=split)


AOKVQA_MESSAGE = pa.struct([("question", pa.string()), ("question_id", pa.string()), ("choices", pa.list_(pa.string())),
                            ("answer_idx", pa.int64()), ("direct_answers", pa.list_(pa.string())),
                            ("difficult_direct_answer", pa.bool_())])


@sample_writer("a-okvqa")
def write_aokvqa(ctx: SampleContext) -> None:
    """allenai/molmo2-a-ok-vqa layout: colour questions with four choices and ten direct answers; one
    validation question in four is flagged difficult (left out of the direct-answer evaluation)."""
    rng = ctx.rng("a-okvqa")
    k = 0
    for split, n in (("train", 20), ("val", 8), ("test", 2)):
        rows = []
        for i in range(n):
            rel = f"images/coco/{split}2017/aokvqa_{split}_{i:05d}.jpg"
            msgs = []
            for q, a, t in _scene_qas(_scene(ctx, rng, rel)):
                k += 1
                pool = list(COLORS) if a in COLORS else [str(x) for x in range(1, 9)]
                others = [c for c in pool if c != a]
                choices = [a, *(str(c) for c in rng.choice(others, 3, replace=False))]
                perm = rng.permutation(4)
                choices = [choices[j] for j in perm]
                qid = f"aok{k:05d}"
                msgs.append({"question": q, "question_id": qid, "choices": choices,
                             "answer_idx": None if split == "test" else int(np.argmax(perm == 0)),
                             "direct_answers": [] if split == "test" else _annotators(a, rng),
                             "difficult_direct_answer": split == "val" and k % 4 == 0})
                ctx.record_truth("a-okvqa", qid, {"image": rel, "question": q, "answer": a, "choices": choices, **t})
            rows.append({"image": rel, "message_list": msgs})
        ctx.write_table("a-okvqa", "train", _message_list_table(rows, AOKVQA_MESSAGE), config=split)


@sample_writer("mantis-nlvr2")
def write_mantis_nlvr2(ctx: SampleContext) -> None:
    _mantis(ctx, "nlvr2", {"train": 20, "validation": 4})


@sample_writer("mantis-llava-665k-multi")
def write_mantis_llava(ctx: SampleContext) -> None:
    _mantis(ctx, "llava_665k_multi", {"train": 20})


@sample_writer("mantis-spot-the-diff")
def write_mantis_spot(ctx: SampleContext) -> None:
    _mantis(ctx, "spot-the-diff", {"train": 20})


def _mantis(ctx: SampleContext, subset: str, splits: dict[str, int]) -> None:
    """allenai/molmo2-mantis-instruct-<subset> layout: two images per row (one row in five has one, as
    the single-image rows the ``*_multi_only`` names filter out), a question comparing shape counts."""
    name = f"mantis-{subset.replace('_', '-')}"
    rng = ctx.rng(name)
    for split, n in splits.items():
        cols: dict[str, list] = {k: [] for k in ("subset", "example_id", "images", "mc_question", "oe_question",
                                                 "direct_answer", "choices", "correct_choice_idx")}
        for i in range(n):
            n_img = 1 if i % 5 == 4 else 2
            rels = [f"mantis-instruct/{subset}/{split}_images/{subset}_{split}_{i:04d}_{j}.jpg" for j in range(n_img)]
            counts = [len(_scene(ctx, rng, rel)) for rel in rels]
            if n_img == 1:
                q, a = "How many objects are in the image?", str(counts[0])
                choices = [a, str(counts[0] + 1), str(max(counts[0] - 1, 0) + 10)]
            else:
                q = "Which image shows more objects?"
                a = "Image 1" if counts[0] > counts[1] else "Image 2" if counts[1] > counts[0] else "Neither"
                choices = ["Image 1", "Image 2", "Neither"]
            ex_id = f"{subset}-{split}-{i:04d}"
            for key, value in (("subset", subset), ("example_id", ex_id), ("images", rels), ("mc_question", [q]),
                               ("oe_question", [q]), ("direct_answer", [a]), ("choices", [choices]),
                               ("correct_choice_idx", [choices.index(a)])):
                cols[key].append(value)
            ctx.record_truth(name, ex_id, {"images": rels, "counts": counts, "question": q, "answer": a})
        table = pa.table({"subset": pa.array(cols["subset"], pa.string()),
                          "example_id": pa.array(cols["example_id"], pa.string()),
                          "images": pa.array(cols["images"], pa.list_(pa.string())),
                          **{k: pa.array(cols[k], pa.list_(pa.string())) for k in ("mc_question", "oe_question",
                                                                                 "direct_answer")},
                          "choices": pa.array(cols["choices"], pa.list_(pa.list_(pa.string()))),
                          "correct_choice_idx": pa.array(cols["correct_choice_idx"], pa.list_(pa.int64()))})
        ctx.write_table(name, split, table)


