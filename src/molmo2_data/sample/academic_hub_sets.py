"""Sample tables of allenai/CoSyn-400K and MMMU/MMMU in their published schemas (issue 13), with answers
true for their rendered images. The ground truth records, per row, what was drawn and the QA pairs."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from molmo2_data.media.image import encode_png
from molmo2_data.sample import sample_writer
from molmo2_data.sample.context import SampleContext
from molmo2_data.sample.draw import (
    COLORS,
    DrawnObject,
    plural,
    random_scene,
    render_bar_chart,
    render_diagram,
    render_document,
    render_table,
)
from molmo2_data.sample.image_sets import _chart_qa, _diagram_qa, _document_qa, _table_qa

HF_IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])

# ---------------------------------------------------------------------------------------------
# CoSyn-400K
# ---------------------------------------------------------------------------------------------

COSYN_QA = pa.struct([(k, pa.list_(pa.string())) for k in ("question", "explanation", "answer")])
COSYN_META = pa.struct([("figure_type", pa.string()), ("persona", pa.string()), ("topic", pa.string())])
COSYN_SCHEMA = pa.schema([("id", pa.string()), ("image", HF_IMAGE), ("qa_pairs", COSYN_QA),
                          ("metadata", COSYN_META), ("data", pa.string()), ("code", pa.string())])
COSYN_SPLITS = (("train", 3), ("validation", 1))  # rows per config


def _scene_count_qa(objects: list[DrawnObject]) -> list[tuple[str, str, str]]:
    """(question, explanation, answer): how many of each shape/colour group a scene shows."""
    groups: dict[str, list[DrawnObject]] = {}
    for o in objects:
        groups.setdefault(o.label, []).append(o)
    out = []
    for label, objs in sorted(groups.items()):
        color, shape = label.split(" ")
        n = len(objs)
        out.append((f"How many {color} {plural(shape, 2)} are there?",
                    f"Counting the {color} {plural(shape, n)} one by one gives {n}.", str(n)))
    return out


def _with_explanations(kind: str, qa: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
    return [(q, f"The {kind} shows this directly: reading it gives {a}.", a) for q, a in qa]


def _chart_sum_qa(t: dict) -> list[tuple[str, str, str]]:
    """Arithmetic over a bar chart's values (the ``math`` config)."""
    bars = t["bars"]
    out = []
    for a, b in zip(bars, bars[1:], strict=False):
        total = a["value"] + b["value"]
        out.append((f"What is the sum of the values for {a['label']} and {b['label']}?",
                    f"{a['label']} is {a['value']} and {b['label']} is {b['value']}, so the sum is "
                    f"{a['value']} + {b['value']} = {total}.", str(total)))
    return out


def _cosyn_render(config: str, rng: np.random.RandomState):
    """(image, truth, [(question, explanation, answer)]) for one CoSyn config."""
    if config == "chart":
        img, t = render_bar_chart(rng)
        return img, t, _with_explanations("bar chart", _chart_qa(t))
    if config == "math":
        img, t = render_bar_chart(rng)
        return img, t, _chart_sum_qa(t)
    if config == "table":
        img, t = render_table(rng)
        return img, t, _with_explanations("table", _table_qa(t))
    if config == "diagram":
        img, t = render_diagram(rng)
        return img, t, _with_explanations("diagram", _diagram_qa(t))
    if config == "document":
        img, t = render_document(rng)
        return img, t, _with_explanations("document", _document_qa(t))
    img, objects = random_scene(rng, 240, 180, n_min=1, n_max=4)  # chemical, music: drawn symbols
    return img, {"kind": "scene", "objects": [o.to_json() for o in objects]}, _scene_count_qa(objects)


COSYN_CONFIGS = ("chart", "chemical", "diagram", "document", "math", "music", "table")


@sample_writer("cosyn-400k")
def write_cosyn_400k(ctx: SampleContext) -> None:
    """Configs chart, chemical, diagram, document, math, music and table; 3 train rows and 1 validation
    row each, every row one rendered image with all its QA pairs (true for the image) and an
    explanation per pair."""
    rng = ctx.rng("cosyn-400k")
    for config in COSYN_CONFIGS:
        for split, n in COSYN_SPLITS:
            rows: list[dict] = []
            for i in range(n):
                img, truth, qa = _cosyn_render(config, rng)
                row_id = f"{config}_{split}_{i:05d}"
                rows.append({"id": row_id, "image": {"bytes": encode_png(img), "path": f"{row_id}.png"},
                             "qa_pairs": {"question": [q for q, _, _ in qa], "explanation": [e for _, e, _ in qa],
                                          "answer": [a for _, _, a in qa]},
                             "metadata": {"figure_type": truth["kind"], "persona": "a sample writer",
                                          "topic": config},
                             "data": repr(truth.get("bars") or truth.get("rows") or truth.get("fields")
                                          or truth.get("steps") or truth.get("objects")),
                             "code": f"# rendered by molmo2_data.sample ({truth['kind']})"})
                ctx.record_truth("cosyn-400k", row_id, {"config": config, "split": split, "truth": truth,
                                                         "qa": [list(x) for x in qa]})
            ctx.write_table("cosyn-400k", split, pa.Table.from_pylist(rows, schema=COSYN_SCHEMA), config=config)


