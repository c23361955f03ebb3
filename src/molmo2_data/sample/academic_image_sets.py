"""Sample tables of the academic image QA sets, in each source's published schema, with answers true
for their rendered images (issue 13)."""

from __future__ import annotations

import pyarrow as pa

from molmo2_data.media.image import encode_png
from molmo2_data.sample import sample_writer
from molmo2_data.sample.context import SampleContext
from molmo2_data.sample.draw import COLORS, random_scene, render_bar_chart, render_document
from molmo2_data.sample.image_sets import _chart_qa, _document_qa, _image_struct

CHART_QA_SPLITS = (("train", 24), ("val", 8), ("test", 8))  # the source split names


@sample_writer("chart-qa")
def write_chart_qa(ctx: SampleContext) -> None:
    """HuggingFaceM4/ChartQA: one question per row (image, query, label = [answer], human_or_machine).
    Rendered bar charts; the first question of each chart is marked human-written, the others machine."""
    rng = ctx.rng("chart-qa")
    for split, n_charts in CHART_QA_SPLITS:
        rows: dict[str, list] = {"query": [], "label": [], "human_or_machine": []}
        datas, names = [], []
        for c in range(n_charts):
            img, truth = render_bar_chart(rng)
            png = encode_png(img)
            for k, (q, a) in enumerate(_chart_qa(truth)[:2]):
                key = f"{split}-{c:03d}-{k}"
                datas.append(png)
                names.append(f"chart_{key}.png")
                rows["query"].append(q)
                rows["label"].append([a])
                rows["human_or_machine"].append(0 if k == 0 else 1)
                ctx.record_truth("chart-qa", key, {"chart": truth, "question": q, "answer": a})
        table = pa.table({"image": _image_struct(datas, names), "query": pa.array(rows["query"], pa.string()),
                          "label": pa.array(rows["label"], pa.list_(pa.string())),
                          "human_or_machine": pa.array(rows["human_or_machine"], pa.int64())})
        ctx.write_table("chart-qa", split, table)


@sample_writer("doc-qa")
def write_doc_qa(ctx: SampleContext) -> None:
    """lmms-lab/DocVQA (config DocVQA): one question per row with its answers list. Rendered invoice
    pages; each question's answer is the field value printed on its page (a second, lower-cased answer
    is added where it differs, as annotators' answers do). The test split carries no answers, as
    published."""
    rng = ctx.rng("doc-qa")
    for split, n_pages in (("train", 8), ("validation", 6), ("test", 2)):
        cols: dict[str, list] = {k: [] for k in ("questionId", "question", "question_types", "docId",
                                                 "ucsf_document_id", "ucsf_document_page_no", "answers",
                                                 "data_split")}
        datas, names = [], []
        for p in range(n_pages):
            img, truth = render_document(rng)
            png = encode_png(img)
            doc_id = 1000 * (1 + ["train", "validation", "test"].index(split)) + p
            for k, (q, a) in enumerate(_document_qa(truth)):
                qid = f"{doc_id}-{k}"
                answers = [] if split == "test" else ([a] if a.lower() == a else [a, a.lower()])
                datas.append(png)
                names.append(f"doc_{doc_id}.png")
                for key, value in (("questionId", qid), ("question", q), ("question_types", ["form"]),
                                   ("docId", doc_id), ("ucsf_document_id", f"doc{doc_id:05d}"),
                                   ("ucsf_document_page_no", "1"), ("answers", answers), ("data_split", split)):
                    cols[key].append(value)
                ctx.record_truth("doc-qa", qid, {"document": truth, "question": q, "answer": a})
        table = pa.table({"questionId": pa.array(cols["questionId"], pa.string()),
                          "question": pa.array(cols["question"], pa.string()),
                          "question_types": pa.array(cols["question_types"], pa.list_(pa.string())),
                          "image": _image_struct(datas, names),
                          "docId": pa.array(cols["docId"], pa.int64()),
                          "ucsf_document_id": pa.array(cols["ucsf_document_id"], pa.string()),
                          "ucsf_document_page_no": pa.array(cols["ucsf_document_page_no"], pa.string()),
                          "answers": pa.array(cols["answers"], pa.list_(pa.string())),
                          "data_split": pa.array(cols["data_split"], pa.string())})
        ctx.write_table("doc-qa", split, table, config="DocVQA")


SCIENCE_QA_COLUMNS = ("question", "choices", "answer", "hint", "task", "grade", "subject", "topic", "category",
                      "skill", "lecture", "solution")


@sample_writer("science-qa-img")
def write_science_qa_img(ctx: SampleContext) -> None:
    """derek-thomas/ScienceQA: multiple-choice questions; one in four rows is text-only (null image), as
    the source mixes both. Image rows ask the colour of a shape drawn exactly once in a rendered scene,
    with the true colour among three options; some carry a hint."""
    rng = ctx.rng("science-qa-img")
    for split, n in (("train", 32), ("validation", 8), ("test", 8)):
        cols: dict[str, list] = {k: [] for k in ("image", *SCIENCE_QA_COLUMNS)}
        for i in range(n):
            key = f"{split}-{i:03d}"
            if i % 4 == 3:  # a text-only question
                row = {"image": None, "question": "Which is a mammal?", "choices": ["trout", "whale"], "answer": 1,
                       "hint": "", "subject": "natural science"}
            else:
                img, objects = random_scene(rng, 240, 180, n_min=1, n_max=3)
                counts: dict[str, int] = {}
                for o in objects:
                    counts[o.shape] = counts.get(o.shape, 0) + 1
                single = [o for o in objects if counts[o.shape] == 1] or objects[:1]
                obj = single[0]
                others = [c for c in COLORS if c != obj.color]
                options = [obj.color, *(str(c) for c in rng.choice(others, 2, replace=False))]
                order = list(rng.permutation(3))
                choices = [options[j] for j in order]
                question = f"What colour is the {obj.shape}?" if counts[obj.shape] == 1 else \
                    f"What colour is one {obj.shape}?"
                row = {"image": {"bytes": encode_png(img), "path": f"sqa_{key}.png"}, "question": question,
                       "choices": choices, "answer": order.index(0), "hint": "Look at the picture." if i % 2 else "",
                       "subject": "visual science"}
                ctx.record_truth("science-qa-img", key, {"object": {"shape": obj.shape, "color": obj.color,
                                                                     "center": list(obj.center)},
                                                          "choices": choices, "answer": order.index(0)})
            for k in cols:
                default = "" if k not in ("choices", "answer") else None
                cols[k].append(row.get(k, default))
        image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
        table = pa.table({"image": pa.array(cols["image"], image_type),
                          **{k: pa.array(cols[k], pa.list_(pa.string()) if k == "choices" else
                                         pa.int8() if k == "answer" else pa.string())
                             for k in SCIENCE_QA_COLUMNS}})
        ctx.write_table("science-qa-img", split, table)

