"""Eval metrics (hand-computed scores, edge cases, malformed output), the predictions runner and CLI,
galleries of every sample dataset, and a headless-Chromium check that a gallery page loads its images."""

from __future__ import annotations

import argparse
import base64
import io
import itertools
import json
import os
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from molmo2_data.datasets import get_dataset, list_datasets
from molmo2_data.eval import gallery
from molmo2_data.eval import metrics as m
from molmo2_data.eval.assign import linear_sum_assignment
from molmo2_data.eval.runner import (
    PredictionsError,
    evaluate,
    expected_track_points,
    format_table,
    report_json,
    score_annotation,
)
from molmo2_data.example import (
    Caption,
    ClockTime,
    Count,
    Example,
    ImageRef,
    Message,
    Messages,
    Metadata,
    MultipleChoice,
    Pointing,
    Track,
)
from molmo2_data.inspect import default_split
from molmo2_data.media.image import encode_png
from molmo2_data.text.formatter import FormatterConfig, format_annotation

# --------------------------------------------------------------------------------------------
# Assignment
# --------------------------------------------------------------------------------------------


def test_assignment_hand_example() -> None:
    cost = np.array([[4.0, 1, 3], [2, 0, 5], [3, 2, 2]])
    rows, cols = linear_sum_assignment(cost)
    assert rows.tolist() == [0, 1, 2] and cols.tolist() == [1, 0, 2]
    assert cost[rows, cols].sum() == 5.0


@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (4, 4), (1, 6), (6, 1)])
def test_assignment_matches_brute_force(shape: tuple[int, int]) -> None:
    rng = np.random.RandomState(sum(shape))
    for _ in range(20):
        cost = rng.randint(0, 6, shape).astype(float)
        rows, cols = linear_sum_assignment(cost)
        n, k = shape
        assert len(rows) == min(n, k) and len(set(cols.tolist())) == len(cols)
        if n <= k:
            best = min(cost[np.arange(n), list(p)].sum() for p in itertools.permutations(range(k), n))
        else:
            best = min(cost[list(p), np.arange(k)].sum() for p in itertools.permutations(range(n), k))
        assert cost[rows, cols].sum() == best


def test_assignment_empty() -> None:
    rows, cols = linear_sum_assignment(np.zeros((0, 3)))
    assert rows.shape == (0,) and cols.shape == (0,)


# --------------------------------------------------------------------------------------------
# Pointing
# --------------------------------------------------------------------------------------------

SIZE = (100, 100)  # pixels; default hit radius 5 % of the diagonal = 7.07 px


def px(points: list[tuple[float, float]]) -> np.ndarray:
    return np.asarray(points, dtype=np.float64).reshape(-1, 2) / np.asarray(SIZE)


def test_point_score_distance_threshold() -> None:
    s = m.point_score(px([(12, 10), (50, 58), (90, 90)]), px([(10, 10), (50, 50)]), SIZE)
    assert (s.tp, s.n_pred, s.n_true) == (1, 3, 2)  # 2 px hit; 8 px > 7.07 px miss
    assert s.precision == pytest.approx(1 / 3) and s.recall == 0.5 and s.f1 == pytest.approx(0.4)
    assert m.point_score(px([(50, 58)]), px([(50, 50)]), SIZE, threshold_px=8.0).tp == 1


def test_point_matching_is_one_to_one_and_maximal() -> None:
    # p0 is 4 px from both truths, p1 only hits t0: greedy nearest could give 1 hit, the optimum is 2.
    pred, true = px([(54, 50), (44, 50)]), px([(50, 50), (58, 50)])
    rows, cols = m.match_points(pred, true, SIZE, threshold_px=10.0)
    assert sorted(zip(rows.tolist(), cols.tolist(), strict=True)) == [(0, 1), (1, 0)]
    # two predictions on the same single object: one hit only
    s = m.point_score(px([(10, 10), (11, 10)]), px([(10, 10)]), SIZE)
    assert (s.tp, s.precision, s.recall) == (1, 0.5, 1.0)


