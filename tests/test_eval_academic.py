"""Scoring the academic sets with their official metrics: VQA score over 10 answers, the A-OKVQA
direct-answer score, ANLS, relaxed accuracy, exact match and multiple-choice accuracy. Every expected
value is computed by hand in the comments; empty and malformed predictions included."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from molmo2_data.annotations import VQA, MultipleChoice
from molmo2_data.eval import metrics as m
from molmo2_data.eval.runner import build_report, evaluate_predictions, score_annotation
from molmo2_data.eval.style_metrics import primary_metric
from molmo2_data.example import Example, Metadata


@pytest.mark.parametrize(("k", "expected"), [(0, 0.0), (1, 0.3), (2, 0.6), (3, 0.9), (4, 1.0), (10, 1.0)])
def test_vqa_score_leave_one_out(k: int, expected: float) -> None:
    # k of 10 annotators said "cat". Leaving out one of the k: k-1 matches remain; one of the others: k.
    # mean = (k·min(1,(k-1)/3) + (10-k)·min(1,k/3)) / 10 → k=1: 9·(1/3)/10 = 0.3; k=2: (2/3+8·2/3)/10 = 0.6;
    # k=3: (3·2/3 + 7)/10 = 0.9; k=4: 1.0
    answers = ["cat"] * k + ["dog"] * (10 - k)
    assert m.vqa_score("cat", answers) == pytest.approx(expected)


def test_vqa_score_normalises_and_handles_empty() -> None:
    answers = ["2"] * 10
    assert m.vqa_score("two", answers) == 1.0  # number words become digits
    assert m.vqa_score("2.", answers) == 1.0  # trailing punctuation dropped
    assert m.vqa_score("", answers) == 0.0 and m.vqa_score("   ", answers) == 0.0
    assert m.vqa_score("2", []) == 0.0


def test_a_okvqa_score() -> None:
    answers = ["red"] * 2 + ["crimson"] * 8
    assert m.a_okvqa_score("Red ", answers) == pytest.approx(2 / 3)  # 2 matches / 3
    assert m.a_okvqa_score("crimson", answers) == 1.0  # 8 / 3 capped at 1
    assert m.a_okvqa_score("red.", answers) == 0.0  # no normalisation beyond case and spaces
    assert m.a_okvqa_score("", answers) == 0.0


def test_anls() -> None:
    assert m.anls("invoise", ["invoice"]) == pytest.approx(1 - 1 / 7)  # one edit in 7 characters
    assert m.anls("inv", ["invoice"]) == 0.0  # 4 edits / 7 = 0.57 >= 0.5: no credit
    assert m.anls("INVOICE  ", ["x", "invoice"]) == 1.0  # the best answer counts, case and spaces ignored
    assert m.anls("", ["invoice"]) == 0.0
    assert m.anls("abcd", ["abcdef"]) == pytest.approx(1 - 2 / 6)  # 2 edits / 6 = 0.33 < 0.5


def test_relaxed_accuracy() -> None:
    assert m.relaxed_correctness("52.45", "50") == 1.0  # 4.9 % off
    assert m.relaxed_correctness("52.55", "50") == 0.0  # 5.1 % off
    assert m.relaxed_correctness("0.45", "45%") == 1.0  # a percentage is its fraction
    assert m.relaxed_correctness("1,000", "1000") == 1.0
    assert m.relaxed_correctness("0", "0") == 1.0 and m.relaxed_correctness("0.01", "0") == 0.0
    assert m.relaxed_correctness("Yes.", "yes") == 1.0 and m.relaxed_correctness("", "yes") == 0.0


def test_exact_match() -> None:
    assert m.exact_match("  Hello   World. ", "hello world") == 1.0
    assert m.exact_match("hello", "hello world") == 0.0 and m.exact_match("", "x") == 0.0


def _ex(ann) -> Example:
    return Example(annotations=[ann], metadata=Metadata(dataset="t", split="validation"))


def test_multiple_choice_by_letter_text_and_malformed() -> None:
    ann = MultipleChoice("Which colour?", ["red", "blue", "green"], 1, style="a_okvqa_mc")
    ex = _ex(ann)
    assert score_annotation(ann, "B", ex).metrics == {"accuracy": 1.0, "valid": 1.0}
    assert score_annotation(ann, "(B) blue", ex).score == 1.0
    assert score_annotation(ann, "blue", ex).score == 1.0  # the option text
    assert score_annotation(ann, "A", ex).score == 0.0
    for bad in ("", "   ", "Z", "none of them"):  # empty, a letter outside the options, no option
        assert score_annotation(ann, bad, ex).metrics == {"accuracy": 0.0, "valid": 0.0}


@pytest.mark.parametrize(("style", "metric"), [
    ("vqa2", "vqa"), ("text_vqa", "vqa"), ("okvqa", "vqa"), ("a_okvqa_da", "a_okvqa"), ("tally_qa", "exact"),
    ("doc_qa", "anls"), ("info_qa", "anls"), ("st_qa", "anls"), ("chart_qa", "relaxed"), ("tabwmp_da", "exact"),
    ("dv_qa", "exact"), ("figure_qa", "exact"), ("plot_qa", "exact"), ("cosyn_chart_exp", "relaxed"),
    ("cosyn_document", "anls")])
def test_headline_metric_per_official_style(style: str, metric: str) -> None:
    assert primary_metric(style) == metric
    ann = VQA("q?", ["12"] * 10, style=style)
    scored = score_annotation(ann, "12", _ex(ann))
    assert scored.primary == metric and scored.score == 1.0


def test_doc_qa_and_chart_qa_end_to_end(sample_root: Path) -> None:
    """Predictions for the sample validation splits, right for even examples, a near miss or nonsense for
    odd ones: the report's score is computed by hand from those."""
    from molmo2_data.datasets import get_dataset

    doc = get_dataset("doc-qa", split="validation", root=sample_root)
    preds, expected = [], []
    for i in range(len(doc)):
        (ann,) = doc.example(i).annotations
        truth = ann.answers[0]
        if i % 2 == 0:
            preds.append({"index": i, "prediction": truth.upper()})  # ANLS ignores case: 1
            expected.append(1.0)
        else:
            preds.append({"index": i, "prediction": truth + "x"})  # one extra character
            expected.append(1 - 1 / (len(truth) + 1))  # one edit over len + 1 characters (< 0.5)
    preds.append({"index": 0, "prediction": 7})  # malformed: counted, not scored
    records, errors = evaluate_predictions(doc, preds)
    report = build_report("doc-qa", "validation", records, errors, len(preds), len(doc))
    assert report["overall"]["score"] == pytest.approx(float(np.mean(expected)))
    assert sum(errors.values()) == 1

    chart = get_dataset("chart-qa", split="validation", root=sample_root)
    preds, right = [], 0
    for i in range(len(chart)):
        (ann,) = chart.example(i).annotations
        truth = ann.answers[0]
        try:
            v = float(truth)
        except ValueError:
            preds.append({"index": i, "prediction": ""})  # an empty prediction scores 0
            continue
        off = 1.04 if i % 2 == 0 else 1.06  # 4 % off counts, 6 % off does not (unless the truth is 0)
        preds.append({"index": i, "prediction": f"{v * off:.6g}"})
        right += (i % 2 == 0) or v == 0
    records, errors = evaluate_predictions(chart, preds)
    report = build_report("chart-qa", "validation", records, errors, len(preds), len(chart))
    assert not errors and report["overall"]["score"] == pytest.approx(right / len(chart))
    assert report["by_style"]["chart_qa"]["n"] == len(chart) >= 8


