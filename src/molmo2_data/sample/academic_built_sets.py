"""Sample copies of the sets the official code builds from raw archives (AI2D, DVQA, FigureQA, PlotQA,
TabMWP): each split written as the builder's ``save_to_disk`` output (an Arrow stream in the builder's
features) under ``manual/<name>/<split>/``, then imported by the code ``download`` runs. Pictures are
rendered charts, tables and labelled shape diagrams whose answers are known by construction."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from PIL import ImageDraw

from molmo2_data import paths
from molmo2_data.datasets import dataset_class
from molmo2_data.download.manual import import_manual
from molmo2_data.media.image import encode_png
from molmo2_data.sample import atomic, sample_writer
from molmo2_data.sample.context import SampleContext
from molmo2_data.sample.draw import (
    COLORS,
    SHAPES,
    TextItem,
    draw_text,
    random_scene,
    render_bar_chart,
    render_table,
)
from molmo2_data.sample.image_sets import _chart_qa, _table_qa

IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def _save(ctx: SampleContext, name: str, split: str, table: pa.Table) -> None:
    """One split as datasets' save_to_disk writes it: data-00000-of-00001.arrow (an Arrow stream)."""
    dest = paths.manual_dir(name, ctx.root) / split / "data-00000-of-00001.arrow"
    with atomic.atomic_path(dest) as tmp:
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as w:
            w.write_table(table)


def _import(ctx: SampleContext, name: str, splits: list[str]) -> None:
    import_manual(name, dataset_class(name), [("default", s) for s in splits], ctx.root, log=lambda _s: None,
                  refresh=True)


def _img(img, name: str) -> dict:
    return {"bytes": encode_png(img), "path": name}


def _chart_rows(ctx: SampleContext, name: str, split: str, n: int, rng: np.random.RandomState, qa_fn) -> list:
    rows = []
    for i in range(n):
        img, truth = render_bar_chart(rng)
        qas = qa_fn(truth, rng)
        rows.append((img, qas))
        for k, (q, a) in enumerate(qas):
            ctx.record_truth(name, f"{split}-{i}-{k}", {"image": i, "split": split, "question": q, "answer": a,
                                                         "chart": truth})
    return rows


def _questions_table(rows: list, id_col: str, id_type: pa.DataType, answer_type: pa.DataType,
                     with_qid: bool = False) -> pa.Table:
    fields = [("question", pa.list_(pa.string())), ("answer", pa.list_(answer_type))]
    if with_qid:
        fields.append(("question_id", pa.list_(pa.int64())))
    qs = []
    for i, (_, qas) in enumerate(rows):
        d = {"question": [q for q, _ in qas], "answer": [a for _, a in qas]}
        if with_qid:
            d["question_id"] = [1000 * i + k for k in range(len(qas))]
        qs.append(d)
    ids = [f"img_{i:05d}" if id_type == pa.string() else i for i in range(len(rows))]
    return pa.table({"image": pa.array([_img(img, f"{i}.png") for i, (img, _) in enumerate(rows)], IMAGE),
                     id_col: pa.array(ids, id_type), "questions": pa.array(qs, pa.struct(fields))})


@sample_writer("dv-qa")
def write_dv_qa(ctx: SampleContext) -> None:
    rng = ctx.rng("dv-qa")
    for split, n in (("train", 20), ("val_easy", 3), ("val_hard", 2)):
        rows = _chart_rows(ctx, "dv-qa", split, n, rng, lambda t, _r: _chart_qa(t))
        _save(ctx, "dv-qa", split, _questions_table(rows, "image_id", pa.string(), pa.string()))
    _import(ctx, "dv-qa", ["train", "val_easy", "val_hard"])


def _figure_qa(t: dict, rng: np.random.RandomState) -> list[tuple[str, int]]:
    """Yes/no questions, answers 1 / 0 as the builder stores them."""
    bars = t["bars"]
    values = [b["value"] for b in bars]
    out = []
    for b in bars:
        out.append((f"Is {b['label']} the maximum?", int(b["value"] == max(values) and values.count(max(values)) == 1)))
    a, b = bars[0], bars[1]
    out.append((f"Is {a['label']} greater than {b['label']}?", int(a["value"] > b["value"])))
    return out


@sample_writer("figure-qa")
def write_figure_qa(ctx: SampleContext) -> None:
    rng = ctx.rng("figure-qa")
    splits = (("train", 20), ("validation1", 3), ("validation2", 1), ("test1", 1), ("test2", 1))
    for split, n in splits:
        rows = _chart_rows(ctx, "figure-qa", split, n, rng, _figure_qa)
        _save(ctx, "figure-qa", split, _questions_table(rows, "image_index", pa.int64(), pa.int32()))
    _import(ctx, "figure-qa", [s for s, _ in splits])


@sample_writer("plot-qa")
def write_plot_qa(ctx: SampleContext) -> None:
    rng = ctx.rng("plot-qa")
    for split, n in (("train", 20), ("validation", 3), ("test", 2)):
        rows = _chart_rows(ctx, "plot-qa", split, n, rng, lambda t, _r: _chart_qa(t))
        _save(ctx, "plot-qa", split, _questions_table(rows, "image_index", pa.int64(), pa.string(), with_qid=True))
    _import(ctx, "plot-qa", ["train", "validation", "test"])