def test_point_score_empty_cases() -> None:
    none = m.point_score(np.zeros((0, 2)), np.zeros((0, 2)), SIZE)
    assert (none.precision, none.recall, none.f1) == (1.0, 1.0, 1.0)
    spurious = m.point_score(px([(1, 1), (2, 2)]), np.zeros((0, 2)), SIZE)
    assert (spurious.precision, spurious.recall, spurious.f1) == (0.0, 0.0, 0.0)
    missed = m.point_score(np.zeros((0, 2)), px([(1, 1), (5, 5), (9, 9)]), SIZE)
    assert (missed.tp, missed.n_true, missed.precision, missed.recall, missed.f1) == (0, 3, 0.0, 0.0, 0.0)


def test_point_score_masks_at_lower_resolution() -> None:
    masks = np.zeros((2, 10, 10), dtype=bool)  # 10x10 masks of a 100x100 image
    masks[0, :5, :5] = True
    masks[1, 5:, 5:] = True
    pred = px([(20, 20), (30, 30), (70, 70), (70, 20)])
    s = m.point_score(pred, np.zeros((0, 2)), SIZE, masks=masks)
    assert (s.tp, s.n_pred, s.n_true) == (2, 4, 2)
    assert s.precision == 0.5 and s.recall == 1.0 and s.f1 == pytest.approx(2 / 3)
    # a point far from the true point but inside its mask is still a hit
    assert m.point_score(px([(1, 1)]), px([(45, 45), (90, 90)]), SIZE, masks=masks).tp == 1


def test_point_score_units_percent_vs_pixels() -> None:
    # the same physical point given in percent (scale 100) and pixels (scale w, h) scores the same
    w, h = 640, 480
    true_pct = m.normalise([[50.0, 25.0]], (100, 100))
    pred_px = m.normalise([[322.0, 121.0]], (w, h))  # 2 px right, 1 px up
    hits, dist = m.hit_matrix(pred_px, true_pct, (w, h))
    assert dist[0, 0] == pytest.approx(np.hypot(2, 1)) and hits[0, 0]


def _image_example(ann: object, w: int = 200, h: int = 100, **extra: object) -> Example:
    img = ImageRef(data=encode_png(np.full((h, w, 3), 200, dtype=np.uint8)))
    return Example([ann], Metadata("test", "test", extra=dict(extra)), images=(img,))  # type: ignore[list-item]


def test_score_pointing_text_malformed_and_empty() -> None:
    ann = Pointing("dots", np.array([[10.0, 20.0], [50.0, 50.0]]), (100.0, 100.0), count=2, mode="point_count",
                   style="point_count")
    ex = _image_example(ann)
    ok = score_annotation(ann, 'Counting the <points coords="1 1 100 200 2 500 510">dots</points> shows a total of 2.',
                          ex)
    assert ok.metrics["f1"] == 1.0 and ok.metrics["count_exact"] == 1.0 and ok.primary == "f1"
    truncated = score_annotation(ann, '<points coords="1 1 100 200 2 5', ex)  # generation cut mid-number
    assert truncated.metrics["precision"] == 1.0 and truncated.metrics["recall"] == 0.5
    assert truncated.metrics["f1"] == pytest.approx(2 / 3) and truncated.metrics["count_exact"] == 0.0
    garbage = score_annotation(ann, "I cannot tell.", ex)
    assert garbage.metrics["f1"] == 0.0 and garbage.metrics["count_valid"] == 0.0
    empty = Pointing("cats", np.zeros((0, 2)), (100.0, 100.0), count=0, mode="point_count")
    none = score_annotation(empty, "There are none.", _image_example(empty))
    assert none.metrics["f1"] == 1.0 and none.metrics["count_exact"] == 1.0


def test_score_pointing_uses_masks_from_metadata() -> None:
    masks = np.zeros((1, 10, 20), dtype=bool)
    masks[0, :, 10:] = True  # right half
    ann = Pointing("thing", np.array([[75.0, 50.0]]), (100.0, 100.0))
    ex = _image_example(ann, masks=masks)
    far_inside = score_annotation(ann, '<points coords="1 1 990 990">thing</points>', ex)
    assert far_inside.metrics["f1"] == 1.0  # 96 px from the point but inside the mask
    near_outside = score_annotation(ann, '<points coords="1 1 480 500">thing</points>', ex)
    assert near_outside.metrics["f1"] == 0.0


