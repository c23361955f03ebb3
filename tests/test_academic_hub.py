"""CoSyn-400K and MMMU (issue 13): sample answers are true for their pixels, the card's schemas read,
schema drift is a SchemaError, the official names resolve, malformed MMMU options are counted skips."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from molmo2_data import paths
from molmo2_data.datasets import get_dataset
from molmo2_data.datasets.academic_hub import parse_options
from molmo2_data.datasets.published import PUBLISHED
from molmo2_data.errors import ConfigError, SchemaError
from molmo2_data.example import VQA, MultipleChoice
from molmo2_data.media.image import encode_png
from molmo2_data.sample import load_truth, write_sample
from molmo2_data.sample.draw import COLORS, text_matches
from molmo2_data.tables import write_table
from molmo2_data.text.formatter import FormatterConfig, format_conversation

HF_IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


@pytest.fixture(scope="module")
def hub_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("academic_hub")
    write_sample(root, seed=0, datasets=["cosyn-400k", "mmmu"], progress=False)
    return root


def _rgb(img: np.ndarray, xy) -> tuple[int, ...]:
    return tuple(int(v) for v in img[int(round(xy[1])), int(round(xy[0]))])


# ---------------------------------------------------------------------------------------------
# (a) sample data: answers true for the pixels
# ---------------------------------------------------------------------------------------------


def _check_bar_chart(img: np.ndarray, t: dict, q: str, a: str) -> None:
    bars = {b["label"]: b for b in t["bars"]}
    for b in t["bars"]:  # this is the chart that was drawn: every bar has its colour and height
        x0, y0, x1, y1 = b["box"]
        assert _rgb(img, ((x0 + x1) / 2, (y0 + y1) / 2)) == COLORS[b["color"]]
        assert y1 + 1 - y0 == b["value"] * t["px_per_unit"]
    if m := re.fullmatch(r"What is the value for (\w+)\?", q):
        assert a == str(bars[m[1]]["value"])
    elif m := re.fullmatch(r"What is the sum of the values for (\w+) and (\w+)\?", q):
        assert a == str(bars[m[1]]["value"] + bars[m[2]]["value"])
    elif q == "How many bars are in the chart?":
        assert a == str(len(t["bars"]))
    elif q == "Which fruit has the highest value?":
        assert bars[a]["value"] == max(b["value"] for b in t["bars"])
    else:
        raise AssertionError(q)


def _check_table(img: np.ndarray, t: dict, q: str, a: str) -> None:
    if q == "How many items are listed in the table?":
        assert a == str(len(t["rows"]))
        return
    m = re.fullmatch(r"What is the price of the (\w+)\?|How many units of (\w+) are in stock\?", q)
    col = 1 if m[1] else 2
    (r,) = [i for i, row in enumerate(t["rows"]) if row[0].lower() == (m[1] or m[2])]
    assert t["rows"][r][col] == a and t["cells"][r + 1][col]["text"] == a
    assert text_matches(img, t["cells"][r + 1][col])  # the answer is printed in its cell


def _check_diagram(img: np.ndarray, t: dict, q: str, a: str) -> None:
    steps = t["steps"]
    if q == "How many steps are shown?":
        assert a == str(len(steps))
        return
    if q == "What is the first step?":
        assert a == steps[0]
    else:
        before = re.fullmatch(r"Which step comes after (\w+)\?", q)[1]
        assert steps.index(a) == steps.index(before) + 1
    assert text_matches(img, t["boxes"][steps.index(a)]["text"])


def _check_document(img: np.ndarray, t: dict, q: str, a: str) -> None:
    field = {"What is the invoice number?": "Invoice number", "What is the invoice date?": "Date",
             "Who is the customer?": "Customer", "What is the total amount?": "Total"}[q]
    assert t["fields"][field] == a and text_matches(img, t["values"][field])


def _check_scene_count(img: np.ndarray, objects: list[dict], q: str, a: str) -> None:
    color, shape = re.fullmatch(r"How many (\w+) (\w+)s are there\?", q).groups()
    mine = [o for o in objects if o["color"] == color and o["shape"] == shape]
    assert a == str(len(mine)) and mine
    assert all(_rgb(img, o["center"]) == COLORS[color] for o in mine)


COSYN_CHECKS = {"bar_chart": _check_bar_chart, "table": _check_table, "diagram": _check_diagram,
                "document": _check_document,
                "scene": lambda img, t, q, a: _check_scene_count(img, t["objects"], q, a)}


def test_cosyn_answers_are_true_for_the_pixels(hub_root: Path) -> None:
    truth = load_truth("cosyn-400k", hub_root)
    checked = 0
    for split in ("train", "validation"):
        ds = get_dataset("cosyn-400k", split=split, root=hub_root, with_explanation=False)
        assert not ds.skipped and len(ds) == {"train": 21, "validation": 7}[split]
        for i in range(len(ds)):
            ex = ds.get(i, np.random.RandomState(i))
            t = truth[ex.metadata.source_ids["id"]]
            config = ex.metadata.source_ids["config"]
            assert t["config"] == config and t["split"] == split
            assert [(a.question, a.answers) for a in ex.annotations] == [(q, ans) for q, _, ans in t["qa"]]
            assert {a.style for a in ex.annotations} == {f"cosyn_{config}"}
            assert ex.metadata.extra["explanations"] == [e for _, e, _ in t["qa"]]
            img = ex.images[0].load()
            if "size" in t["truth"]:
                assert img.shape[:2] == (t["truth"]["size"][1], t["truth"]["size"][0])
            for ann in ex.annotations:
                COSYN_CHECKS[t["truth"]["kind"]](img, t["truth"], ann.question, ann.answers)
            checked += 1
    assert checked >= 20
    configs = {k.split("_")[0] for k in truth}
    assert configs == {"chart", "chemical", "diagram", "document", "math", "music", "table"}


def test_mmmu_answers_are_true_for_the_pixels(hub_root: Path) -> None:
    truth = load_truth("mmmu", hub_root)
    ds = get_dataset("mmmu", split="validation", root=hub_root)
    assert len(ds) == 24 and not ds.skipped
    kinds = set()
    for i in range(len(ds)):
        ex = ds.get(i, np.random.RandomState(i))
        t = truth[ex.metadata.source_ids["id"]]
        assert ex.metadata.source_ids["config"] == t["config"] and t["split"] == "validation"
        (ann,) = ex.annotations
        kinds.add(t["kind"])
        if t["kind"] in ("mc_colour", "image_options"):
            assert isinstance(ann, MultipleChoice) and ann.style == "a_okvqa_mc"
            assert ann.answer_index == t["answer_index"] and ann.options == t["options"]
            obj = t["object"]
            assert ann.question.startswith("<image 1> ")  # placeholders stay in single-image mode
            if t["kind"] == "image_options":  # options are pictures: the official drops the image
                assert ex.images == () and ex.metadata.extra["image_dropped"]
                assert ann.answer == f"<img='https://mmmu.invalid/{obj['color']}.png'>"
                continue
            assert ann.answer == obj["color"]
            assert _rgb(ex.images[0].load(), obj["center"]) == COLORS[obj["color"]]  # the drawn colour
        elif t["kind"] == "open_count":
            assert isinstance(ann, VQA) and ann.style == "vqa2"
            objects = t["objects"]
            assert ann.answers == t["answer"] == str(len(objects))
            img = ex.images[0].load()
            assert all(_rgb(img, o["center"]) == COLORS[o["color"]] for o in objects)
        elif t["kind"] == "multi_open":  # single-image mode: image_1 only, placeholders kept
            assert isinstance(ann, VQA) and ann.style == "vqa2" and len(ex.images) == 1
            assert ann.answers == str(sum(len(o) for o in t["objects"]))
        else:
            assert t["kind"] == "multi_mc" and isinstance(ann, MultipleChoice) and len(ex.images) == 1
            assert ann.answer_index == t["answer_index"]
            present = [any(f"{o['color']} {o['shape']}" == t["target"] for o in objs) for objs in t["objects"]]
            assert present[0] and ann.answer_index == int(present[1])
    assert kinds == {"mc_colour", "open_count", "multi_mc", "multi_open", "image_options"}
    assert len(get_dataset("mmmu", split="dev", root=hub_root)) == 6


def test_mmmu_multi_image_mode(hub_root: Path) -> None:
    truth = load_truth("mmmu", hub_root)
    ds = get_dataset("mmmu_test_v2", split="validation", root=hub_root)  # official name: use_multi_image
    assert ds.use_multi_image and len(ds) == 24
    seen = set()
    for i in range(len(ds)):
        ex = ds.get(i, np.random.RandomState(i))
        t = truth[ex.metadata.source_ids["id"]]
        (ann,) = ex.annotations
        assert "<image" not in ann.question
        if t["kind"].startswith("multi_"):
            seen.add(t["kind"])
            assert len(ex.images) == 2
            for img, objs in zip(ex.images, t["objects"], strict=True):
                pixels = img.load()
                assert all(_rgb(pixels, o["center"]) == COLORS[o["color"]] for o in objs)
            if t["kind"] == "multi_mc":
                assert ann.style == "mantis_instruct_mc" and ann.options == ["Image 1 only", "both Image 1 and Image 2"]
            else:
                assert ann.style == "mantis_instruct_da"
                assert ann.question == "How many shapes are there in Image 1 and Image 2 together?"
        else:  # one image: the single-image styles, the image kept even with picture options
            assert len(ex.images) == 1 and ann.style in ("a_okvqa_mc", "vqa2")
    assert seen == {"multi_mc", "multi_open"}


# ---------------------------------------------------------------------------------------------
# (b) a table in the card's exact schema
# ---------------------------------------------------------------------------------------------


def _png(color: str) -> bytes:
    return encode_png(np.full((8, 8, 3), COLORS[color], dtype=np.uint8))


def _write(root: Path, name: str, config: str, split: str, table: pa.Table) -> None:
    path = paths.table_path(name, config, split, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_table(table, path)


def _cosyn_card_table() -> pa.Table:
    qa = pa.struct([(k, pa.list_(pa.string())) for k in ("question", "explanation", "answer")])
    meta = pa.struct([("figure_type", pa.string()), ("persona", pa.string()), ("topic", pa.string())])
    schema = pa.schema([("id", pa.string()), ("image", HF_IMAGE), ("qa_pairs", qa), ("metadata", meta),
                        ("data", pa.string()), ("code", pa.string())])
    rows = [{"id": "n0", "image": {"bytes": _png("red"), "path": None},
             "qa_pairs": {"question": ["What colour is the label?", "Is it a nutrition label?"],
                          "explanation": ["The whole label is red.", ""], "answer": ["red", "yes"]},
             "metadata": {"figure_type": "label", "persona": "a cook", "topic": "soup"}, "data": "{}",
             "code": "print()"}]
    return pa.Table.from_pylist(rows, schema=schema)


def _mmmu_card_table(rows: list[dict]) -> pa.Table:
    schema = pa.schema([*((c, pa.string()) for c in ("id", "question", "options", "explanation")),
                        *((f"image_{i}", HF_IMAGE) for i in range(1, 8)),
                        *((c, pa.string()) for c in ("img_type", "answer", "topic_difficulty", "question_type",
                                                     "subfield"))])
    base = {"explanation": "", "img_type": "['Photos']", "topic_difficulty": "Easy", "subfield": "x",
            "image_1": {"bytes": _png("blue"), "path": None}}
    return pa.Table.from_pylist([{**base, **r} for r in rows], schema=schema)


def _types(table: pa.Table) -> dict[str, str]:
    return {f.name: str(f.type) for f in table.schema}


def test_card_schema_tables_read(tmp_path: Path) -> None:
    cosyn = _cosyn_card_table()
    assert _types(cosyn) == dict(PUBLISHED["cosyn-400k"].columns)
    _write(tmp_path, "cosyn-400k", "nutrition", "train", cosyn)
    ex = get_dataset("cosyn_nutrition_exp", root=tmp_path)[0]
    assert [(a.question, a.answers, a.style) for a in ex.annotations] == [
        ("What colour is the label?", "The whole label is red. Answer: red", "cosyn_nutrition_exp"),
        ("Is it a nutrition label?", "yes", "cosyn_nutrition_exp")]  # empty explanation: the answer alone
    assert ex.metadata.source_ids == {"id": "n0", "config": "nutrition"}
    assert _rgb(ex.images[0].load(), (4, 4)) == COLORS["red"]

    mmmu = _mmmu_card_table([
        {"id": "validation_Math_1", "question": "<image 1> Which colour?", "options": "['red', 'blue']",
         "answer": "B", "question_type": "multiple-choice"},
        {"id": "validation_Math_2", "question": "Name the colour of <image 1>.", "options": "[]",
         "answer": "blue", "question_type": "open"}])
    assert _types(mmmu) == dict(PUBLISHED["mmmu"].columns)
    _write(tmp_path, "mmmu", "Math", "validation", mmmu)
    ds = get_dataset("mmmu", split="validation", root=tmp_path)
    mc, open_ = (ds[i].annotations[0] for i in range(2))
    assert isinstance(mc, MultipleChoice) and mc.answer == "blue" and mc.style == "a_okvqa_mc"
    assert isinstance(open_, VQA) and open_.answers == "blue" and open_.style == "vqa2"
    assert ds[0].metadata.extra["answer"] == "B" and ds[0].metadata.extra["img_type"] == "['Photos']"


# ---------------------------------------------------------------------------------------------
# (c) schema drift
# ---------------------------------------------------------------------------------------------


def _renamed(t: pa.Table, col: str) -> pa.Table:
    return t.rename_columns([c + "_v2" if c == col else c for c in t.column_names])


def _retyped(t: pa.Table, col: str, values: pa.Array) -> pa.Table:
    return t.set_column(t.column_names.index(col), col, values)


@pytest.mark.parametrize("change", ["rename", "retype"])
def test_schema_drift_is_a_schema_error(tmp_path: Path, change: str) -> None:
    cosyn = _cosyn_card_table()
    mmmu = _mmmu_card_table([{"id": "v1", "question": "q <image 1>", "options": "['a', 'b']", "answer": "A",
                              "question_type": "multiple-choice"}])
    if change == "rename":
        cosyn, mmmu = _renamed(cosyn, "qa_pairs"), _renamed(mmmu, "options")
    else:  # qa_pairs as a list of strings; options as a real list (not the card's string)
        cosyn = _retyped(cosyn, "qa_pairs", pa.array([["q"]], pa.list_(pa.string())))
        mmmu = _retyped(mmmu, "options", pa.array([["a", "b"]], pa.list_(pa.string())))
    _write(tmp_path, "cosyn-400k", "chart", "train", cosyn)
    _write(tmp_path, "mmmu", "Art", "validation", mmmu)
    with pytest.raises(SchemaError, match="qa_pairs"):
        get_dataset("cosyn-400k", root=tmp_path)
    with pytest.raises(SchemaError, match="options"):
        get_dataset("mmmu", split="validation", root=tmp_path)
    image_as_text = _retyped(_mmmu_card_table([]), "image_1", pa.array([], pa.string()))
    _write(tmp_path, "mmmu", "Art", "validation", image_as_text)
    with pytest.raises(SchemaError, match="image_1"):
        get_dataset("mmmu", split="validation", root=tmp_path)


# ---------------------------------------------------------------------------------------------
# (d) official names
# ---------------------------------------------------------------------------------------------


def test_official_cosyn_names(hub_root: Path) -> None:
    truth = load_truth("cosyn-400k", hub_root)
    exp = get_dataset("cosyn_chart_exp", root=hub_root)
    assert exp.NAME == "cosyn-400k" and exp.configs_loaded == ("chart",) and exp.with_explanation
    ex = exp.get(0, np.random.RandomState(0))
    qa = truth[ex.metadata.source_ids["id"]]["qa"]
    assert [a.answers for a in ex.annotations] == [f"{e} Answer: {a}" for _, e, a in qa]
    assert {a.style for a in ex.annotations} == {"cosyn_chart_exp"}
    conv = format_conversation(ex.annotations[0], FormatterConfig(), np.random.RandomState(0))
    template = "{question} Think it through step by step, then state the short answer."  # chain_of_thought
    assert conv.messages == ["cosyn_chart_exp: " + template.format(question=qa[0][0]), f"{qa[0][1]} Answer: {qa[0][2]}"]

    doc = get_dataset("cosyn_document", root=hub_root)
    assert doc.configs_loaded == ("document",) and not doc.with_explanation and len(doc) == 3
    ex = doc.get(0, np.random.RandomState(0))
    qa = truth[ex.metadata.source_ids["id"]]["qa"]
    assert [(a.answers, a.style) for a in ex.annotations] == [(a, "cosyn_document") for _, _, a in qa]
    conv = format_conversation(ex.annotations[0], FormatterConfig(), np.random.RandomState(0))
    assert conv.messages == ["cosyn_document: " + qa[0][0], qa[0][2]]  # no template, no explanation
    assert get_dataset("cosyn_document", root=hub_root, with_explanation=True).with_explanation  # caller wins

    for name in ("cosyn_chemical_exp", "cosyn_diagram_exp", "cosyn_math_exp", "cosyn_music_exp", "cosyn_table_exp"):
        ds = get_dataset(name, root=hub_root)
        config = name.split("_")[1]
        assert ds.configs_loaded == (config,) and len(ds) == 3
        assert {a.style for a in ds[0].annotations} == {f"cosyn_{config}_exp"}
    both = get_dataset("cosyn-400k", root=hub_root, config=["chart", "table"])
    assert len(both) == 6 and get_dataset("cosyn-400k", root=hub_root).with_explanation  # official default
    with pytest.raises(ConfigError, match="with_explanation"):
        get_dataset("cosyn-400k", root=hub_root, with_explanation="yes")


def test_official_mmmu_name(hub_root: Path) -> None:
    ds = get_dataset("mmmu", split="validation", root=hub_root)
    assert not ds.use_multi_image and set(ds.configs_loaded) == {"Art", "Math", "Physics"}
    styles = {ds[i].annotations[0].style for i in range(len(ds))}
    assert styles == {"a_okvqa_mc", "vqa2"}
    ex = next(ds[i] for i in range(len(ds)) if isinstance(ds[i].annotations[0], MultipleChoice)
              and ds[i].images)
    ann = ex.annotations[0]
    conv = format_conversation(ann, FormatterConfig(), np.random.RandomState(0))
    assert all(o in conv.messages[0] for o in ann.options) and ann.question in conv.messages[0]
    assert get_dataset("mmmu_test", split="validation", root=hub_root).use_multi_image is False


# ---------------------------------------------------------------------------------------------
# (e) malformed MMMU options: counted skips
# ---------------------------------------------------------------------------------------------


def test_mmmu_malformed_options_are_counted(tmp_path: Path) -> None:
    mc = {"question_type": "multiple-choice", "question": "Which one? <image 1>"}
    rows = [
        {**mc, "id": "ok", "options": "['cat', 'dog']", "answer": "A"},
        {**mc, "id": "not a literal", "options": "[cat, dog]", "answer": "A"},
        {**mc, "id": "code", "options": "__import__('os').system('false')", "answer": "A"},
        {**mc, "id": "not a list", "options": "'cat'", "answer": "A"},
        {**mc, "id": "empty list", "options": "[]", "answer": "A"},
        {**mc, "id": "empty option", "options": "['cat', ' ']", "answer": "A"},
        {**mc, "id": "null", "options": None, "answer": "A"},
        {**mc, "id": "letter out of range", "options": "['cat', 'dog']", "answer": "C"},
        {**mc, "id": "hidden answer", "options": "['cat', 'dog']", "answer": "?"},
        {"id": "open", "question_type": "open", "question": "Name it.", "options": "[]", "answer": "dog"},
        {"id": "open no answer", "question_type": "open", "question": "Name it.", "options": "[]", "answer": ""},
    ]
    _write(tmp_path, "mmmu", "Biology", "test", _mmmu_card_table(rows))
    ds = get_dataset("mmmu", split="test", root=tmp_path)
    assert dict(ds.skipped) == {"malformed options": 6, "answer is not an option letter": 2, "no answer": 1}
    assert [ds[i].metadata.source_ids["id"] for i in range(len(ds))] == ["ok", "open"]
    assert ds[0].annotations[0].options == ["cat", "dog"]
    assert parse_options("[1, 2.5]") == ["1", "2.5"] and parse_options("[1j]") is None
    assert parse_options("[" * 10_000) is None  # deep nesting: no crash