TABMWP_FIELDS = ("question", "answer", "choices", "table_title", "table", "column_num", "row_num", "solution",
                 "ques_type", "ans_type", "unit", "grade", "example_id")


@sample_writer("tabmwp")
def write_tabmwp(ctx: SampleContext) -> None:
    """One question per row over a rendered price/stock table (free-text and, for one row in four,
    multiple-choice items with ``choices``, as TabMWP mixes both)."""
    rng = ctx.rng("tabmwp")
    eid = 0
    for split, n_tables in (("train", 6), ("dev", 3), ("test", 2)):
        cols: dict[str, list] = {k: [] for k in ("image", *TABMWP_FIELDS)}
        for _ in range(n_tables):
            img, truth = render_table(rng)
            png = encode_png(img)
            text = "\n".join(" | ".join(r) for r in [truth["columns"], *truth["rows"]])
            for q, a in _table_qa(truth)[:4]:
                eid += 1
                choices = None
                if eid % 4 == 0:
                    choices = [a, a + "0", "1" + a]
                row = {"image": {"bytes": png, "path": f"{eid}.png"}, "question": q, "answer": a, "choices": choices,
                       "table_title": "Stock", "table": text, "column_num": 3, "row_num": len(truth["rows"]) + 1,
                       "solution": f"Read the table: {a}.", "ques_type": "multi_choice" if choices else "free_text",
                       "ans_type": "integer_number" if a.isdigit() else "extractive_text", "unit": "", "grade": 4,
                       "example_id": eid}
                for k in cols:
                    cols[k].append(row[k])
                ctx.record_truth("tabmwp", eid, {"question": q, "answer": a, "table": truth})
        types = {"image": IMAGE, "choices": pa.list_(pa.string()), "column_num": pa.int64(), "row_num": pa.int64(),
                 "grade": pa.int32(), "example_id": pa.int64()}
        table = pa.table({k: pa.array(v, types.get(k, pa.string())) for k, v in cols.items()})
        _save(ctx, "tabmwp", split, table)
    _import(ctx, "tabmwp", ["train", "dev", "test"])


@sample_writer("ai2d")
def write_ai2d(ctx: SampleContext) -> None:
    """Shape diagrams. Half the questions ask for a shape's name (text options); the others ask which
    letter marks a shape, the letters drawn next to the shapes on boxes, opaque or transparent (the
    builder's two renderings), with letter options (``abc_label``)."""
    rng = ctx.rng("ai2d")
    qid = 0
    for split, n in (("train", 24), ("validation", 6), ("test", 4)):
        cols: dict[str, list] = {k: [] for k in ("image", "question", "image_id", "option_is_abc", "image_name",
                                                 "question_id", "abc_label", "answer_texts", "correct_answer",
                                                 "has_transparent_box")}
        for i in range(n):
            img, objects = random_scene(rng, 240, 180, n_min=1, n_max=1)
            target = objects[0]
            abc = i % 2 == 1
            transparent = abc and i % 4 == 3
            if abc:
                d = ImageDraw.Draw(img)
                letters = ["a", "b", "c"][: min(3, len(objects))]
                marks = []
                for letter, o in zip(letters, objects, strict=False):
                    x, y = int(o.center[0] + o.radius + 3), int(o.center[1] - 8)
                    if not transparent:
                        d.rectangle((x - 1, y - 1, x + 12, y + 16), fill=(255, 255, 255))
                    item = TextItem(letter, (x + 1, y), 14, background=(255, 255, 255))
                    draw_text(d, item)
                    marks.append({"letter": letter, "shape": o.shape, "color": o.color, "center": list(o.center)})
                options = [*letters, "none of these"]
                q = f"Which letter marks the {target.color} {target.shape}?"
                answer = 0
                is_abc = [True] * len(letters) + [False]
            else:
                marks = []
                others = [s for s in SHAPES if s != target.shape]
                options = [target.shape, *(str(s) for s in rng.choice(others, 3, replace=False))]
                q = f"Which shape is {target.color}?"
                answer = 0
                is_abc = [False] * 4
            perm = rng.permutation(len(options)) if not abc else np.arange(len(options))
            options = [options[j] for j in perm]
            answer = int(np.argmax(perm == 0))
            qid += 1
            for k, v in (("image", _img(img, f"{qid}.png")), ("question", q), ("image_id", qid),
                         ("option_is_abc", [is_abc[j] for j in perm]), ("image_name", f"{qid}.png"),
                         ("question_id", f"{qid}.png-{i}"), ("abc_label", abc), ("answer_texts", options),
                         ("correct_answer", answer), ("has_transparent_box", transparent)):
                cols[k].append(v)
            ctx.record_truth("ai2d", f"{qid}.png-{i}", {"question": q, "answer": options[answer],
                                                        "target": target.to_json(), "marks": marks,
                                                        "colors": sorted(COLORS)})
        types = {"image": IMAGE, "image_id": pa.int32(), "option_is_abc": pa.list_(pa.bool_()),
                 "abc_label": pa.bool_(), "answer_texts": pa.list_(pa.string()), "correct_answer": pa.int32(),
                 "has_transparent_box": pa.bool_()}
        _save(ctx, "ai2d", split, pa.table({k: pa.array(v, types.get(k, pa.string())) for k, v in cols.items()}))
    _import(ctx, "ai2d", ["train", "validation", "test"])