# --------------------------------------------------------------------------------------------
# Counting, short answers, choices, clocks, captions
# --------------------------------------------------------------------------------------------


def test_count_scores() -> None:
    assert m.count_scores(3, 4) == {"exact": 0.0, "within_one": 1.0, "valid": 1.0, "abs_error": 1.0}
    assert m.count_scores(4, 4)["exact"] == 1.0
    assert m.count_scores(None, 4) == {"exact": 0.0, "within_one": 0.0, "valid": 0.0}
    ann = Count("apples", 5)
    ex = _image_example(ann)
    assert score_annotation(ann, "There are 6 apples.", ex).metrics == {
        "count_exact": 0.0, "count_within_one": 1.0, "count_valid": 1.0, "count_abs_error": 1.0}
    assert score_annotation(ann, "five", ex).metrics["count_exact"] == 1.0
    assert score_annotation(ann, "lots", ex).metrics["count_valid"] == 0.0


def test_vqa_score() -> None:
    assert m.vqa_score("2.", ["Two"]) == 1.0
    assert m.vqa_score("the dog", ["Dog"]) == 1.0
    assert m.vqa_score("cat", ["dog"]) == 0.0
    # 2 of 10 annotators said "2": leave-one-out mean of min(1, matches/3) = (2*1/3 + 8*2/3)/10
    assert m.vqa_score("2", ["2"] * 2 + ["3"] * 8) == pytest.approx(0.6)
    assert m.vqa_score("3", ["2"] * 2 + ["3"] * 8) == 1.0


def test_anls() -> None:
    assert m.anls("hello", ["hallo"]) == pytest.approx(0.8)
    assert m.anls("abc", ["xyz"]) == 0.0
    assert m.anls("ab", ["ax"]) == 0.0  # NL = 0.5 reaches the threshold
    assert m.anls("abc", ["xyz", " ABC "]) == 1.0
    assert m.levenshtein("kitten", "sitting") == 3


def test_relaxed_correctness() -> None:
    assert m.relaxed_correctness("10.4", "10") == 1.0
    assert m.relaxed_correctness("10.6", "10") == 0.0
    assert m.relaxed_correctness("45%", "0.45") == 1.0
    assert m.relaxed_correctness("0", "0") == 1.0 and m.relaxed_correctness("0.01", "0") == 0.0
    assert m.relaxed_correctness("1,000", "1000") == 1.0
    assert m.relaxed_correctness("Yes", "yes") == 1.0 and m.relaxed_correctness("no", "yes") == 0.0


def test_messages_scoring_picks_turn_and_primary() -> None:
    ann = Messages([Message("user", "Value of A?"), Message("assistant", "10"),
                    Message("user", "Title?"), Message("assistant", "Sales 2020")], style="pixmo_docs_charts")
    ex = _image_example(ann)
    first = score_annotation(ann, "10.3", ex, turn=0)
    assert first.primary == "relaxed" and first.score == 1.0 and first.metrics["exact"] == 0.0
    second = score_annotation(ann, "sales 2021", ex, turn=1)
    assert second.metrics["anls"] == pytest.approx(0.9) and second.metrics["vqa"] == 0.0


