"""Academic image QA sets (issue 13): ChartQA so far. Sample answers are true for their pixels; the
official weighting, parts filter, formatting and metric."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from molmo2_data.datasets import get_dataset
from molmo2_data.errors import ConfigError
from molmo2_data.eval.runner import score_annotation
from molmo2_data.example import VQA
from molmo2_data.sample import load_truth
from molmo2_data.text.formatter import FormatterConfig, format_conversation


def test_chart_qa_answers_are_true_for_the_pixels(sample_root: Path) -> None:
    ds = get_dataset("chart_qa", root=sample_root)  # the official name resolves
    truth = load_truth("chart-qa", sample_root)
    assert len(ds) >= 20 and not ds.skipped
    checked = 0
    for i in range(len(ds)):
        ex = ds.get(i, np.random.RandomState(i))
        (ann,) = ex.annotations
        assert isinstance(ann, VQA) and ann.style == "chart_qa" and isinstance(ann.answers, list)
        img = ex.images[0].load()
        key = next(k for k, t in truth.items() if t["question"] == ann.question and [t["answer"]] == ann.answers
                   and t["chart"]["bars"][0]["box"] and _same_chart(img, t["chart"]))
        chart = truth[key]["chart"]
        if ann.question.startswith("What is the value for "):
            label = ann.question[len("What is the value for "):-1]
            (bar,) = [b for b in chart["bars"] if b["label"] == label]
            assert ann.answers == [str(bar["value"])]
            x0, y0, x1, y1 = bar["box"]
            assert (y1 + 1 - y0) == bar["value"] * chart["px_per_unit"]  # bar height encodes the value
        elif ann.question == "How many bars are in the chart?":
            assert ann.answers == [str(len(chart["bars"]))]
        checked += 1
        assert ex.metadata.extra["is_human"] == (key.endswith("-0"))
    assert checked >= 20


def _same_chart(img: np.ndarray, chart: dict) -> bool:
    """Every bar of the chart has its colour at the centre of its box in this image."""
    from molmo2_data.sample.draw import COLORS

    for b in chart["bars"]:
        x0, y0, x1, y1 = b["box"]
        if tuple(img[(y0 + y1) // 2, (x0 + x1) // 2]) != tuple(COLORS[b["color"]]):
            return False
    return True


def test_chart_qa_weighting_and_parts(sample_root: Path) -> None:
    both = get_dataset("chart-qa", root=sample_root)
    human = get_dataset("chart-qa", root=sample_root, parts="human")
    augmented = get_dataset("chart-qa", root=sample_root, parts="augmented")
    assert len(human) + len(augmented) == len(both) and len(human) == 24
    assert human.skipped == {"not a human question": 24}
    weighted = get_dataset("chart-qa", root=sample_root, weighted=True)
    weights = {weighted.get(i, np.random.RandomState(0)).weight for i in range(len(weighted))}
    assert weights == {2 * 20901 / 28299, 2 * 7398 / 28299}
    assert both.get(0, np.random.RandomState(0)).weight is None
    with pytest.raises(ConfigError, match="parts"):
        get_dataset("chart-qa", root=sample_root, parts="people")


def test_chart_qa_format_and_relaxed_metric(sample_root: Path) -> None:
    ex = get_dataset("chart-qa", root=sample_root).get(0, np.random.RandomState(0))
    (ann,) = ex.annotations
    conv = format_conversation(ann, FormatterConfig(), np.random.RandomState(0))
    assert conv.messages == [f"chart_qa: {ann.question}", ann.answers[0]]
    value = float(ann.answers[0])
    close = score_annotation(ann, f"{value * 1.04:g}", ex)
    far = score_annotation(ann, f"{value * 1.2:g}", ex)
    assert close.primary == "relaxed" and close.metrics["relaxed"] == 1.0 and far.metrics["relaxed"] == 0.0
    assert score_annotation(ann, "", ex).metrics["relaxed"] == 0.0


def test_doc_qa_answers_are_printed_on_the_page(sample_root: Path) -> None:
    from molmo2_data.sample.draw import text_matches

    ds = get_dataset("doc_qa", root=sample_root)
    truth = load_truth("doc-qa", sample_root)
    assert len(ds) >= 20 and not ds.skipped
    fields = {"What is the invoice number?": "Invoice number", "What is the invoice date?": "Date",
              "Who is the customer?": "Customer", "What is the total amount?": "Total"}
    for i in range(len(ds)):
        ex = ds.get(i, np.random.RandomState(i))
        (ann,) = ex.annotations
        t = truth[ex.metadata.source_ids["questionId"]]
        assert ann.style == "doc_qa" and ann.question == t["question"] and ann.answers[0] == t["answer"]
        field = fields[ann.question]
        assert t["document"]["fields"][field] == t["answer"]
        assert text_matches(ex.images[0].load(), t["document"]["values"][field])  # the answer is on the page
    test = get_dataset("doc-qa", "test", root=sample_root)
    assert len(test) == 0 and test.skipped == {"no answer": 8}  # published test answers are empty


def test_doc_qa_anls(sample_root: Path) -> None:
    ex = get_dataset("doc-qa", root=sample_root).get(0, np.random.RandomState(0))
    (ann,) = ex.annotations
    assert ann.answers[0].startswith("INV-") and len(ann.answers[0]) == 8
    typo = score_annotation(ann, ann.answers[0][:-1], ex)  # one edit in 8 characters
    assert typo.primary == "anls" and typo.metrics["anls"] == pytest.approx(1 - 1 / 8)
    assert score_annotation(ann, ann.answers[1], ex).metrics["anls"] == 1.0  # any annotator answer counts
    assert score_annotation(ann, "nothing like it", ex).metrics["anls"] == 0.0


def test_science_qa_img_answer_is_the_drawn_colour(sample_root: Path) -> None:
    from molmo2_data.example import MultipleChoice
    from molmo2_data.sample.draw import COLORS

    ds = get_dataset("science_qa_img", root=sample_root)
    truth = load_truth("science-qa-img", sample_root)
    assert len(ds) >= 20 and ds.skipped == {"text-only question (no image)": 8}
    image_truth = sorted((k, t) for k, t in truth.items() if k.startswith("train-"))
    for i in range(len(ds)):
        ex = ds.get(i, np.random.RandomState(i))
        (ann,) = ex.annotations
        assert isinstance(ann, MultipleChoice) and ann.style == "science_qa"
        _, t = image_truth[i]  # rows with images, in table order (keys sort as the rows were written)
        assert ann.options == t["choices"] and ann.answer_index == t["answer"]
        x, y = (int(round(v)) for v in t["object"]["center"])
        assert tuple(ex.images[0].load()[y, x]) == COLORS[ann.answer]  # the answer is the colour drawn
        assert t["object"]["shape"] in ann.question
        assert ann.question.removeprefix("Look at the picture.\n").startswith("What colour is")  # hint + question
    scored = score_annotation(ann, f"{chr(65 + ann.answer_index)}. {ann.answer}", ex)
    assert scored.primary == "accuracy" and scored.metrics["accuracy"] == 1.0


def _script(name: str):
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_seed_download_data_command_line() -> None:
    """``python scripts/download_data.py chart_qa --n_proc 12`` is ``molmo2-data download`` for that set."""
    t = _script("download_data").translate
    assert t(["chart_qa", "--n_proc", "12"]) == ["download", "--datasets", "chart_qa", "--workers", "12"]
    assert t(["all", "--n_proc=4", "--dry-run"]) == ["download", "--stage", "all", "--workers=4", "--dry-run"]


def test_seed_download_dry_run_names_the_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main = _script("download_data").main
    assert main(["chart_qa", "--n_proc", "2", "--dry-run", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "chart-qa" in out and "HuggingFaceM4/ChartQA" in out and "0/3" in out


def test_seed_dataset_visualize(sample_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOLMO_DATA_DIR", str(sample_root))
    assert _script("dataset_visualize").main(["chart_qa", str(tmp_path / "viz"), "--num-samples", "3"]) == 0
    html = (tmp_path / "viz" / "chart_qa.html").read_text()
    first = get_dataset("chart-qa", root=sample_root)[0].annotations[0]
    assert first.question in html and "<img" in html
    assert _script("dataset_visualize").main(["chart_qa"]) == 2


def test_official_variant_name_chart_qa_weighted(sample_root: Path) -> None:
    from molmo2_data.datasets import list_datasets

    for name in ("chart_qa_weighted", "chart-qa-weighted"):
        ds = get_dataset(name, root=sample_root)
        assert ds.weighted and ds.NAME == "chart-qa"
        assert {ds.get(i, np.random.RandomState(0)).weight for i in range(len(ds))} == {2 * 20901 / 28299,
                                                                                         2 * 7398 / 28299}
    assert get_dataset("chart_qa_weighted", root=sample_root, weighted=False).weighted is False  # caller wins
    assert "chart_qa_weighted" not in list_datasets()  # a variant, not a dataset of its own
