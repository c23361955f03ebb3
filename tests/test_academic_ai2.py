"""Ai2-mirror academic sets (VQA v2, TextVQA, TallyQA, OK-VQA, A-OKVQA, Mantis-Instruct): sample answers
true for their pixels, the official names and forms, file presence, schema drift."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from molmo2_data import paths
from molmo2_data.annotations import VQA, MultipleChoice
from molmo2_data.datasets import get_dataset
from molmo2_data.errors import SchemaError
from molmo2_data.sample import load_truth, write_sample
from molmo2_data.sample.draw import COLORS, pixel_color_name
from molmo2_data.tables import read_table, write_table

SETS = ("vqa-v2", "text-vqa", "tally-qa", "ok-vqa", "a-okvqa", "mantis-nlvr2", "mantis-llava-665k-multi",
        "mantis-spot-the-diff")


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    r = tmp_path_factory.mktemp("ai2")
    write_sample(r, datasets=SETS, progress=False)
    return r


def _check_scene_answer(img: np.ndarray, t: dict, answer: str) -> None:
    assert answer == t["answer"]
    if "objects" in t:  # a count: the recorded objects of that shape, each visible in its colour
        assert answer == str(len(t["objects"]))
        for o in t["objects"]:
            x, y = (int(round(v)) for v in o["center"])
            assert pixel_color_name(img[y, x]) == o["color"]
    elif "center" in t:  # a colour: the pixel at the shape's centre has it
        x, y = (int(round(v)) for v in t["center"])
        assert pixel_color_name(img[y, x]) == answer


@pytest.mark.parametrize("name", ["vqa-v2", "tally-qa", "ok-vqa"])
def test_vqa_sets_answers_true_for_pixels(root: Path, name: str) -> None:
    ds = get_dataset(name, root=root)
    truth = {t["question"] + "|" + t["image"]: t for t in load_truth(name, root).values()}
    checked = 0
    for i in range(len(ds)):
        ex = ds.get(i, np.random.RandomState(i))
        img = ex.images[0].load()
        rel = str(Path(ex.images[0].path).relative_to(paths.files_dir(root)))
        for ann in ex.annotations:
            assert isinstance(ann, VQA)
            t = truth[ann.question + "|" + rel]
            answers = ann.answers if isinstance(ann.answers, list) else [ann.answers]
            top = max(set(answers), key=answers.count)  # the training answer: the most frequent
            _check_scene_answer(img, t, top)
            checked += 1
    assert len(ds) >= 20 and checked >= 20 and not ds.skipped


def test_text_vqa_word_is_painted(root: Path) -> None:
    from PIL import Image, ImageDraw

    from molmo2_data.sample.draw import TextItem, draw_text

    ds = get_dataset("text_vqa", root=root)
    truth = {t["image"]: t for t in load_truth("text-vqa", root).values()}
    assert len(ds) >= 20
    for i in range(len(ds)):
        ex = ds.get(i, np.random.RandomState(0))
        (ann,) = ex.annotations
        t = truth[str(Path(ex.images[0].path).relative_to(paths.files_dir(root)))]
        assert ann.style == "text_vqa" and ann.answers.count(t["answer"]) >= 8
        item = TextItem(**{k: tuple(v) if isinstance(v, list) else v for k, v in t["text"].items()})
        img = ex.images[0].load().astype(np.int16)
        ref = Image.new("RGB", (img.shape[1], img.shape[0]), item.background)
        draw_text(ImageDraw.Draw(ref), item)
        x0, y0 = item.xy
        box = (slice(y0, y0 + 16), slice(x0, x0 + 60))
        diff = np.abs(img[box] - np.asarray(ref, dtype=np.int16)[box]).mean()
        assert diff < 12, diff  # the JPEG of exactly this word (another word differs by far more)


def test_a_okvqa_mc_and_da(root: Path) -> None:
    truth = load_truth("a-okvqa", root)
    mc = get_dataset("a_okvqa_mc", root=root)
    assert len(mc) == 20
    n = 0
    for i in range(len(mc)):
        ex = mc.get(i, np.random.RandomState(i))
        img = ex.images[0].load()
        for ann in ex.annotations:
            assert isinstance(ann, MultipleChoice) and ann.style == "a_okvqa_mc"
            t = next(t for t in truth.values() if t["question"] == ann.question and t["choices"] == ann.options
                     and ex.images[0].path.endswith(t["image"]))
            _check_scene_answer(img, t, ann.answer)
            n += 1
    assert n >= 20
    da = get_dataset("a_okvqa_da", split="validation", root=root)
    hard = sum(1 for k in truth if truth[k]["image"].startswith("images/coco/val") and int(k[3:]) % 4 == 0)
    assert da.skipped == {"difficult direct answer": hard} and hard > 0
    for i in range(len(da)):  # flattened: one question per example, the official example_id
        ex = da.get(i, np.random.RandomState(i))
        (ann,) = ex.annotations
        assert ann.style == "a_okvqa_da" and ex.metadata.extra["example_id"] in truth


def test_mantis_mc_shuffle_and_multi_only(root: Path) -> None:
    truth = load_truth("mantis-nlvr2", root)
    ds = get_dataset("mantis_instruct_nlvr2_multi_only", root=root)
    assert len(ds) == 16 and ds.skipped == {"single image (multi_image_only)": 4}
    orders = set()
    for i in range(len(ds)):
        ex = ds.get(i, np.random.RandomState(i))
        (ann,) = ex.annotations
        t = truth[ex.metadata.extra["example_id"]]
        assert ann.answer == t["answer"] and len(ex.images) == 2
        objects = [len(np.unique(img.load().reshape(-1, 3), axis=0)) for img in ex.images]
        assert all(n > 1 for n in objects)
        orders.add(tuple(ann.options))
        counts = t["counts"]
        assert ann.answer == ("Image 1" if counts[0] > counts[1] else "Image 2" if counts[1] > counts[0] else "Neither")
    assert len(orders) > 1  # options shuffled per example, as the official does
    assert len(get_dataset("mantis-spot-the-diff", root=root)) == 20
    assert get_dataset("mantis_instruct_llava_665k_multi", root=root).NAME == "mantis-llava-665k-multi"


def test_missing_image_files_are_counted(tmp_path: Path) -> None:
    write_sample(tmp_path, datasets=["vqa-v2"], progress=False)
    first = paths.files_dir(tmp_path) / "images/coco/train/vqa-v2_train_00000.jpg"
    first.unlink()
    ds = get_dataset("vqa-v2", root=tmp_path)
    assert len(ds) == 19 and ds.skipped == {"image file missing": 1}
    shutil.rmtree(paths.files_dir(tmp_path))
    assert len(get_dataset("vqa-v2", split="validation", root=tmp_path)) == 0


def test_schema_drift_is_a_schema_error(tmp_path: Path) -> None:
    write_sample(tmp_path, datasets=["vqa-v2", "ok-vqa"], progress=False)
    p = paths.table_path("vqa-v2", "train", "train", tmp_path)
    t = read_table(p)
    write_table(t.rename_columns(["img" if c == "image" else c for c in t.column_names]), p)
    with pytest.raises(SchemaError, match="image"):
        get_dataset("vqa-v2", root=tmp_path)
    p = paths.table_path("ok-vqa", "train", "train", tmp_path)
    t = read_table(p)
    i = t.column_names.index("qas")
    write_table(t.set_column(i, "qas", pa.array([str(x) for x in t.column("qas").to_pylist()])), p)
    with pytest.raises(SchemaError, match="qas"):
        get_dataset("okvqa", root=tmp_path)


def test_split_is_config_layout(root: Path) -> None:
    """The mirrors publish one config per split, each with split "train" (as the official
    ``load_dataset(source, name=split)["train"]`` reads them)."""
    assert paths.table_path("vqa-v2", "validation", "train", root).exists()
    assert paths.table_path("a-okvqa", "val", "train", root).exists()
    from molmo2_data.datasets import dataset_class
    from molmo2_data.download.plan import Target

    assert Target("a-okvqa", dataset_class("a-okvqa")).tables() == [("train", "train"), ("val", "train"),
                                                                     ("test", "train")]
    assert set(COLORS)  # colours used by the writers