def test_multiple_choice_and_clock() -> None:
    mc = MultipleChoice("Colour?", ["red", "blue", "green"], 1)
    ex = _image_example(mc)
    assert score_annotation(mc, "B. blue", ex).metrics == {"accuracy": 1.0, "valid": 1.0}
    assert score_annotation(mc, "green", ex).metrics == {"accuracy": 0.0, "valid": 1.0}
    assert score_annotation(mc, "purple", ex).metrics == {"accuracy": 0.0, "valid": 0.0}

    assert m.clock_scores((8, 15, None), 8, 15, None)["exact"] == 1.0
    assert m.clock_scores((20, 15, None), 8, 15, None)["exact"] == 1.0  # 12-hour dial
    late = m.clock_scores((12, 59, None), 1, 0, None)
    assert (late["exact"], late["hour"], late["minute_error"], late["within_1min"]) == (0.0, 0.0, 1.0, 1.0)
    assert m.clock_scores((11, 0, None), 1, 0, None)["minute_error"] == 120.0
    secs = m.clock_scores((8, 15, 31), 8, 15, 30)
    assert (secs["exact"], secs["minute"]) == (0.0, 1.0)
    clock = ClockTime(3, 5, None, "3:05")
    assert score_annotation(clock, "The time is 3:05.", _image_example(clock)).score == 1.0
    assert score_annotation(clock, "no clock", _image_example(clock)).metrics["valid"] == 0.0


def test_caption_scores() -> None:
    s = m.caption_scores("A red car on the road", "The red car parked near the road")
    assert s["coverage"] == pytest.approx(3 / 5) and s["word_precision"] == 1.0
    assert s["words"] == 6 and s["length_ratio"] == pytest.approx(6 / 7)
    cap = Caption("a cat")
    assert score_annotation(cap, "", _image_example(cap)).metrics["coverage"] == 0.0


# --------------------------------------------------------------------------------------------
# Video pointing and tracking
# --------------------------------------------------------------------------------------------


def test_video_point_score_per_timestamp() -> None:
    true_t, true_pts, true_f = np.array([0.5, 1.0]), px([(10, 10), (50, 50), (90, 90)]), np.array([0, 1, 1])
    pred_t, pred_pts, pred_f = np.array([0.5, 1.6]), px([(10, 12), (50, 50)]), np.array([0, 1])
    s = m.video_point_score(pred_t, pred_pts, pred_f, true_t, true_pts, true_f, SIZE)
    # frame 1.6 s is not within 0.25 s of any true frame: its point is a false positive even though
    # it lies on a true point of frame 1.0 s
    assert (s.tp, s.n_pred, s.n_true) == (1, 2, 3) and s.f1 == pytest.approx(0.4)
    s2 = m.video_point_score(np.array([1.1]), px([(50, 50)]), np.array([0]), true_t, true_pts, true_f, SIZE)
    assert s2.tp == 1


def test_track_scores_id_consistency() -> None:
    true_t = np.array([0.0, 0.5])
    true_pts = px([(10, 10), (80, 80), (20, 10), (80, 70)])
    true_f, true_ids = np.array([0, 0, 1, 1]), np.array([7, 9, 7, 9])
    pred_pts = px([(10, 10), (80, 80), (80, 70), (20, 10)])
    pred_f, pred_ids = np.array([0, 0, 1, 1]), np.array([1, 2, 1, 2])  # ids swap at 0.5 s
    out = m.track_scores(true_t, pred_pts, pred_f, pred_ids, true_t, true_pts, true_f, true_ids, SIZE)
    assert out["f1"] == 1.0 and out["id_consistency"] == 0.5
    same = m.track_scores(true_t, true_pts, true_f, np.array([1, 2, 1, 2]), true_t, true_pts, true_f, true_ids,
                          SIZE)
    assert same["id_consistency"] == 1.0
    empty = m.track_scores(np.zeros(0), np.zeros((0, 2)), np.zeros(0, int), np.zeros(0, int), true_t, true_pts,
                           true_f, true_ids, SIZE)
    assert (empty["recall"], empty["f1"], empty["id_consistency"]) == (0.0, 0.0, 1.0)


def test_expected_track_points_follow_the_question() -> None:
    kw = dict(label="x", timestamps=[0.0, 0.25, 0.5, 1.0], points=np.ones((5, 2)), frame_index=[0, 1, 2, 3, 3],
              object_ids=[1, 1, 1, 1, 2], occluded=[False, False, False, True, False], scale=(1.0, 1.0), fps=2.0)
    per_frame = Track(**kw, style="video_point_track_per_frame")  # type: ignore[arg-type]
    assert expected_track_points(per_frame).tolist() == [True, False, True, False, True]
    start_end = Track(**kw, style="video_point_track_start_end")  # type: ignore[arg-type]
    assert expected_track_points(start_end).tolist() == [True, False, False, False, True]
    single = Track(**kw, style="video_single_point_track_per_frame")  # type: ignore[arg-type]
    assert expected_track_points(single).tolist() == [False, False, True, False, True]


