"""Sample copies of the hand-fetched Robust Reading sets, written as the user would put them:
the challenge JSON files and PNG pictures in ``manual/<name>/``, then imported by the same code
``download`` runs. Infographics are rendered bar charts and invoices; scene text a word on a sign."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image, ImageDraw

from molmo2_data import paths
from molmo2_data.datasets import dataset_class
from molmo2_data.download.manual import import_manual
from molmo2_data.media.image import encode_png
from molmo2_data.sample import atomic, sample_writer
from molmo2_data.sample.academic_ai2_sets import WORDS
from molmo2_data.sample.context import SampleContext
from molmo2_data.sample.draw import BACKGROUNDS, TextItem, draw_text, render_bar_chart, render_document
from molmo2_data.sample.image_sets import _chart_qa, _document_qa


def _import(ctx: SampleContext, name: str) -> None:
    cls = dataset_class(name)
    pairs = [("default", s) for s in cls.MANUAL.files]
    import_manual(name, cls, pairs, ctx.root, log=lambda _s: None, refresh=True)


@sample_writer("info-qa")
def write_info_qa(ctx: SampleContext) -> None:
    """infographicsVQA_*.json + images/: each picture a rendered chart or invoice, each question's answer
    the value printed on it; the test file has no answers, as published."""
    rng = ctx.rng("info-qa")
    base = paths.manual_dir("info-qa", ctx.root)
    qid = 0
    for split, n_pics in (("train", 8), ("validation", 4), ("test", 2)):
        data = []
        for p in range(n_pics):
            img, truth = (render_bar_chart if p % 2 == 0 else render_document)(rng)
            qas = (_chart_qa if p % 2 == 0 else _document_qa)(truth)
            name = f"{split}_{p:04d}.png"
            atomic.write_bytes(base / "images" / name, encode_png(img))
            for q, a in qas[:3]:
                qid += 1
                row = {"questionId": qid, "question": q, "image_local_name": name,
                       "image_url": f"https://example.org/{name}", "ocr_output_file": f"{name}.json"}
                if split != "test":
                    row["answers"] = [a]
                data.append(row)
                ctx.record_truth("info-qa", qid, {"image": name, "question": q, "answer": a, "truth": truth})
        file = dataset_class("info-qa").MANUAL.files[split]
        atomic.write_bytes(base / file, json.dumps({"dataset_name": "infographicsVQA", "dataset_split": split,
                                      "dataset_version": "1.0", "data": data}).encode())
    _import(ctx, "info-qa")


SIGN = (300, 200)


def _sign(rng: np.random.RandomState, word: str) -> tuple[Image.Image, dict]:
    """A coloured scene with a white sign carrying ``word``."""
    img = Image.new("RGB", SIGN, BACKGROUNDS[rng.randint(len(BACKGROUNDS))])
    d = ImageDraw.Draw(img)
    x, y = int(rng.randint(10, 160)), int(rng.randint(10, 140))
    d.rectangle((x - 6, y - 6, x + 110, y + 32), fill=(255, 255, 255), outline=(40, 40, 40))
    item = TextItem(word, (x, y), 20)
    draw_text(d, item)
    return img, item.to_json()


ST_QUESTIONS = ("What is written on the sign?", "What word does the sign show?", "What does the sign say?")


@sample_writer("st-qa")
def write_st_qa(ctx: SampleContext) -> None:
    """train_task_3.json / test_task_3.json + pictures: a word on a sign. The train file holds more than
    the 1,024 questions the official validation hold-out takes, so both splits have examples (the
    questions reuse 40 pictures)."""
    rng = ctx.rng("st-qa")
    base = paths.manual_dir("st-qa", ctx.root)
    pictures = []
    for p in range(40):
        word = WORDS[p % len(WORDS)]
        img, item = _sign(rng, word)
        rel = f"coco-text/st_{p:04d}.png"
        atomic.write_bytes(base / rel, encode_png(img))
        pictures.append((rel, word, item))
    for split, n in (("train", 1024 + 40), ("test", 12)):
        data = []
        ids = rng.permutation(np.arange(100000, 100000 + n)) if split == "train" else np.arange(900000, 900000 + n)
        for k in range(n):
            rel, word, item = pictures[k % len(pictures)]
            q = ST_QUESTIONS[k % len(ST_QUESTIONS)]
            row = {"question_id": int(ids[k]), "question": q, "file_path": rel, "dataset": "coco-text",
                   "file_name": rel.split("/")[-1]}
            if split == "train":
                row["answers"] = [word, word.lower()]
                ctx.record_truth("st-qa", int(ids[k]), {"image": rel, "answer": word, "text": item})
            data.append(row)
        atomic.write_bytes(base / dataset_class("st-qa").MANUAL.files[split],
             json.dumps({"dataset_name": "ST-VQA", "task": 3, "data": data}).encode())
    _import(ctx, "st-qa")