# ---------------------------------------------------------------------------------------------
# MMMU
# ---------------------------------------------------------------------------------------------

MMMU_TEXT_COLUMNS = ("id", "question", "options", "explanation")
MMMU_TAIL_COLUMNS = ("img_type", "answer", "topic_difficulty", "question_type", "subfield")
MMMU_SCHEMA = pa.schema([*((c, pa.string()) for c in MMMU_TEXT_COLUMNS),
                         *((f"image_{i}", HF_IMAGE) for i in range(1, 8)),
                         *((c, pa.string()) for c in MMMU_TAIL_COLUMNS)])
MMMU_CONFIGS = ("Art", "Math", "Physics")
MMMU_SPLITS = (("validation", 8), ("dev", 2))  # rows per config


def _scene_row(rng: np.random.RandomState) -> tuple[bytes, list[DrawnObject]]:
    img, objects = random_scene(rng, 200, 150, n_min=1, n_max=3)
    return encode_png(img), objects


def _mmmu_question(rng: np.random.RandomState, k: int) -> tuple[dict, list[bytes], dict]:
    """One MMMU row (without id / config fields), its images and its truth. ``k`` picks the kind: colour
    multiple choice, count (open), a two-image multiple choice, a two-image count, options that are
    ``<img='...'>`` references."""
    kind = ("mc_colour", "open_count", "mc_colour", "open_count", "multi_mc", "mc_colour", "multi_open",
            "image_options")[k % 8]
    if kind in ("multi_mc", "multi_open"):
        (png1, objs1), (png2, objs2) = _scene_row(rng), _scene_row(rng)
        if kind == "multi_open":
            n = len(objs1) + len(objs2)
            row = {"question": "How many shapes are there in <image 1> and <image 2> together?", "options": "[]",
                   "answer": str(n), "question_type": "open"}
            return row, [png1, png2], {"kind": kind, "objects": [[o.to_json() for o in objs1],
                                                                 [o.to_json() for o in objs2]], "answer": str(n)}
        target = objs1[0]
        in_2 = any(o.label == target.label for o in objs2)
        options = ["<image 1> only", "both <image 1> and <image 2>"]
        row = {"question": f"Which images show a {target.label}?", "options": repr(options),
               "answer": "B" if in_2 else "A", "question_type": "multiple-choice"}
        return row, [png1, png2], {"kind": kind, "objects": [[o.to_json() for o in objs1],
                                                             [o.to_json() for o in objs2]],
                                   "target": target.label, "answer_index": int(in_2)}
    png, objects = _scene_row(rng)
    truth: dict = {"kind": kind, "objects": [o.to_json() for o in objects]}
    if kind == "open_count":
        n = len(objects)
        row = {"question": "How many shapes are drawn in <image 1>?", "options": "[]", "answer": str(n),
               "question_type": "open"}
        truth["answer"] = str(n)
        return row, [png], truth
    obj = objects[0]
    others = [c for c in COLORS if c != obj.color]
    options = [obj.color, *(str(c) for c in rng.choice(others, 3, replace=False))]
    order = [int(j) for j in rng.permutation(4)]
    options = [options[j] for j in order]
    if kind == "image_options":  # the options are pictures: single-image mode drops the image
        options = [f"<img='https://mmmu.invalid/{c}.png'>" for c in options]
    row = {"question": f"<image 1> What colour is the shape at ({obj.center[0]:.0f}, {obj.center[1]:.0f})?",
           "options": repr(options), "answer": "ABCD"[order.index(0)], "question_type": "multiple-choice"}
    truth.update({"object": obj.to_json(), "options": options, "answer_index": order.index(0)})
    return row, [png], truth


@sample_writer("mmmu")
def write_mmmu(ctx: SampleContext) -> None:
    """Subjects Art, Math and Physics; 8 validation and 2 dev rows each, mixing colour multiple-choice
    questions (options a Python list literal, answer a letter), open counting questions, two-image rows
    and one row whose options are ``<img='...'>`` references."""
    rng = ctx.rng("mmmu")
    for config in MMMU_CONFIGS:
        for split, n in MMMU_SPLITS:
            rows: list[dict] = []
            for i in range(n):
                row, images, truth = _mmmu_question(rng, i)
                row_id = f"{split}_{config}_{i + 1}"
                row.update({"id": row_id, "explanation": "", "img_type": "['Diagrams']", "topic_difficulty": "Easy",
                            "subfield": f"{config} sample"})
                for j in range(1, 8):
                    row[f"image_{j}"] = ({"bytes": images[j - 1], "path": None} if j <= len(images) else None)
                rows.append(row)
                ctx.record_truth("mmmu", row_id, {"config": config, "split": split, **truth})
            ctx.write_table("mmmu", split, pa.Table.from_pylist(rows, schema=MMMU_SCHEMA), config=config)