# --------------------------------------------------------------------------------------------
# Runner and CLI on the sample data
# --------------------------------------------------------------------------------------------

EVAL_SETS = [("pixmo-points-eval", "test"), ("pixmo-count", "validation"), ("pixmo-clocks", "validation"),
             ("pixmo-docs", "validation"), ("molmo2-videopoint", "train"), ("molmo2-videotrack", "train"),
             ("molmo2-videocapqa", "train"), ("molmo2-multiimagepoint", "train"), ("pixmo-cap", "validation"),
             ("molmo2-videocounteval", "validation"), ("molmo2-videopointeval", "validation"),
             ("molmo2-capeval", "test")]


def _perfect_predictions(ds: object, limit: int = 6) -> list[dict]:
    cfg = FormatterConfig.sft(training=False)
    out = []
    for i in range(min(limit, len(ds))):  # type: ignore[arg-type]
        ex = ds.example(i)  # type: ignore[attr-defined]
        for k, ann in enumerate(ex.annotations):
            answer = format_annotation(ann, cfg, np.random.RandomState(0)).messages[1]
            out.append({"index": i, "annotation": k, "prediction": answer})
    return out


@pytest.mark.parametrize("name,split", EVAL_SETS)
def test_ground_truth_answers_score_perfectly(sample_root: Path, name: str, split: str) -> None:
    preds = _perfect_predictions(get_dataset(name, split=split, root=sample_root))
    report = evaluate(name, split, preds, root=sample_root)
    assert report["scored"] == len(preds) and report["errors"] == {}
    assert report["overall"]["score"] == 1.0
    for agg in report["by_style"].values():
        assert agg["score"] == 1.0


def test_runner_counts_bad_lines_and_scores_wrong_counts(sample_root: Path, tmp_path: Path) -> None:
    ds = get_dataset("pixmo-count", split="validation", root=sample_root)
    lines = [json.dumps({"index": i, "prediction": f"There are {ds.example(i).annotations[0].count + 1} things."})
             for i in range(len(ds))]
    lines += ["{not json", json.dumps({"index": 999, "prediction": "1"}), json.dumps({"index": 0, "prediction": "1"}),
              json.dumps({"prediction": "no index"}), json.dumps({"index": 1, "annotation": 5, "prediction": "1"})]
    path = tmp_path / "preds.jsonl"
    path.write_text("\n".join(lines) + "\n")
    report = evaluate("pixmo-count", "validation", path, root=sample_root)
    assert report["scored"] == len(ds)
    assert report["errors"] == {"invalid JSON line": 1, "line without integer index and string prediction": 1,
                                "index out of range": 1, "duplicate prediction (first kept)": 1,
                                "annotation index out of range": 1}
    metrics = report["by_style"]["point_count"]["metrics"]
    assert metrics["count_exact"] == 0.0 and metrics["count_within_one"] == 1.0 and metrics["count_abs_error"] == 1.0
    table = format_table(report)
    assert re.search(r"style\s+point_count\s+10\s+0\.000", table)
    assert json.loads(report_json(report))["overall"]["n"] == len(ds)
    with pytest.raises(PredictionsError):
        evaluate("pixmo-count", "validation", tmp_path / "missing.jsonl", root=sample_root)


def test_runner_garbage_pointing_scores_empty_truth_only(sample_root: Path) -> None:
    ds = get_dataset("pixmo-points-eval", split="test", root=sample_root)
    preds = [{"index": i, "prediction": "I don't know"} for i in range(len(ds))]
    report = evaluate("pixmo-points-eval", "test", preds, root=sample_root)
    n_masks = [len(ds.example(i).metadata.extra["masks"]) for i in range(len(ds))]
    assert report["overall"]["metrics"]["f1"] == pytest.approx(np.mean([k == 0 for k in n_masks]))
    assert report["overall"]["micro"]["tp"] == 0 and report["overall"]["micro"]["n_true"] == sum(n_masks)


