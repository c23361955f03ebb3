"""Academic image sets, examples/s per core: a document set (DocVQA-like 1700x2200 JPEG scans) and a
chart set (ChartQA-like 800x600 PNG charts), read through their readers and encoded with the SFT
settings, next to the floor measured in the same run: decoding the image and the vision preprocessing
alone (what any loader pays). Prints a table.

    python benchmarks/bench_academic.py [--n 40]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).parent))
from encode_rates import ours_and_floor  # noqa: E402

from molmo2_data.datasets import get_dataset
from molmo2_data.sample.draw import font, render_bar_chart
from molmo2_data.tables import write_table


def scan_page(rng: np.random.RandomState, i: int) -> tuple[bytes, str]:
    """A 1700x2200 page of text lines (a letter-size scan at 200 dpi), JPEG quality 90; the answer is
    the printed reference number."""
    img = Image.new("RGB", (1700, 2200), (250, 250, 245))
    draw = ImageDraw.Draw(img)
    f = font(28)
    ref = f"REF-{rng.randint(10000, 99999)}"
    draw.text((120, 120), f"Reference: {ref}", fill=(20, 20, 20), font=f)
    words = ["budget", "report", "quarter", "meeting", "tobacco", "sales", "memo", "research", "market"]
    for line in range(60):
        text = " ".join(words[j] for j in rng.randint(0, len(words), 9))
        draw.text((120, 220 + line * 32), text, fill=(30, 30, 30), font=f)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue(), ref


def write_tables(root: Path, n: int) -> None:
    rng = np.random.RandomState(0)
    pages = [scan_page(rng, i) for i in range(n)]
    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    docs = pa.table({
        "questionId": [str(i) for i in range(n)], "question": ["What is the reference number?"] * n,
        "question_types": [["form"]] * n,
        "image": pa.array([{"bytes": b, "path": f"{i}.jpg"} for i, (b, _) in enumerate(pages)], image_type),
        "docId": pa.array(range(n), pa.int64()), "ucsf_document_id": ["x"] * n, "ucsf_document_page_no": ["1"] * n,
        "answers": [[ref] for _, ref in pages], "data_split": ["train"] * n})
    write_table(docs, root / "tables" / "doc-qa" / "DocVQA" / "train.arrow")
    charts, answers = [], []
    for _ in range(n):
        img, truth = render_bar_chart(rng, 800, 600)
        buf = io.BytesIO()
        img.save(buf, "PNG")
        charts.append(buf.getvalue())
        answers.append([str(truth["bars"][0]["value"])])
    table = pa.table({"image": pa.array([{"bytes": b, "path": f"{i}.png"} for i, b in enumerate(charts)], image_type),
                      "query": ["What is the value of the first bar?"] * n, "label": answers,
                      "human_or_machine": pa.array([0] * n, pa.int64())})
    write_table(table, root / "tables" / "chart-qa" / "default" / "train.arrow")


def measure(name: str, root: Path, n: int) -> tuple[float, float]:
    return ours_and_floor(get_dataset(name, root=root), n, name, warmup=3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=40)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    root = Path(tempfile.mkdtemp())
    write_tables(root, args.n)
    print(f"{args.n} examples per set, one core, SFT encoding (up to 8 crops + high-res draws as configured)")
    print(f"{'set':<42}{'ours ex/s':>11}{'floor ex/s':>12}{'ours/floor':>12}")
    for name, label in (("doc-qa", "doc-qa (1700x2200 JPEG pages)"), ("chart-qa", "chart-qa (800x600 PNG charts)")):
        ours, floor = measure(name, root, args.n)
        print(f"{label:<42}{ours:>11.1f}{floor:>12.1f}{ours / floor:>12.2f}")


if __name__ == "__main__":
    main()
