"""Sample writers of the multi-image sets and the text-only sets.

Every question's answer is computed from what was drawn (object counts, bar values, table cells), and
the drawing is recorded with ``ctx.record_truth`` so tests can check the answers against the pixels.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from PIL import Image, ImageDraw

from molmo2_data.media.image import encode_jpeg, encode_png
from molmo2_data.sample import sample_writer
from molmo2_data.sample.context import SampleContext
from molmo2_data.sample.draw import COLORS, SHAPES, DrawnObject, font, place_objects, plural, render_scene

SCENE_SIZE = (320, 240)
CHART_SIZE = (288, 216)

# HF ``Image`` feature as stored in Arrow.
HF_IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def with_hf_image_features(schema: pa.Schema, image_list_columns: tuple[str, ...]) -> pa.Schema:
    """Attach the ``huggingface`` features metadata that a published table carries, so
    ``datasets.Dataset.from_file`` decodes these ``list<Image>`` columns as images (as on the Hub)."""
    import datasets

    features = datasets.Features.from_arrow_schema(schema)
    for col in image_list_columns:
        features[col] = datasets.List(datasets.Image())
    return features.arrow_schema


# ---------------------------------------------------------------------------------------------
# Shape scenes shared by the URL-based multi-image sets
# ---------------------------------------------------------------------------------------------


@dataclass
class Scene:
    url: str
    width: int
    height: int
    objects: list[DrawnObject]

    def count(self, label: str) -> int:
        return sum(o.label == label for o in self.objects)

    def labels(self) -> list[str]:
        return sorted({o.label for o in self.objects})

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "size": [self.width, self.height], "objects": [o.to_json() for o in self.objects]}


def _scene_specs(rng: np.random.RandomState) -> list[tuple[str, str]]:
    """2-3 groups of identical objects, 1-5 per group (few enough to place on a small image)."""
    kinds: set[tuple[str, str]] = set()
    n_groups = rng.randint(2, 4)
    while len(kinds) < n_groups:
        kinds.add((SHAPES[rng.randint(len(SHAPES))], list(COLORS)[rng.randint(len(COLORS))]))
    specs: list[tuple[str, str]] = []
    for kind in sorted(kinds):
        specs += [kind] * rng.randint(1, 6)
    return specs


def make_scene_pool(ctx: SampleContext, n: int = 36) -> list[Scene]:
    """Scenes published at URLs, shared by molmo2-multiimageqa and molmo2-multiimagepoint."""
    rng = ctx.rng("multi-image-scenes")
    w, h = SCENE_SIZE
    scenes = []
    for i in range(n):
        objects = place_objects(rng, w, h, _scene_specs(rng), radius=12.0)
        img = render_scene(w, h, objects)
        url = ctx.add_url_file(f"multi-image/{i:04d}.jpg", encode_jpeg(img, quality=92))
        scenes.append(Scene(url, w, h, objects))
    return scenes


def _scene_pool(ctx: SampleContext) -> list[Scene]:
    return ctx.shared("multi-image-scenes", make_scene_pool)


def _label_text(label: str, n: int = 2) -> str:
    color, shape = label.split(" ")
    return f"{color} {plural(shape, n)}"


def _multi_image_qa(rng: np.random.RandomState, scenes: list[Scene]) -> list[dict[str, Any]]:
    """2-3 true questions about a set of scenes; answers are strings, values kept for the truth."""
    all_labels = sorted({lab for s in scenes for lab in s.labels()})
    qas: list[dict[str, Any]] = []
    k = rng.randint(len(scenes))
    lab = scenes[k].labels()[rng.randint(len(scenes[k].labels()))]
    n = scenes[k].count(lab)
    qas.append({"kind": "count_in_image", "image": k, "label": lab, "value": n,
                "question": f"How many {_label_text(lab)} are there in Image {k + 1}?", "answer": str(n)})
    lab = all_labels[rng.randint(len(all_labels))]
    total = sum(s.count(lab) for s in scenes)
    qas.append({"kind": "total", "label": lab, "value": total,
                "question": f"How many {_label_text(lab)} are there in all {len(scenes)} images together?",
                "answer": str(total)})
    counts = [s.count(lab) for s in scenes]
    best = int(np.argmax(counts))
    if counts.count(counts[best]) == 1 and rng.rand() < 0.8:
        qas.append({"kind": "argmax", "label": lab, "value": best,
                    "question": f"Which image shows the most {_label_text(lab)}?",
                    "answer": f"Image {best + 1} has the most {_label_text(lab, counts[best])}, "
                              f"with {counts[best]}."})
    return qas


# Image counts of the MultiImageQA rows: mostly 2-5; one row with 1 and one with 6 images exercise
# the SFT filter (2-5 images).
MIQA_TRAIN_SIZES = [2, 3, 4, 5, 2, 3, 2, 4, 3, 2, 5, 3, 2, 4, 1, 3, 2, 3, 4, 2, 6, 3, 2, 5, 2, 3, 4, 2, 3, 2, 3, 4]


@sample_writer("molmo2-multiimageqa")
def write_multi_image_qa(ctx: SampleContext) -> None:
    rng = ctx.rng("molmo2-multiimageqa")
    pool = _scene_pool(ctx)
    for split, sizes in (("train", MIQA_TRAIN_SIZES), ("validation", [2, 3, 2, 4, 3, 2])):
        urls_col, qa_col = [], []
        for i, n in enumerate(sizes):
            idx = rng.choice(len(pool), size=n, replace=False)
            scenes = [pool[j] for j in idx]
            qas = _multi_image_qa(rng, scenes)
            urls_col.append([s.url for s in scenes])
            qa_col.append({"question": [q["question"] for q in qas], "answer": [q["answer"] for q in qas]})
            ctx.record_truth("molmo2-multiimageqa", f"{split}/{i}",
                             {"scenes": [s.to_json() for s in scenes], "qa": qas})
        schema = pa.schema([("image_urls", pa.list_(pa.string())),
                            ("qa_pairs", pa.struct([("question", pa.list_(pa.string())),
                                                    ("answer", pa.list_(pa.string()))]))])
        ctx.write_table("molmo2-multiimageqa", split, pa.table({"image_urls": urls_col, "qa_pairs": qa_col},
                                                               schema=schema))


# ---------------------------------------------------------------------------------------------
# Molmo2-MultiImagePoint
# ---------------------------------------------------------------------------------------------


def _to_percent(obj: DrawnObject, w: int, h: int) -> dict[str, float]:
    return {"x": obj.center[0] / w * 100.0, "y": obj.center[1] / h * 100.0}


@sample_writer("molmo2-multiimagepoint")
def write_multi_image_point(ctx: SampleContext, n_rows: int = 30) -> None:
    """One row per (image set, label): per image, the label's points (percent), count, label and
    collection method, as parallel lists (see the reader's docstring)."""
    rng = ctx.rng("molmo2-multiimagepoint")
    pool = _scene_pool(ctx)
    cols: dict[str, list] = {k: [] for k in ("image_urls", "image_sha256s", "points", "counts", "labels",
                                             "collection_method")}
    for i in range(n_rows):
        n = int(rng.randint(2, 5))
        scenes = [pool[j] for j in rng.choice(len(pool), size=n, replace=False)]
        labels = sorted({lab for s in scenes for lab in s.labels()})
        lab = labels[rng.randint(len(labels))]
        points = [[_to_percent(o, s.width, s.height) for o in s.objects if o.label == lab] for s in scenes]
        method = "counting" if rng.rand() < 0.3 else "pointing"
        cols["image_urls"].append([s.url for s in scenes])
        cols["image_sha256s"].append([hashlib.sha256(s.url.encode("utf-8")).hexdigest() for s in scenes])
        cols["points"].append(points)
        cols["counts"].append([len(p) for p in points])
        cols["labels"].append([_label_text(lab)] * n)
        cols["collection_method"].append([method] * n)
        ctx.record_truth("molmo2-multiimagepoint", f"train/{i}",
                         {"label": lab, "color": lab.split(" ")[0], "scenes": [s.to_json() for s in scenes],
                          "counts": [s.count(lab) for s in scenes]})
    point = pa.struct([("x", pa.float32()), ("y", pa.float32())])
    schema = pa.schema([("image_urls", pa.list_(pa.string())), ("image_sha256s", pa.list_(pa.string())),
                        ("points", pa.list_(pa.list_(point))), ("counts", pa.list_(pa.int64())),
                        ("labels", pa.list_(pa.string())), ("collection_method", pa.list_(pa.string()))])
    ctx.write_table("molmo2-multiimagepoint", "train", pa.table(cols, schema=schema))


# ---------------------------------------------------------------------------------------------
# Molmo2-SynMultiImageQA: rendered charts, tables and shape diagrams with true QA
# ---------------------------------------------------------------------------------------------

CATEGORIES = ("apples", "pears", "plums", "figs", "kiwis", "limes")
CHART_MAX = 20  # y axis of every bar chart runs 0..CHART_MAX
SYN_CONFIGS = {"chart": "bars", "chemical": "shapes", "circuit": "shapes", "diagram": "shapes", "doc": "table",
               "graphic": "shapes", "music": "bars", "table": "table"}


def render_bar_chart(title: str, cats: list[str], values: list[int], color: str) -> tuple[Image.Image, dict]:
    """A bar chart whose bar heights are exactly ``value * px_per_unit`` pixels."""
    w, h = CHART_SIZE
    left, right, top, bottom = 36, 12, 28, 30
    plot_h = h - top - bottom
    ppu = plot_h / CHART_MAX
    img = Image.new("RGB", (w, h), (255, 255, 255))
    d = ImageDraw.Draw(img)
    d.text((left, 6), title, fill=(0, 0, 0), font=font(13))
    base = h - bottom
    d.line([(left, top), (left, base), (w - right, base)], fill=(0, 0, 0), width=1)
    for v in range(0, CHART_MAX + 1, 5):
        y = base - v * ppu
        d.text((4, y - 6), str(v), fill=(0, 0, 0), font=font(10))
    slot = (w - left - right) / len(cats)
    bars = []
    for j, (cat, val) in enumerate(zip(cats, values, strict=True)):
        x0 = round(left + j * slot + slot * 0.2)
        x1 = round(left + (j + 1) * slot - slot * 0.2)
        y0 = round(base - val * ppu)
        if val > 0:
            d.rectangle([x0, y0, x1, base - 1], fill=COLORS[color])
        d.text((x0, base + 6), cat, fill=(0, 0, 0), font=font(10))
        bars.append({"category": cat, "value": val, "box": [x0, y0, x1, base - 1]})
    return img, {"kind": "bars", "title": title, "color": color, "rgb": COLORS[color], "px_per_unit": ppu,
                 "baseline": base - 1, "bars": bars}


def render_table(title: str, cats: list[str], values: list[int]) -> tuple[Image.Image, dict]:
    """A two-column table (item, count) with ruled cells; every cell text is recorded with its place
    so a test can check it with :func:`text_drawn`."""
    w, h = CHART_SIZE
    img = Image.new("RGB", (w, h), (255, 255, 255))
    d = ImageDraw.Draw(img)
    d.text((16, 8), title, fill=(0, 0, 0), font=font(13))
    row_h, x0, x1, xm, y = 26, 16, w - 16, w // 2, 32
    rows = [("Item", "Count")] + [(c, str(v)) for c, v in zip(cats, values, strict=True)]
    texts = []
    for r, (a, b) in enumerate(rows):
        fill = (220, 220, 235) if r == 0 else (255, 255, 255)
        d.rectangle([x0, y, x1, y + row_h], fill=fill, outline=(0, 0, 0))
        d.line([(xm, y), (xm, y + row_h)], fill=(0, 0, 0))
        for text, tx in ((a, x0 + 8), (b, xm + 8)):
            item = {"text": text, "xy": [tx, y + 6], "size": 12, "background": list(fill)}
            d.text(tuple(item["xy"]), text, fill=(0, 0, 0), font=font(12))
            texts.append(item)
        y += row_h
    return img, {"kind": "table", "title": title, "cells": [[c, v] for c, v in zip(cats, values, strict=True)],
                 "texts": texts}


def text_drawn(pixels: np.ndarray, item: dict) -> bool:
    """Does ``pixels`` (H, W, 3) show ``item["text"]`` in black at ``item["xy"]``? Re-draws the text on
    the recorded background and compares its box exactly (lossless PNG, same font and renderer)."""
    f = font(item["size"])
    bx0, by0, bx1, by1 = f.getbbox(item["text"])
    x, y = item["xy"]
    box = (x + bx0, y + by0, x + bx1, y + by1)
    canvas = Image.new("RGB", (pixels.shape[1], pixels.shape[0]), tuple(item["background"]))
    ImageDraw.Draw(canvas).text((x, y), item["text"], fill=(0, 0, 0), font=f)
    ref = np.asarray(canvas)[box[1]:box[3], box[0]:box[2]]
    got = pixels[box[1]:box[3], box[0]:box[2]]
    return ref.size > 0 and ref.shape == got.shape and bool(np.array_equal(ref, got))


def render_shapes(rng: np.random.RandomState, title: str) -> tuple[Image.Image, dict]:
    w, h = CHART_SIZE
    objects = place_objects(rng, w, h - 24, _scene_specs(rng), radius=11.0)
    objects = [DrawnObject(o.shape, o.color, (o.center[0], o.center[1] + 24), o.radius) for o in objects]
    img = render_scene(w, h, objects, background=(255, 255, 255))
    ImageDraw.Draw(img).text((8, 4), title, fill=(0, 0, 0), font=font(13))
    return img, {"kind": "shapes", "title": title, "objects": [o.to_json() for o in objects]}


def _tabular_qa(rng: np.random.RandomState, infos: list[dict], what: str) -> list[dict[str, Any]]:
    """True QA over charts/tables that all list the same categories (one value per category)."""
    def value(info: dict, cat: str) -> int:
        rows = info["bars"] if info["kind"] == "bars" else [{"category": c, "value": v} for c, v in info["cells"]]
        return next(r["value"] for r in rows if r["category"] == cat)

    cats = [b["category"] for b in infos[0]["bars"]] if infos[0]["kind"] == "bars" else [c for c, _ in infos[0]["cells"]]
    titles = [i["title"] for i in infos]
    qas = []
    cat = cats[rng.randint(len(cats))]
    vals = [value(i, cat) for i in infos]
    total = sum(vals)
    qas.append({"question": f"What is the total number of {cat} over all {len(infos)} {what}?",
                "explanation": "; ".join(f"{t}: {v}" for t, v in zip(titles, vals, strict=True))
                               + f". Adding these gives {total}.",
                "answer": str(total), "value": total, "kind": "total", "category": cat})
    a, b = rng.choice(len(infos), size=2, replace=False)
    cat = cats[rng.randint(len(cats))]
    va, vb = value(infos[a], cat), value(infos[b], cat)
    if va < vb:
        a, b, va, vb = b, a, vb, va
    diff = va - vb
    qas.append({"question": f"How many more {cat} are there in {titles[a]} than in {titles[b]}?",
                "explanation": f"{titles[a]} shows {va} {cat} and {titles[b]} shows {vb}; {va} - {vb} = {diff}.",
                "answer": str(diff), "value": diff, "kind": "difference", "category": cat,
                "images": [int(a), int(b)]})
    vals = [value(i, cat) for i in infos]
    best = int(np.argmax(vals))
    if vals.count(vals[best]) == 1:
        qas.append({"question": f"Which of the {what} has the most {cat}?",
                    "explanation": f"The values are {', '.join(map(str, vals))}; the largest is {vals[best]}.",
                    "answer": titles[best], "value": best, "kind": "argmax", "category": cat})
    return qas


def _shapes_qa(rng: np.random.RandomState, infos: list[dict]) -> list[dict[str, Any]]:
    labels = sorted({f"{o['color']} {o['shape']}" for i in infos for o in i["objects"]})
    lab = labels[rng.randint(len(labels))]
    counts = [sum(f"{o['color']} {o['shape']}" == lab for o in i["objects"]) for i in infos]
    total = sum(counts)
    qas = [{"question": f"How many {_label_text(lab)} are there in all the figures together?",
            "explanation": "; ".join(f"{i['title']} has {c}" for i, c in zip(infos, counts, strict=True))
                           + f", {total} in total.",
            "answer": str(total), "value": total, "kind": "total_objects", "label": lab}]
    k = rng.randint(len(infos))
    n_obj = len(infos[k]["objects"])
    qas.append({"question": f"How many shapes are drawn in {infos[k]['title']}?",
                "explanation": f"Counting every shape in {infos[k]['title']} gives {n_obj}.",
                "answer": str(n_obj), "value": n_obj, "kind": "objects_in_image", "image": k})
    return qas


def _syn_row(rng: np.random.RandomState, kind: str, n_images: int) -> tuple[list[bytes], list[dict], list[dict]]:
    years = sorted(rng.choice(np.arange(2010, 2025), size=n_images, replace=False).tolist())
    images, infos = [], []
    if kind == "shapes":
        for k in range(n_images):
            img, info = render_shapes(rng, f"Figure {k + 1}")
            images.append(encode_png(img))
            infos.append(info)
        return images, infos, _shapes_qa(rng, infos)
    cats = sorted(rng.choice(CATEGORIES, size=rng.randint(3, 5), replace=False).tolist())
    color = list(COLORS)[rng.randint(len(COLORS))]
    for y in years:
        values = rng.randint(1, CHART_MAX + 1, size=len(cats)).tolist()
        if kind == "bars":
            img, info = render_bar_chart(f"Fruit sold in {y}", cats, values, color)
        else:
            img, info = render_table(f"Stock list {y}", cats, values)
        images.append(encode_png(img))
        infos.append(info)
    return images, infos, _tabular_qa(rng, infos, "charts" if kind == "bars" else "tables")


@sample_writer("molmo2-synmultiimageqa")
def write_syn_multi_image_qa(ctx: SampleContext, rows_per_config: int = 4) -> None:
    """Every config gets a few rows; the chart config also gets one 6-image row, which the reader's
    ``metadata.num_images > 5`` filter must drop."""
    rng = ctx.rng("molmo2-synmultiimageqa")
    qa_type = pa.struct([(k, pa.list_(pa.string())) for k in ("question", "explanation", "answer")])
    meta_type = pa.struct([("num_images", pa.int64()), ("overall_description", pa.string())])
    schema = with_hf_image_features(pa.schema([("id", pa.string()), ("images", pa.list_(HF_IMAGE)),
                                               ("qa_pairs", qa_type), ("metadata", meta_type)]), ("images",))
    for config, kind in SYN_CONFIGS.items():
        sizes = [int(rng.randint(2, 4)) for _ in range(rows_per_config)] + ([6] if config == "chart" else [])
        cols: dict[str, list] = {"id": [], "images": [], "qa_pairs": [], "metadata": []}
        for i, n in enumerate(sizes):
            images, infos, qas = _syn_row(rng, kind, n)
            row_id = f"{config}_{i:05d}"
            cols["id"].append(row_id)
            cols["images"].append([{"bytes": b, "path": f"{row_id}_{k}.png"} for k, b in enumerate(images)])
            cols["qa_pairs"].append({k: [q[k] for q in qas] for k in ("question", "explanation", "answer")})
            cols["metadata"].append({"num_images": n, "overall_description":
                                     f"{n} synthetic {config} images: " + ", ".join(i["title"] for i in infos)})
            ctx.record_truth("molmo2-synmultiimageqa", row_id, {"config": config, "images": infos, "qa": qas})
        ctx.write_table("molmo2-synmultiimageqa", "train", pa.table(cols, schema=schema), config=config)


# ---------------------------------------------------------------------------------------------
# Text-only instruction data (molmo2-tulu4-classified) and hardcodes
# ---------------------------------------------------------------------------------------------


def _arith_chat(rng: np.random.RandomState, turns: int) -> tuple[list[dict[str, str]], list[list[int]]]:
    msgs, facts = [], []
    for _ in range(turns):
        a, b = int(rng.randint(2, 90)), int(rng.randint(2, 90))
        msgs.append({"role": "user", "content": f"What is {a} plus {b}?"})
        msgs.append({"role": "assistant", "content": f"{a} plus {b} is {a + b}."})
        facts.append([a, b, a + b])
    return msgs, facts


def _approx_tokens(text: str) -> int:
    """Rough Qwen3 token count (~4 characters a token); the real tokenizer is not needed offline."""
    return max(1, round(len(text) / 4))


def _tulu_rows(rng: np.random.RandomState) -> list[dict[str, Any]]:
    """Valid chats plus one row for every filter rule and every malformed shape the reader handles."""
    rows: list[dict[str, Any]] = []

    def add(msgs: list[dict[str, str]], expect: str, source: str = "ai2-adapt-dev/sample_chat",
            category: str = "general", tokens: int | None = None, empty: bool = False, special: bool = False,
            facts: list | None = None) -> None:
        first = msgs[0]["content"] if msgs else ""
        rows.append({"id": f"tulu_{len(rows):04d}", "source": source, "messages": msgs, "category": category,
                     "first_message_qwen3_tokens": tokens if tokens is not None else _approx_tokens(first),
                     "empty_messages": empty, "has_special_token": special, "_expect": expect,
                     "_facts": facts or []})

    for i in range(26):
        msgs, facts = _arith_chat(rng, 1 + i % 3)
        if i % 5 == 0:
            msgs = [{"role": "system", "content": "You are a careful calculator."}] + msgs
        add(msgs, "keep", facts=facts)
    long_q = "Please add these numbers carefully. " * 330  # ~12k characters
    msgs, facts = _arith_chat(rng, 1)
    add([{"role": "user", "content": long_q + msgs[0]["content"]}, msgs[1]], "keep_4096_only",
        tokens=_approx_tokens(long_q + msgs[0]["content"]), facts=facts)
    msgs, _ = _arith_chat(rng, 1)
    add([{"role": "user", "content": long_q * 2}, msgs[1]], "too_long", tokens=_approx_tokens(long_q * 2))
    add(_arith_chat(rng, 1)[0], "code", category="code")
    add(_arith_chat(rng, 1)[0], "non-english", category="non-english")
    add(_arith_chat(rng, 1)[0], "hardcoded source", source="allenai/hardcoded-olmo")
    add(_arith_chat(rng, 1)[0], "hardcoded source", source="allenai/dino-hardcodes")
    add(_arith_chat(rng, 1)[0], "puzzle source", source="allenai/puzzle_data_160k-ngram-filtered")
    add(_arith_chat(rng, 1)[0], "reasoning source",
        source="allenai/verifiable-reasoning-filtered-o4-mini-filtered")
    add([{"role": "user", "content": ""}, {"role": "assistant", "content": "Hello."}], "empty", empty=True)
    add(_arith_chat(rng, 1)[0], "special token", special=True)
    msgs, _ = _arith_chat(rng, 1)
    add(msgs[::-1], "malformed")  # assistant first
    add([msgs[0], msgs[0], msgs[1]], "malformed")  # user twice
    add([msgs[0]], "malformed")  # nothing to learn from
    add([{"role": "system", "content": "Be brief."}, msgs[1], msgs[0]], "malformed")  # system then assistant
    add([{"role": "system", "content": "Line one.\nLine two."}] + msgs, "malformed")  # newline in system
    return rows


@sample_writer("molmo2-tulu4")
def write_tulu4(ctx: SampleContext) -> None:
    rng = ctx.rng("molmo2-tulu4")
    rows = _tulu_rows(rng)
    perm = rng.permutation(len(rows))
    rows = [rows[i] for i in perm]
    for r in rows:
        ctx.record_truth("molmo2-tulu4", r["id"], {"expect": r["_expect"], "facts": r["_facts"],
                                                   "messages": r["messages"]})
    msg = pa.struct([("role", pa.string()), ("content", pa.string())])
    schema = pa.schema([("id", pa.string()), ("source", pa.string()), ("messages", pa.list_(msg)),
                        ("category", pa.string()), ("first_message_qwen3_tokens", pa.int64()),
                        ("empty_messages", pa.bool_()), ("has_special_token", pa.bool_())])
    cols = {f.name: [r[f.name] for r in rows] for f in schema}
    ctx.write_table("molmo2-tulu4", "train", pa.table(cols, schema=schema))


HARDCODE_QA = [
    (["What is your name?", "Who are you?", "Tell me your name."],
     "I am Molmo, an open vision-language model built by Ai2."),
    (["Who made you?", "Who built you?"], "I was built by Ai2, the Allen Institute for AI."),
    (["Are you open source?", "Are your weights public?"],
     "Yes. My weights, training data and code are openly released by Ai2."),
    (["What can you do?", "What are you able to help with?"],
     "I can describe images and videos, answer questions about them, count and point to things."),
    (["Can you see images?"], "Yes, I can read images, several images at once, and videos."),
    (["Can you point at things?", "Can you show me where something is?"],
     "Yes, I can point to objects in images and videos and count them."),
    (["Are you ChatGPT?", "Are you made by OpenAI?"], "No, I am Molmo, a model built by Ai2."),
    (["Which company trained you?"], "Ai2 trained me."),
    (["Do you have a name?", "What should I call you?"], "You can call me Molmo."),
    (["What data were you trained on?"],
     "I was trained on openly released data, including the PixMo and Molmo2 datasets."),
    (["Can you track objects in a video?"], "Yes, I can track objects across the frames of a video."),
    (["What does Molmo stand for?"], "Molmo stands for Multimodal Open Language Model."),
    (["Is Molmo free to use?", "What license do you have?"],
     "Molmo is released openly; check the model card for the exact license."),
    (["Describe yourself.", "Introduce yourself."],
     "I am Molmo, a multimodal open language model from Ai2."),
    (["Can you read text in pictures?"], "Yes, I can read text that appears in images."),
]


@sample_writer("molmo2-hardcodes")
def write_hardcodes(ctx: SampleContext) -> None:
    """15 rows like the published set; two rows carry their own images (a scene with a caption)."""
    rng = ctx.rng("molmo2-hardcodes")
    cols: dict[str, list] = {"questions": [], "response": [], "images": []}
    own_images = {4: 1, 9: 2}  # row -> number of attached images
    for i, (questions, response) in enumerate(HARDCODE_QA):
        images = []
        for k in range(own_images.get(i, 0)):
            w, h = 224, 168
            objects = place_objects(rng, w, h, [("circle", "blue"), ("square", "orange")], radius=14.0)
            img = render_scene(w, h, objects)
            images.append({"bytes": encode_png(img), "path": f"hardcode_{i}_{k}.png"})
            ctx.record_truth("molmo2-hardcodes", f"image/{i}/{k}", {"objects": [o.to_json() for o in objects]})
        cols["questions"].append(questions)
        cols["response"].append(response)
        cols["images"].append(images)
    schema = with_hf_image_features(pa.schema([("questions", pa.list_(pa.string())), ("response", pa.string()),
                                               ("images", pa.list_(HF_IMAGE))]), ("images",))
    ctx.write_table("molmo2-hardcodes", "train", pa.table(cols, schema=schema))