def test_eval_cli_writes_json_and_html(sample_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from molmo2_data.cli import eval_cmd

    ds = get_dataset("molmo2-videotrack", split="train", root=sample_root)
    preds = _perfect_predictions(ds, limit=2)
    preds[1]["prediction"] = "<tracks coords=\"0.0 1 500"  # malformed
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in preds))
    parser = argparse.ArgumentParser()
    eval_cmd.add_parser(parser.add_subparsers())
    args = parser.parse_args(["eval", "--dataset", "molmo2-videotrack", "--predictions", str(path),
                              "--root", str(sample_root), "--html", str(tmp_path / "r.html")])
    assert args.run(args) == 0
    assert "video_point_track_per_frame" in capsys.readouterr().out
    report = json.loads((tmp_path / "p.jsonl.eval.json").read_text())
    assert [r["score"] for r in report["records"]] == [1.0, 0.0]
    page = (tmp_path / "r.html").read_text()
    assert page.count("<img ") == 2 * len(gallery.frame_times(ds.example(0)))
    assert "prediction: &lt;tracks coords=" in page


# --------------------------------------------------------------------------------------------
# Galleries
# --------------------------------------------------------------------------------------------


def _decoded_images(page: str) -> list[np.ndarray]:
    uris = re.findall(r'src="data:image/jpeg;base64,([^"]+)"', page)
    return [np.asarray(Image.open(io.BytesIO(base64.b64decode(u))).convert("RGB")) for u in uris]


def _expected_images(ds: object, n: int) -> int:
    total = 0
    for i in range(min(n, len(ds))):  # type: ignore[arg-type]
        ex = ds.example(i)  # type: ignore[attr-defined]
        total += len(gallery.frame_times(ex)) if ex.video is not None else len(ex.images)
    return total


@pytest.mark.parametrize("name", [n for n in list_datasets() if not n.startswith("test-")])
def test_gallery_renders_every_sample_dataset(sample_root: Path, tmp_path: Path, name: str) -> None:
    split = default_split(name)
    ds = get_dataset(name, split=split, root=sample_root)
    out = gallery.write_gallery(name, split, tmp_path / "g.html", n=2, root=sample_root)
    page = out.read_text()
    assert page.count('<div class="ex"') == min(2, len(ds))
    images = _decoded_images(page)
    assert len(images) == _expected_images(ds, 2)
    for img in images:
        assert img.std() > 0  # not a blank frame
    assert page.count('class="turn assistant"') >= 1


def test_gallery_draws_points_where_the_annotation_says(sample_root: Path, tmp_path: Path) -> None:
    ds = get_dataset("pixmo-points", split="train", root=sample_root)
    ex = ds.example(0)
    page = gallery.gallery_html(ds, "pixmo-points", "train", n=1)
    img = _decoded_images(page)[0]
    scale = img.shape[1] / ex.images[0].size()[0]
    anns = [a for a in ex.annotations if isinstance(a, Pointing)]
    checked = 0
    for k, ann in enumerate(anns):
        color = np.asarray(gallery.PALETTE[k % len(gallery.PALETTE)])
        later = [gallery.image_points(a, 0, 1) for a in anns[k + 1:]]
        for x, y in gallery.image_points(ann, 0, 1):
            if any(len(p) and np.min(np.hypot(*(p - [x, y]).T)) < 0.05 for p in later):
                continue  # drawn over by a later annotation
            col, row = int(x * img.shape[1]), int(y * img.shape[0])
            assert np.abs(img[row, col].astype(int) - color).max() < 40, (k, x, y)
            checked += 1
    assert checked >= 1 and scale <= 1