def test_mmmu_open_answer_rule() -> None:
    # the shortest tail after an indicator: "... so the answer is 42." -> tails "the answer is 42", "42" -> "42"
    assert m.mmmu_open_candidates("So the answer is 42.") == [42.0]
    assert m.mmmu_open_score("So the answer is 42.", ["42"]) == 1.0
    assert m.mmmu_open_score("It is 3.14159", ["3.14"]) == 1.0  # numbers compared rounded to 2 places
    assert m.mmmu_open_score("It is 3.2", ["3.14"]) == 0.0
    assert m.mmmu_open_score("1,000", ["1000"]) == 1.0  # commas dropped
    assert m.mmmu_open_score("The colour is dark red", ["red"]) == 1.0  # text: the answer inside the tail
    assert m.mmmu_open_score("red", ["r"]) == 0.0  # one character is padded: " r" / "r " not in "red"
    assert m.mmmu_open_score("x = 7", ["7"]) == 1.0  # "=" counts on the last line
    assert m.mmmu_open_score("", ["7"]) == 0.0 and m.mmmu_open_score("no idea", ["7"]) == 0.0


def test_mmmu_open_questions_scored_by_the_mmmu_rule() -> None:
    ann = VQA("What is 6 times 7?", "42", style="vqa2")
    ex = Example(annotations=[ann], metadata=Metadata(dataset="mmmu", split="validation"))
    scored = score_annotation(ann, "Therefore the result is 42", ex)
    assert scored.primary == "mmmu" and scored.score == 1.0 and scored.metrics["vqa"] == 0.0
    assert score_annotation(ann, "Therefore the result is 42", _ex(ann)).primary == "vqa"  # another set
