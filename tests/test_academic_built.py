"""AI2D, DVQA, FigureQA, PlotQA and TabMWP: the official builders' output (save_to_disk Arrow streams,
or parquet) imported from manual/<name>/<split>/; answers true for the pictures; official names,
styles, filters; drift and malformed rows."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from molmo2_data import paths
from molmo2_data.annotations import VQA, Messages, MultipleChoice
from molmo2_data.datasets import dataset_class, get_dataset
from molmo2_data.download.manual import import_manual, read_builder_output
from molmo2_data.errors import SchemaError
from molmo2_data.sample import load_truth, write_sample
from molmo2_data.sample.draw import pixel_color_name, text_matches

SETS = ("ai2d", "dv-qa", "figure-qa", "plot-qa", "tabmwp")


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    r = tmp_path_factory.mktemp("built")
    write_sample(r, datasets=SETS, progress=False)
    return r


def _bar_truth(img: np.ndarray, chart: dict) -> None:
    """The picture is the recorded chart: every bar's height is its value in pixels, in its colour."""
    for b in chart["bars"]:
        x0, y0, x1, y1 = b["box"]
        assert y1 + 1 - y0 == b["value"] * chart["px_per_unit"]
        assert pixel_color_name(img[(y0 + y1) // 2, (x0 + x1) // 2]) == b["color"]
        assert text_matches(img, b["label_text"])


@pytest.mark.parametrize(("official", "name", "style"), [("dv_qa", "dv-qa", "dv_qa"), ("figure_qa", "figure-qa", "figure_qa"),
                                                          ("plot_qa", "plot-qa", "plot_qa")])
def test_chart_sets_answers_true_for_the_chart(root: Path, official: str, name: str, style: str) -> None:
    ds = get_dataset(official, root=root)
    truth = load_truth(name, root)
    assert len(ds) == 20 and not ds.skipped
    n_qa = 0
    for i in range(len(ds)):
        ex = ds.example(i)
        img = ex.images[0].load()
        for k, ann in enumerate(ex.annotations):
            assert isinstance(ann, Messages) and ann.style == style
            t = truth[f"train-{i}-{k}"]
            assert ann.messages[0].content == t["question"] and ann.messages[1].content == str(t["answer"])
            _bar_truth(img, t["chart"])
            bars = {b["label"]: b["value"] for b in t["chart"]["bars"]}
            q = t["question"]
            if q.startswith("What is the value for "):
                assert int(t["answer"]) == bars[q[len("What is the value for "):-1]]
            elif q.startswith("Is ") and q.endswith(" the maximum?"):
                label = q[3:-len(" the maximum?")]
                assert t["answer"] == int(bars[label] == max(bars.values()) and list(bars.values()).count(max(bars.values())) == 1)
            n_qa += 1
    assert n_qa >= 60


def test_ai2d_options_and_letters(root: Path) -> None:
    ds = get_dataset("ai2_diagram_v2_mix_transparent", root=root)  # the official name: boxes="both"
    truth = load_truth("ai2d", root)
    assert len(ds) == 24 and ds.boxes == "both"
    styles = set()
    for i in range(len(ds)):
        ex = ds.example(i)
        (ann,) = ex.annotations
        assert isinstance(ann, MultipleChoice)
        t = truth[ex.metadata.extra["example_id"]]
        img = ex.images[0].load()
        x, y = (int(round(v)) for v in t["target"]["center"])
        assert pixel_color_name(img[y, x]) == t["target"]["color"]
        styles.add(ann.style)
        if ex.metadata.extra["abc_label"]:
            # letter options upper-cased, the official no-letter style; the right letter marks the target
            assert ann.style == "ai2_diagram_no_letter" and ann.answer == "A" and ann.options[-1] == "none of these"
            mark = next(m for m in t["marks"] if m["letter"].upper() == ann.answer)
            assert (mark["shape"], mark["color"]) == (t["target"]["shape"], t["target"]["color"])
        else:
            assert ann.style == "ai2_diagram" and ann.answer == t["target"]["shape"] == t["answer"]
    assert styles == {"ai2_diagram", "ai2_diagram_no_letter"}
    # the official box filters: rows without letters always stay; letter rows by box kind
    transparent = get_dataset("ai2d", boxes="transparent", root=root)
    opaque = get_dataset("ai2d", boxes="opaque", root=root)
    assert len(transparent) + len(opaque) == 24 + 12  # the 12 no-letter rows are in both
    assert transparent.skipped == {"not transparent boxes": 6} and opaque.skipped == {"not opaque boxes": 6}


def test_tabmwp_answers_in_the_table(root: Path) -> None:
    ds = get_dataset("tabwmp_da", root=root)
    truth = load_truth("tabmwp", root)
    assert len(ds) == 24
    for i in range(len(ds)):
        ex = ds.example(i)
        (ann,) = ex.annotations
        assert isinstance(ann, VQA) and ann.style == "tabwmp_da"
        t = truth[str(ex.metadata.extra["example_id"])]
        assert ann.answers == t["answer"]
        cells = [c for row in t["table"]["cells"] for c in row]
        if not t["question"].startswith("How many items"):
            assert any(c["text"] == t["answer"] and text_matches(ex.images[0].load(), c) for c in cells)
    mc = get_dataset("tabmwp", include_options=True, root=root)
    kinds = [type(mc.example(i).annotations[0]).__name__ for i in range(len(mc))]
    assert kinds.count("MultipleChoice") == 6 and get_dataset("tabmwp", split="validation", root=root).SPLITS["validation"] == "dev"


def test_builder_output_as_parquet_and_drift(root: Path, tmp_path: Path) -> None:
    src = read_builder_output(paths.manual_dir("dv-qa", root) / "train", "train")
    folder = paths.manual_dir("dv-qa", tmp_path) / "train"
    folder.mkdir(parents=True)
    pq.write_table(src, folder / "train-00000-of-00001.parquet")
    cls = dataset_class("dv-qa")
    assert import_manual("dv-qa", cls, [("default", "train")], tmp_path, log=lambda _s: None) == {
        ("default", "train"): "imported"}
    assert len(get_dataset("dv-qa", root=tmp_path)) == 20
    # a renamed column, a retyped column: SchemaError naming it
    pq.write_table(src.rename_columns(["image", "image_id", "qas"]), folder / "train-00000-of-00001.parquet")
    import_manual("dv-qa", cls, [("default", "train")], tmp_path, log=lambda _s: None)
    with pytest.raises(SchemaError, match="questions"):
        get_dataset("dv-qa", root=tmp_path)
    t = read_builder_output(paths.manual_dir("ai2d", root) / "train", "train")
    t = t.set_column(t.column_names.index("correct_answer"), "correct_answer",
                     pa.array([str(x) for x in t.column("correct_answer").to_pylist()]))
    (paths.manual_dir("ai2d", tmp_path) / "train").mkdir(parents=True)
    pq.write_table(t, paths.manual_dir("ai2d", tmp_path) / "train" / "x.parquet")
    import_manual("ai2d", dataset_class("ai2d"), [("default", "train")], tmp_path, log=lambda _s: None)
    with pytest.raises(SchemaError, match="correct_answer"):
        get_dataset("ai2d", root=tmp_path)
    empty = paths.manual_dir("plot-qa", tmp_path) / "train"
    empty.mkdir(parents=True)
    with pytest.raises(SchemaError, match="no .arrow or .parquet"):
        import_manual("plot-qa", dataset_class("plot-qa"), [("default", "train")], tmp_path, log=lambda _s: None)


def test_malformed_rows_are_counted(root: Path, tmp_path: Path) -> None:
    t = read_builder_output(paths.manual_dir("figure-qa", root) / "train", "train")
    qs = t.column("questions").to_pylist()
    qs[0]["answer"] = qs[0]["answer"][:-1]  # one answer short
    qs[1] = {"question": [], "answer": []}
    images = t.column("image").to_pylist()
    images[2] = {"bytes": None, "path": "2.png"}  # decode=False output without bytes
    t = t.set_column(t.column_names.index("questions"), "questions", pa.array(qs, t.schema.field("questions").type))
    t = t.set_column(t.column_names.index("image"), "image", pa.array(images, t.schema.field("image").type))
    folder = paths.manual_dir("figure-qa", tmp_path) / "train"
    folder.mkdir(parents=True)
    pq.write_table(t, folder / "a.parquet")
    import_manual("figure-qa", dataset_class("figure-qa"), [("default", "train")], tmp_path, log=lambda _s: None)
    ds = get_dataset("figure_qa", root=tmp_path)
    assert len(ds) == 17 and dict(ds.skipped) == {"question/answer count mismatch": 1, "no questions": 1,
                                                   "image bytes missing": 1}
    shutil.rmtree(folder)


def test_image_bytes_check_is_chunkwise() -> None:
    """The bytes check never merges a column's chunks (a merge of > 2 GB of images would overflow the
    binary offsets): per chunk, null and empty bytes are missing."""
    from molmo2_data.datasets.pixmo import _has_bytes

    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    a = pa.array([{"bytes": b"x", "path": "a"}, {"bytes": None, "path": "b"}], image)
    b = pa.array([{"bytes": b"", "path": "c"}, {"bytes": b"yz", "path": "d"}, None], image)
    table = pa.Table.from_batches([pa.record_batch([a], names=["image"]), pa.record_batch([b], names=["image"])])
    assert table.column("image").num_chunks == 2
    assert _has_bytes(table, "image").tolist() == [True, False, False, True, False]