def test_gallery_tints_video_point_masks(sample_root: Path) -> None:
    ds = get_dataset("molmo2-videopointeval", split="validation", root=sample_root)
    ex = ds.example(0)
    page = gallery.gallery_html(ds, "molmo2-videopointeval", "validation", n=1)
    times = gallery.frame_times(ex)
    expected = [gallery.masks_at(ex.metadata.extra["video_masks"], float(t)) for t in times]
    assert all(found is not None for found in expected)
    for found in expected:
        assert f"{len(found)} masks" in page
    plain = gallery.render_video(replace(ex, metadata=replace(ex.metadata, extra={})))
    assert "masks" not in plain
    assert _decoded_images(page)[0].tolist() != _decoded_images(plain)[0].tolist()  # the tint is drawn


@pytest.mark.skipif(shutil.which("chromium") is None and not os.environ.get("CI"),
                    reason="chromium not installed (.ci/run installs it; in CI its absence fails)")
def test_gallery_loads_in_headless_chromium(sample_root: Path, tmp_path: Path) -> None:
    out = gallery.write_gallery("molmo2-multiimagepoint", "train", tmp_path / "g.html", n=2, root=sample_root)
    probe = ("<script>window.addEventListener('load', function () {"
             "var imgs = document.images, ok = 0;"
             "for (var i = 0; i < imgs.length; i++) { if (imgs[i].complete && imgs[i].naturalWidth > 0) ok++; }"
             "var d = document.createElement('div'); d.id = 'imgcheck';"
             "d.textContent = 'loaded=' + ok + ' total=' + imgs.length; document.body.appendChild(d);});</script>")
    out.write_text(out.read_text().replace("</body>", probe + "</body>"))
    chrome = [shutil.which("chromium"), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
              "--virtual-time-budget=5000"]
    dom = subprocess.run([*chrome, "--dump-dom", out.as_uri()], capture_output=True, text=True, timeout=90).stdout
    m_ = re.search(r"loaded=(\d+) total=(\d+)", dom)
    assert m_ is not None, dom[-500:]
    expected = _expected_images(get_dataset("molmo2-multiimagepoint", split="train", root=sample_root), 2)
    assert int(m_.group(1)) == int(m_.group(2)) == expected
    shot = tmp_path / "shot.png"
    subprocess.run([*chrome, "--window-size=1000,900", f"--screenshot={shot}", out.as_uri()],
                   capture_output=True, timeout=90, check=True)
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert pixels.shape[:2] == (900, 1000)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50  # drawings, not an empty page
    assert (pixels.reshape(-1, 3).std(axis=0) > 10).all()


# --------------------------------------------------------------------------------------------
# COCO RLE and mask-based video pointing (Molmo2-VideoPointEval)
# --------------------------------------------------------------------------------------------


def test_rle_hand_computed_and_round_trips() -> None:
    from molmo2_data.media import rle

    centre = np.zeros((3, 3), bool)
    centre[1, 1] = True
    assert rle.encode(centre) == {"size": [3, 3], "counts": "414"}
    assert rle.encode(centre, compressed=False)["counts"] == [4, 1, 4]
    # from the fourth run on, the difference to the run two before is written; 100 needs two groups
    assert rle.counts_to_string([2, 3, 100, 4]) == "23T31"
    assert rle.counts_from_string("11:1I") == [1, 1, 10, 2, 3]  # 3 - 10 = -7: one group, sign bit set
    column_major = rle.decode({"size": [2, 3], "counts": [1, 2, 3]})
    assert column_major.tolist() == [[False, True, False], [True, False, False]]
    rng = np.random.default_rng(0)
    for _ in range(50):
        mask = rng.random(tuple(rng.integers(1, 30, 2))) < rng.random()
        for compressed in (True, False):
            np.testing.assert_array_equal(rle.decode(rle.encode(mask, compressed)), mask)
    with pytest.raises(rle.RLEError):
        rle.decode({"size": [2, 2], "counts": [1, 2]})  # 3 pixels for a 2x2 mask
    with pytest.raises(rle.RLEError):
        rle.decode({"size": [2, 2], "counts": "1\x7f"})


