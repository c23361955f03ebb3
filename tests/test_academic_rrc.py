"""InfographicVQA and ST-VQA, fetched by hand: the sample's JSON files and pictures go through the same
import ``download`` runs; answers are true for the pixels; the ST-VQA hold-out is the official one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from molmo2_data import paths
from molmo2_data.datasets import dataset_class, get_dataset
from molmo2_data.download.manual import import_manual
from molmo2_data.errors import SchemaError
from molmo2_data.sample import load_truth, write_sample
from molmo2_data.sample.draw import text_matches


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    r = tmp_path_factory.mktemp("rrc")
    write_sample(r, datasets=["info-qa", "st-qa"], progress=False)
    return r


def test_info_qa_answers_are_printed_on_the_picture(root: Path) -> None:
    truth = load_truth("info-qa", root)
    checked = 0
    for split in ("train", "validation"):
        ds = get_dataset("info_qa", split=split, root=root)
        for i in range(len(ds)):
            ex = ds.example(i)
            (ann,) = ex.annotations
            t = truth[str(ex.metadata.source_ids["questionId"])]
            assert ann.style == "info_qa" and ann.answers == [t["answer"]] and ann.question == t["question"]
            px = ex.images[0].load()
            kind = t["truth"]["kind"]
            if kind == "document":  # the value is drawn exactly where recorded
                (item,) = [v for k, v in t["truth"]["values"].items() if t["truth"]["fields"][k] == t["answer"]]
                assert text_matches(px, item)
            else:  # a chart: the bar's height encodes the value (or the bar count)
                bars = t["truth"]["bars"]
                if t["question"].startswith("What is the value for "):
                    (bar,) = [b for b in bars if b["label"] == t["question"][len("What is the value for "):-1]]
                    x0, y0, x1, y1 = bar["box"]
                    assert (y1 + 1 - y0) == bar["value"] * t["truth"]["px_per_unit"] == int(t["answer"]) * t["truth"]["px_per_unit"]
                    assert px[(y0 + y1) // 2, (x0 + x1) // 2].tolist() != [255, 255, 255]
            checked += 1
    assert checked >= 20
    test = get_dataset("info-qa", split="test", root=root)  # published without answers
    assert len(test) == 0 and test.skipped == {"no answer": 6}


def test_st_qa_word_on_sign_and_official_holdout(root: Path) -> None:
    truth = load_truth("st-qa", root)
    doc = json.loads((paths.manual_dir("st-qa", root) / "train_task_3.json").read_text())
    rows = sorted(doc["data"], key=lambda r: r["question_id"])  # the official rule, computed independently
    np.random.RandomState(63069).shuffle(rows)
    want = {"validation": [r["question_id"] for r in rows[:1024]], "train": [r["question_id"] for r in rows[1024:]]}
    for split in ("train", "validation"):
        ds = get_dataset("st_qa", split=split, root=root)
        got = [ds.example(i).metadata.source_ids["question_id"] for i in range(len(ds))]
        assert got == want[split]
    ds = get_dataset("st-qa", split="train", root=root)
    assert len(ds) == 40
    for i in range(len(ds)):
        ex = ds.example(i)
        (ann,) = ex.annotations
        t = truth[str(ex.metadata.source_ids["question_id"])]
        assert ann.answers[0] == t["answer"] and text_matches(ex.images[0].load(), t["text"])


def test_missing_pictures_are_counted(root: Path, tmp_path: Path) -> None:
    import shutil

    shutil.copytree(root / "manual", tmp_path / "manual")
    shutil.copytree(root / "tables", tmp_path / "tables")
    gone = paths.manual_dir("info-qa", tmp_path) / "images" / "train_0000.png"
    gone.unlink()
    ds = get_dataset("info-qa", root=tmp_path)
    assert len(ds) == 21 and ds.skipped == {"image file missing": 3}


@pytest.mark.parametrize(("mutate", "match"), [
    (lambda r: r.pop("question"), "has no 'question'"),
    (lambda r: r.update(questionId="7"), "questionId is str, expected int"),
    (lambda r: r.update(answers="x"), "answers is not a list of strings"),
])
def test_json_schema_drift_is_a_schema_error(root: Path, tmp_path: Path, mutate, match: str) -> None:
    src = paths.manual_dir("info-qa", root) / "infographicsVQA_train_v1.0.json"
    doc = json.loads(src.read_text())
    mutate(doc["data"][2])
    dst = paths.manual_dir("info-qa", tmp_path) / src.name
    dst.parent.mkdir(parents=True)
    dst.write_text(json.dumps(doc))
    with pytest.raises(SchemaError, match=match):
        import_manual("info-qa", dataset_class("info-qa"), [("default", "train")], tmp_path, log=lambda _s: None)
