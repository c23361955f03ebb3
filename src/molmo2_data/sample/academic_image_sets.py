"""Sample tables of the academic image QA sets, in each source's published schema, with answers true
for their rendered images (issue 13)."""

from __future__ import annotations

import pyarrow as pa

from molmo2_data.media.image import encode_png
from molmo2_data.sample import sample_writer
from molmo2_data.sample.context import SampleContext
from molmo2_data.sample.draw import render_bar_chart
from molmo2_data.sample.image_sets import _chart_qa, _image_struct

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