def test_video_point_mask_score_hits_inside_masks_once_per_object() -> None:
    from molmo2_data.media import rle

    a = np.zeros((10, 20), bool)
    a[2:5, 2:6] = True  # object 0 at t = 1.0 (x 0.1-0.3, y 0.2-0.5)
    b = np.zeros((10, 20), bool)
    b[6:9, 10:14] = True  # object 1 at t = 2.0 and t = 3.0
    objects = [[{"time": 1.0, "rle": rle.encode(a)}],
               [{"time": 2.0, "rle": rle.encode(b)}, {"time": 3.0, "rle": rle.encode(b, compressed=False)}]]
    times = np.array([1.1, 3.0, 2.0])
    pts = np.array([[0.2, 0.3], [0.6, 0.7], [0.6, 0.7], [0.9, 0.9]])  # hit 0, hit 1, 1 again, nothing
    frame = np.array([0, 1, 2, 2])
    s = m.video_point_mask_score(times, pts, frame, objects)
    assert (s.tp, s.n_pred, s.n_true) == (2, 4, 2)
    assert m.video_point_mask_score(np.array([1.5]), pts[:1], np.array([0]), objects).tp == 0  # too far in time
    assert m.video_point_mask_score(np.zeros(0), np.zeros((0, 2)), np.zeros(0, int), objects).n_true == 2


def test_videopointeval_scores_against_masks(sample_root: Path) -> None:
    ds = get_dataset("molmo2-videopointeval", split="validation", root=sample_root)
    ex = ds.example(0)
    (ann,) = ex.annotations
    w, h = ann.scale
    masks = ex.metadata.extra["video_masks"]
    # point at every object on its *last* masked frame, not the annotated time: still all hits
    parts = [f'{frames[-1]["time"]:.1f} {k} {x / w * 1000:.0f} {y / h * 1000:.0f}'
             for k, (frames, (x, y)) in enumerate(zip(masks, ann.points, strict=True), start=1)]
    assert any(frames[-1]["time"] not in ann.timestamps for frames in masks)
    text = f'<points coords="{";".join(parts)}">{ann.label}</points>'
    report = evaluate("molmo2-videopointeval", "validation", [{"index": 0, "prediction": text}], root=sample_root)
    assert report["overall"]["score"] == 1.0
    wrong = '<points coords="0.5 1 999 999">x</points>'
    report = evaluate("molmo2-videopointeval", "validation", [{"index": 0, "prediction": wrong}], root=sample_root)
    assert report["records"][0]["metrics"]["f1"] == 0.0


def test_statement_recall_lexical_judge_and_a_plugged_judge(sample_root: Path) -> None:
    statements = ["A red circle moves from left to right.", "The background is pale blue.", "Two stars appear."]
    cats = ["action", "scene", "object"]
    got = m.statement_recall("A red circle moves from left to right over a pale blue background.", statements, cats)
    assert got == {"statement_recall": 2 / 3, "statement_recall/action": 1.0, "statement_recall/object": 0.0,
                   "statement_recall/scene": 1.0}
    assert m.statement_recall("anything", [], None) == {"statement_recall": 1.0}
    assert m.lexical_judge("Two stars appear.", "two stars") and not m.lexical_judge("Two stars appear.", "a moon")
    ds = get_dataset("molmo2-capeval", split="test", root=sample_root)
    ex = ds.example(0)
    preds = [{"index": 0, "prediction": ex.annotations[0].text}]
    report = evaluate("molmo2-capeval", "test", preds, root=sample_root)
    assert report["overall"]["score"] == 1.0 and report["records"][0]["metrics"]["statement_recall/object"] == 1.0
    strict = evaluate("molmo2-capeval", "test", preds, root=sample_root, judge=lambda statement, caption: False)
    assert strict["overall"]["score"] == 0.0  # the judge decides, e.g. a model reproducing the official one


def test_gallery_lists_capeval_statements(sample_root: Path) -> None:
    ds = get_dataset("molmo2-capeval", split="test", root=sample_root)
    page = gallery.gallery_html(ds, "molmo2-capeval", "test", n=2)
    for i in range(2):
        ex = ds.example(i)
        for statement, cat in zip(ex.metadata.extra["atomic_statements"], ex.metadata.extra["statement_categories"],
                                  strict=True):
            assert f"<li>{statement} <span class=\"meta\">[{cat}]</span></li>" in page
    assert page.count("atomic statements (") == 2
