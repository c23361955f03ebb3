"""PixMo image sets (cap-qa, points, points-eval, count, ask-model-anything, docs, clocks) and
CoSyn-point: readers against the sample data's ground truth and pixels, options, and bad input."""

from __future__ import annotations

import hashlib
import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from molmo2_data import paths
from molmo2_data.datasets import get_dataset
from molmo2_data.datasets.pixmo import split_turns
from molmo2_data.errors import SchemaError
from molmo2_data.example import ClockTime, Count, Example, Messages, Pointing, annotation_summary
from molmo2_data.media.clock import face_geometry, hand_angles, polar, render_clock
from molmo2_data.sample import load_truth, write_sample
from molmo2_data.sample.draw import COLORS, pixel_color_name, text_matches
from molmo2_data.tables import read_table, write_table

MIN_EXAMPLES = 20


def _examples(ds: Any, n: int | None = None) -> list[Example]:
    n = len(ds) if n is None else min(n, len(ds))
    return [ds.get(i, np.random.RandomState(i)) for i in range(n)]


def _pixel(image: np.ndarray, point: np.ndarray, scale: tuple[float, float]) -> np.ndarray:
    """The pixel under a point given in ``scale`` units (percent or pixels)."""
    h, w = image.shape[:2]
    x = min(w - 1, max(0, int(point[0] / scale[0] * w)))
    y = min(h - 1, max(0, int(point[1] / scale[1] * h)))
    return image[y, x]


def _objects_with(truth: dict, label: str) -> list[dict]:
    return [o for o in truth["objects"] if f"{o['color']} {o['shape']}" == label]


def _check_points_on_objects(ex: Example, truth: dict, ann: Pointing) -> None:
    """Every point lies on a drawn object of the label's colour; the count equals the drawn objects."""
    image = ex.images[0].load()
    objs = _objects_with(truth, ann.label)
    assert ann.count == len(objs) == len(ann.points)
    color = ann.label.split(" ")[0]
    for p in ann.points:
        assert pixel_color_name(_pixel(image, p, ann.scale)) == color, (ann.label, p)


# ---------------------------------------------------------------------------------------------
# pixmo-points
# ---------------------------------------------------------------------------------------------


def test_pixmo_points_are_true_filtered_and_split(sample_root: Path) -> None:
    ds = get_dataset("pixmo-points", root=sample_root)
    truth = load_truth("pixmo-points", sample_root)
    eval_urls = set(read_table(paths.table_path("pixmo-points-eval", "default", "test", sample_root))
                    .column("image_url").to_pylist())
    assert len(ds) >= MIN_EXAMPLES
    assert dict(ds.skipped) == {"image in pixmo-points-eval": 3, "label with more than 60 points": 1}
    urls, negatives, clipped = [], 0, 0
    for ex in _examples(ds) + _examples(get_dataset("pixmo-points", "validation", root=sample_root)):
        url = ex.metadata.source_ids["image_url"]
        assert url not in eval_urls
        urls.append(url)
        data = Path(ex.images[0].path).read_bytes()
        assert ex.metadata.source_ids["image_sha256"] == hashlib.sha256(data).hexdigest()
        assert sum(len(a.points) for a in ex.annotations) <= 60
        for ann in ex.annotations:
            assert isinstance(ann, Pointing) and ann.scale == (100.0, 100.0) and ann.style == "pointing"
            assert len(ann.points) <= 60 and ((ann.points >= 0) & (ann.points <= 100)).all()
            negatives += ann.count == 0
            clipped += bool((ann.points[:, 0] == 0).any())
            _check_points_on_objects(ex, truth[url], ann)
    assert negatives == 18  # every "pointing" image has one negative label
    assert clipped == 1  # the point annotated at x = -0.4 % is clipped to 0 and lies on the edge object
    # the image whose labels total 65 points became two examples
    split_urls = [u for u in set(urls) if urls.count(u) > 1]
    assert len(split_urls) <= 1


def test_pixmo_points_split_image_keeps_every_label(sample_root: Path) -> None:
    truth = load_truth("pixmo-points", sample_root)
    both = get_dataset("pixmo-points", root=sample_root, subset="counting")
    val = get_dataset("pixmo-points", "validation", root=sample_root, subset="counting")
    by_url: dict[str, list[int]] = {}
    for ex in _examples(both) + _examples(val):
        by_url.setdefault(ex.metadata.source_ids["image_url"], []).append(sum(a.count for a in ex.annotations))
    big = [u for u, t in truth.items() if len(t["objects"]) == 65]
    assert len(big) == 1 and sorted(by_url[big[0]]) == [30, 35]
    over = [u for u, t in truth.items() if len(t["objects"]) == 76]  # 64 (dropped) + 12
    assert len(over) == 1 and by_url[over[0]] == [12]


def test_pixmo_points_subsets_styles_and_holdout(sample_root: Path) -> None:
    pointing = get_dataset("pixmo-points", root=sample_root, subset="pointing")
    counting = get_dataset("pixmo-points", root=sample_root, collection_method="counting")
    every = get_dataset("pixmo-points", root=sample_root)
    assert len(pointing) + len(counting) == len(every)
    assert {e.metadata.extra["collection_method"] for e in _examples(counting)} == {"counting"}
    doubled = get_dataset("pixmo-points", root=sample_root, subset="pointing", counting="both")
    assert len(doubled) == 2 * len(pointing)
    a, b = doubled.get(4, np.random.RandomState(0)), doubled.get(5, np.random.RandomState(0))
    assert a.metadata.rows == b.metadata.rows
    assert [x.style for x in a.annotations] == ["point_count"] * len(a.annotations)
    assert {x.mode for x in b.annotations} == {"point"} and {x.mode for x in a.annotations} == {"point_count"}
    val = get_dataset("pixmo-points", "validation", root=sample_root)
    train_urls = {e.metadata.source_ids["image_url"] for e in _examples(every)}
    val_urls = {e.metadata.source_ids["image_url"] for e in _examples(val)}
    assert len(val) >= 2 and not train_urls & val_urls
    with pytest.raises(ValueError, match="subset"):
        get_dataset("pixmo-points", root=sample_root, subset="basic")


# ---------------------------------------------------------------------------------------------
# pixmo-points-eval
# ---------------------------------------------------------------------------------------------


def test_pixmo_points_eval_points_lie_in_masks(sample_root: Path) -> None:
    ds = get_dataset("pixmo-points-eval", split="test", root=sample_root)
    truth = load_truth("pixmo-points-eval", sample_root)
    assert len(ds) >= MIN_EXAMPLES
    for ex in _examples(ds):
        url = ex.metadata.source_ids["image_url"]
        (ann,) = ex.annotations
        assert ann.label == truth[url]["label"]
        _check_points_on_objects(ex, truth[url], ann)
        masks = ex.metadata.extra["masks"]
        w, h = truth[url]["size"]
        assert masks.dtype == bool and masks.shape == (len(ann.points), h, w)
        image = ex.images[0].load()
        for k, p in enumerate(ann.points):
            px, py = int(p[0] / 100 * w), int(p[1] / 100 * h)
            assert masks[k, py, px]
            # the mask covers exactly pixels of the object's colour (JPEG may blur its border)
            inside = image[masks[k]]
            names = [pixel_color_name(c) for c in inside[:: max(1, len(inside) // 25)]]
            assert names.count(ann.label.split(" ")[0]) >= 0.8 * len(names)


# ---------------------------------------------------------------------------------------------
# pixmo-count
# ---------------------------------------------------------------------------------------------


def test_pixmo_count_train_points_are_pixels(sample_root: Path) -> None:
    ds = get_dataset("pixmo-count", root=sample_root)
    truth = load_truth("pixmo-count", sample_root)
    assert len(ds) >= MIN_EXAMPLES
    for ex in _examples(ds):
        t = truth[ex.metadata.source_ids["image_url"]]
        (ann,) = ex.annotations
        assert isinstance(ann, Pointing) and ann.scale == tuple(float(v) for v in t["size"])
        assert ann.label == t["label"]
        _check_points_on_objects(ex, t, ann)


@pytest.mark.parametrize("split", ["validation", "test"])
def test_pixmo_count_eval_splits_are_counts(sample_root: Path, split: str) -> None:
    ds = get_dataset("pixmo-count", split=split, root=sample_root)
    truth = load_truth("pixmo-count", sample_root)
    assert len(ds) == 10
    for ex in _examples(ds):
        t = truth[ex.metadata.source_ids["image_url"]]
        (ann,) = ex.annotations
        assert isinstance(ann, Count) and 2 <= ann.count <= 10
        objs = _objects_with(t, ann.label)
        assert ann.count == len(objs)
        image = ex.images[0].load()
        for o in objs:
            assert pixel_color_name(image[int(o["center"][1]), int(o["center"][0])]) == o["color"]


def test_pixmo_count_counting_both(sample_root: Path) -> None:
    ds = get_dataset("pixmo-count", root=sample_root, counting="both")
    assert len(ds) == 2 * len(get_dataset("pixmo-count", root=sample_root))
    assert [ds.get(i, np.random.RandomState(0)).annotations[0].style for i in range(4)] == \
        ["point_count", "pointing", "point_count", "pointing"]


# ---------------------------------------------------------------------------------------------
# QA sets
# ---------------------------------------------------------------------------------------------


def _check_scene_answer(question: str, answer: str, truth: dict, image: np.ndarray) -> None:
    """Answers about a scene agree with the drawn objects (and the pixels at their centres)."""
    if question.startswith("How many "):
        color, shape_plural = question[len("How many "):].split(" ")[:2]
        objs = [o for o in truth["objects"] if o["color"] == color and shape_plural.startswith(o["shape"])]
        assert int(answer) == len(objs)
        for o in objs:
            assert pixel_color_name(image[int(o["center"][1]), int(o["center"][0])]) == color
    elif question.startswith("Is there a "):
        color, shape = question[len("Is there a "):].split(" ")[:2]
        present = any(o["color"] == color and o["shape"] == shape for o in truth["objects"])
        assert answer == ("Yes." if present else "No.")
    else:
        assert question.startswith("What color ")
        shape = question.split(" ")[-1].rstrip("?")
        objs = [o for o in truth["objects"] if shape.startswith(o["shape"])]
        assert len({o["color"] for o in objs}) == 1 and answer.endswith(f" {objs[0]['color']}.")
        assert question.startswith("What color is") == (len(objs) == 1)
        for o in objs:
            assert pixel_color_name(image[int(o["center"][1]), int(o["center"][0])]) == o["color"]


def test_pixmo_ask_model_anything_trees(sample_root: Path) -> None:
    ds = get_dataset("pixmo-ask-model-anything", root=sample_root)
    truth = load_truth("pixmo-ask-model-anything", sample_root)
    assert len(ds) >= MIN_EXAMPLES
    for ex in _examples(ds):
        url = ex.metadata.source_ids["image_url"]
        t = truth[url]
        pairs = [(a.messages[0].content, a.messages[1].content) for a in ex.annotations]
        assert pairs == [tuple(p) for p in t["qa"]]
        assert all(isinstance(a, Messages) and a.style == "user_qa" for a in ex.annotations)
        image = ex.images[0].load()
        for q, a in pairs:
            _check_scene_answer(q, a, t, image)


def test_pixmo_cap_qa_multi_turn_from_markers_and_messages(sample_root: Path) -> None:
    by_markers = get_dataset("pixmo-cap-qa", root=sample_root)
    by_messages = get_dataset("pixmo-capqa", root=sample_root, source="messages")
    truth = load_truth("pixmo-cap-qa", sample_root)
    assert len(by_markers) == len(by_messages) >= MIN_EXAMPLES
    multi = 0
    for ex, ex2 in zip(_examples(by_markers), _examples(by_messages), strict=True):
        t = truth[ex.metadata.source_ids["image_url"]]
        convs = [[m.content for m in a.messages] for a in ex.annotations]
        assert convs == t["conversations"] == [[m.content for m in a.messages] for a in ex2.annotations]
        image = ex.images[0].load()
        for a in ex.annotations:
            roles = [m.role for m in a.messages]
            assert roles == ["user", "assistant"] * (len(roles) // 2)
            multi += len(roles) > 2
            for q, ans in zip(a.messages[::2], a.messages[1::2], strict=True):
                _check_scene_answer(q.content, ans.content, t, image)
    assert multi >= 10


def test_split_turns() -> None:
    msgs = split_turns("[USER] How many? [ASSISTANT] 3 [USER] Which colour?", "Red.")
    assert [(m.role, m.content) for m in msgs] == [("user", "How many?"), ("assistant", "3"),
                                                   ("user", "Which colour?"), ("assistant", "Red.")]
    assert [m.content for m in split_turns("Plain question?", " A ")] == ["Plain question?", "A"]
    with pytest.raises(ValueError, match="alternate"):
        split_turns("[USER] a [USER] b", "c")
    with pytest.raises(ValueError, match="start with"):
        split_turns("hello [ASSISTANT] a [USER] b", "c")


# ---------------------------------------------------------------------------------------------
# pixmo-docs
# ---------------------------------------------------------------------------------------------


def _check_document(truth: dict, image: np.ndarray, qa: list[tuple[str, str]]) -> None:
    kind = truth["kind"]
    answers = dict(qa)
    if kind == "bar_chart":
        for bar in truth["bars"]:
            x0, y0, x1, y1 = bar["box"]
            column = image[:, (x0 + x1) // 2]
            rgb = np.array(COLORS[bar["color"]])
            height = int((np.abs(column.astype(int) - rgb).max(axis=1) <= 8).sum())
            assert height == bar["value"] * truth["px_per_unit"]
            assert answers[f"What is the value for {bar['label']}?"] == bar["value_text"]["text"] == str(bar["value"])
            assert text_matches(image, bar["value_text"]) and text_matches(image, bar["label_text"])
    elif kind == "table":
        for line in truth["cells"]:
            for cell in line:
                assert text_matches(image, cell)
        for (name, price, stock), line in zip(truth["rows"], truth["cells"][1:], strict=True):
            assert answers[f"What is the price of the {name.lower()}?"] == line[1]["text"] == price
            assert answers[f"How many units of {name.lower()} are in stock?"] == line[2]["text"] == stock
    elif kind == "diagram":
        for box in truth["boxes"]:
            assert text_matches(image, box["text"])
            x0, y0, _, _ = box["box"]
            assert tuple(image[y0 + 3, x0 + 3]) == tuple(truth["box_fill"])
        steps = [b["text"]["text"] for b in sorted(truth["boxes"], key=lambda b: b["box"][0])]
        assert answers["What is the first step?"] == steps[0]
        for a, b in zip(steps, steps[1:], strict=False):
            assert answers[f"Which step comes after {a}?"] == b
    else:
        assert kind == "document"
        for item in truth["values"].values():
            assert text_matches(image, item)
        assert answers["What is the total amount?"] == truth["values"]["Total"]["text"]
        assert answers["What is the invoice number?"] == truth["values"]["Invoice number"]["text"]
    # a wrong answer is not what the image shows
    wrong = dict(next(iter(truth.get("values", {}).values()), {"text": "x", "xy": [10, 60], "size": 13,
                                                                  "fill": [20, 20, 20], "background": [255] * 3}))
    wrong["text"] = wrong["text"] + "9"
    assert not text_matches(image, wrong)


def test_pixmo_docs_answers_are_what_the_images_show(sample_root: Path) -> None:
    ds = get_dataset("pixmo-docs", root=sample_root)
    truth = load_truth("pixmo-docs", sample_root)
    assert len(ds) >= MIN_EXAMPLES
    configs = set()
    for ex in _examples(ds):
        image_id = ex.metadata.source_ids["image_id"]
        config = ex.metadata.extra["config"]
        configs.add(config)
        qa = [(a.messages[0].content, a.messages[1].content) for a in ex.annotations]
        assert qa == [tuple(p) for p in truth[image_id]["qa"]]
        assert {a.style for a in ex.annotations} == {f"pixmo_docs_{config}"}
        assert image_id.startswith(config)
        _check_document(truth[image_id], ex.images[0].load(), qa)
    assert configs == {"charts", "diagrams", "tables", "other"}
    val = get_dataset("pixmo-docs", "validation", root=sample_root, config=["tables", "other"])
    assert len(val) == 6 and {e.metadata.extra["config"] for e in _examples(val)} == {"tables", "other"}


# ---------------------------------------------------------------------------------------------
# CoSyn-point
# ---------------------------------------------------------------------------------------------


def test_cosyn_point_one_annotation_per_question(sample_root: Path) -> None:
    ds = get_dataset("cosyn-point", root=sample_root)
    truth = load_truth("cosyn-point", sample_root)
    assert len(ds) >= MIN_EXAMPLES
    for ex in _examples(ds):
        t = truth[ex.metadata.source_ids["id"]]
        labels = sorted({f"{o['color']} {o['shape']}" for o in t["objects"]})
        assert [a.label for a in ex.annotations] == labels
        for ann in ex.annotations:
            assert ann.style == "cosyn_point" and ann.mode == "point" and ann.scale == (100.0, 100.0)
            assert ann.question == f"Point to every {ann.label} in the figure."
            _check_points_on_objects(ex, t, ann)
    val = get_dataset("cosyn-point", "validation", root=sample_root)  # the layout with `names`
    assert len(val) == 6
    t = truth[val[0].metadata.source_ids["id"]]
    assert [a.label for a in val[0].annotations] == sorted({f"{o['color']} {o['shape']}" for o in t["objects"]})


def test_cosyn_point_published_layout_has_no_names(sample_root: Path) -> None:
    """The published card has no `names` column: the train sample follows it and labels come from the
    questions; the validation sample keeps `names` (the layout the official loader reads)."""
    from molmo2_data.datasets.pixmo_points import label_from_question
    from molmo2_data.tables import read_table

    tables = sample_root / "tables" / "cosyn-point" / "default"
    assert "names" not in read_table(tables / "train.arrow").column_names
    assert "names" in read_table(tables / "validation.arrow").column_names
    assert label_from_question("Point to every pink triangle in the figure.") == "pink triangle"
    assert label_from_question("Point at all of the stars") == "stars"
    assert label_from_question("Where are the bars above 50 in this chart?") == "bars above 50"
    assert label_from_question("How many dots are there?") == "How many dots are there?"


# ---------------------------------------------------------------------------------------------
# pixmo-clocks
# ---------------------------------------------------------------------------------------------


def _hand_fraction(image: np.ndarray, angle: float, length: float, color: tuple[int, ...],
                   also: list[tuple[int, ...]]) -> tuple[float, float]:
    """Along a hand's expected angle: the fraction of samples in the hand's colour, and in its colour
    or a colour of a hand drawn on top of it."""
    cx, cy, r = face_geometry(image.shape[0])
    own = either = 0
    radii = np.linspace(0.15, 0.95 * length, 12)
    for f in radii:
        x, y = polar(cx, cy, f * r, angle)
        px = tuple(int(v) for v in image[int(round(y)), int(round(x))])
        own += px == tuple(color)
        either += px == tuple(color) or px in [tuple(c) for c in also]
    return own / len(radii), either / len(radii)


def _angle_gap(a: float, b: float) -> float:
    d = abs(a - b) % 360
    return min(d, 360 - d)


def _check_clock(image: np.ndarray, hour: int, minute: int, second: int | None, style: dict) -> None:
    angles = hand_angles(hour, minute, second)
    hands = [("hour", style["hour_hand"], style["hour_length"]),
             ("minute", style["minute_hand"], style["minute_length"])]
    if second is not None:
        hands.append(("second", style["second_hand"], style["second_length"]))
    for k, (name, color, length) in enumerate(hands):
        on_top = [h[1] for h in hands[k + 1:]]
        own, either = _hand_fraction(image, angles[name], length, color, on_top)
        covered = any(_angle_gap(angles[name], angles[h[0]]) < 12 for h in hands[k + 1:])
        assert either >= 0.9 and (covered or own >= 0.75), (name, own, either)
        # 90 degrees off (3 hours / 15 minutes wrong) the hand is not there
        wrong = angles[name] + 90
        if all(_angle_gap(wrong, a) > 20 for a in angles.values()):
            assert _hand_fraction(image, wrong, length, color, [])[0] == 0.0


def test_pixmo_clocks_show_the_annotated_time(sample_root: Path) -> None:
    ds = get_dataset("pixmo-clocks", root=sample_root)
    truth = load_truth("pixmo-clocks", sample_root)
    assert len(ds) >= MIN_EXAMPLES
    for ex in _examples(ds):
        (ann,) = ex.annotations
        t = truth[ex.metadata.source_ids["example_id"]]
        assert isinstance(ann, ClockTime)
        assert (ann.hour % 12, ann.minute, ann.second) == (t["hour"] % 12, t["minute"], t["second"])
        expected = f"{ann.hour}:{ann.minute:02d}" + ("" if ann.second is None else f":{ann.second:02d}")
        assert ann.text.startswith(expected)
        image = ex.images[0].load()
        assert image.shape == (t["size"], t["size"], 3)
        _check_clock(image, ann.hour, ann.minute, ann.second, t["style"])


def test_render_clock_known_times() -> None:
    from molmo2_data.media.clock import ClockStyle

    st = ClockStyle()
    cx, cy, r = face_geometry(200)
    img = np.asarray(render_clock(3, 0, None, size=200))
    assert tuple(img[int(cy), int(cx + 0.35 * r)]) == st.hour_hand  # 3 o'clock: hour hand points right
    assert tuple(img[int(cy - 0.6 * r), int(cx)]) == st.minute_hand  # minute hand points up
    assert tuple(img[int(cy + 0.6 * r), int(cx)]) == st.face  # nothing points down
    img = np.asarray(render_clock(12, 0, 15, size=200))
    assert tuple(img[int(cy), int(cx + 0.8 * r)]) == st.second_hand  # 15 s: second hand points right
    assert tuple(img[int(cy - 0.3 * r), int(cx)]) == st.minute_hand  # minute over hour hand at 12
    for h, m, s in [(0, 0, None), (11, 59, 59), (18, 30, 15), (7, 5, None)]:
        _check_clock(np.asarray(render_clock(h, m, s, size=180, style=st)), h, m, s, st.to_json())
    with pytest.raises(ValueError, match="not a time"):
        render_clock(25, 0)


# ---------------------------------------------------------------------------------------------
# Determinism and bad input
# ---------------------------------------------------------------------------------------------

ALL = [("pixmo-points", "train"), ("pixmo-points-eval", "test"), ("pixmo-count", "train"),
       ("pixmo-count", "test"), ("pixmo-ask-model-anything", "train"), ("pixmo-cap-qa", "train"),
       ("pixmo-docs", "train"), ("cosyn-point", "train"), ("pixmo-clocks", "train")]


def _fingerprint(ex: Example) -> bytes:
    anns = [{k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in annotation_summary(a).items()}
            for a in ex.annotations]
    images = [im.path or hashlib.sha256(im.data or b"").hexdigest() for im in ex.images]
    return pickle.dumps((anns, images, ex.metadata.rows, sorted(ex.metadata.source_ids.items())))


@pytest.mark.parametrize(("name", "split"), ALL)
def test_get_is_deterministic(sample_root: Path, name: str, split: str) -> None:
    ds = get_dataset(name, split=split, root=sample_root)
    first = [_fingerprint(ds.get(i, np.random.RandomState(5))) for i in range(len(ds))]
    again = get_dataset(name, split=split, root=sample_root)  # from the cached index
    assert [_fingerprint(again.get(i, np.random.RandomState(5))) for i in range(len(ds))] == first
    assert len(set(first)) == len(first)


def _rewrite(root: Path, name: str, split: str, config: str, change) -> None:
    p = paths.table_path(name, config, split, root)
    table = read_table(p)
    write_table(change(table), p.with_name("tmp.arrow"))
    p.with_name("tmp.arrow").replace(p)


REQUIRED = [("pixmo-points", "train", "points"), ("pixmo-points-eval", "test", "masks"),
            ("pixmo-count", "train", "points"), ("pixmo-ask-model-anything", "train", "answer"),
            ("pixmo-cap-qa", "train", "question"), ("pixmo-docs", "train", "questions"),
            ("cosyn-point", "train", "answer_points"), ("pixmo-clocks", "train", "minute_visible")]


@pytest.mark.parametrize(("name", "split", "column"), REQUIRED)
def test_missing_column_is_a_schema_error(tmp_path: Path, name: str, split: str, column: str) -> None:
    write_sample(tmp_path, seed=1, datasets=[name], progress=False)
    config = "charts" if name == "pixmo-docs" else "default"
    _rewrite(tmp_path, name, split, config, lambda t: t.drop_columns([column]))
    with pytest.raises(SchemaError, match=f"missing column '{column}'"):
        get_dataset(name, split=split, root=tmp_path, **({"config": "charts"} if name == "pixmo-docs" else {}))


@pytest.mark.parametrize(("name", "split"), [("pixmo-points", "train"), ("pixmo-points-eval", "test"),
                                             ("pixmo-count", "test"), ("pixmo-ask-model-anything", "train"),
                                             ("pixmo-cap-qa", "train")])
def test_missing_url_images_are_counted_skips(tmp_path: Path, name: str, split: str) -> None:
    write_sample(tmp_path, seed=1, datasets=[name], progress=False)
    n_before = len(get_dataset(name, split=split, root=tmp_path))
    table = read_table(paths.table_path(name, "default", "train" if split == "train" else split, tmp_path))
    urls = list(dict.fromkeys(table.column("image_url").to_pylist()))[:2]
    for url in urls:
        paths.url_image_path(url, tmp_path).unlink()
    ds = get_dataset(name, split=split, root=tmp_path)
    assert ds.skipped["image missing locally"] >= 2
    assert len(ds) < n_before


def test_unrendered_clocks_are_counted_skips(tmp_path: Path) -> None:
    write_sample(tmp_path, seed=1, datasets=["pixmo-clocks"], progress=False)
    n = len(get_dataset("pixmo-clocks", root=tmp_path))
    for name in ("train-000003.png", "train-000007.png"):
        (paths.clock_dir(tmp_path) / name).unlink()
    ds = get_dataset("pixmo-clocks", root=tmp_path)
    assert len(ds) == n - 2 and dict(ds.skipped) == {"clock image not rendered": 2}
    ids = {ds.get(i, np.random.RandomState(0)).metadata.source_ids["example_id"] for i in range(len(ds))}
    assert not ids & {"train-000003", "train-000007"}


def test_render_rows_fills_the_clock_dir(tmp_path: Path) -> None:
    from molmo2_data.media.clock import render_rows, style_for_watchface

    write_sample(tmp_path, seed=1, datasets=["pixmo-clocks"], progress=False)
    table = read_table(paths.table_path("pixmo-clocks", "default", "validation", tmp_path))
    for f in paths.clock_dir(tmp_path).glob("validation-*.png"):
        f.unlink()
    assert len(get_dataset("pixmo-clocks", "validation", root=tmp_path)) == 0
    assert render_rows(table.to_pylist(), paths.clock_dir(tmp_path), size=160) == table.num_rows
    ds = get_dataset("pixmo-clocks", "validation", root=tmp_path)
    assert len(ds) == table.num_rows
    for i, row in enumerate(table.to_pylist()):
        ann = ds.get(i, np.random.RandomState(0)).annotations[0]
        style = style_for_watchface(row["watchface_id"]).to_json()
        _check_clock(ds.get(i, np.random.RandomState(0)).images[0].load(), ann.hour, ann.minute, ann.second, style)


def _null_first_image(table: pa.Table) -> pa.Table:
    img = table.column("image").combine_chunks()
    data = pc.struct_field(img, "bytes").to_pylist()
    data[0] = None
    new = pa.StructArray.from_arrays([pa.array(data, pa.binary()), pc.struct_field(img, "path")],
                                     names=["bytes", "path"])
    return table.set_column(table.column_names.index("image"), "image", new)


@pytest.mark.parametrize("name", ["pixmo-docs", "cosyn-point"])
def test_missing_embedded_image_is_a_counted_skip(tmp_path: Path, name: str) -> None:
    write_sample(tmp_path, seed=1, datasets=[name], progress=False)
    config = "charts" if name == "pixmo-docs" else "default"
    kw = {"config": "charts"} if name == "pixmo-docs" else {}
    n = len(get_dataset(name, root=tmp_path, **kw))
    _rewrite(tmp_path, name, "train", config, _null_first_image)
    ds = get_dataset(name, root=tmp_path, **kw)
    assert len(ds) == n - 1 and dict(ds.skipped) == {"image bytes missing": 1}


def test_malformed_rows_are_counted_skips(tmp_path: Path) -> None:
    write_sample(tmp_path, seed=1, datasets=["pixmo-cap-qa", "pixmo-count"], progress=False)

    def break_first_question(t: pa.Table) -> pa.Table:
        q = t.column("question").to_pylist()
        q[0] = "[ASSISTANT] hi [USER] there"
        return t.set_column(t.column_names.index("question"), "question", pa.array(q, pa.string()))

    _rewrite(tmp_path, "pixmo-cap-qa", "train", "default", break_first_question)
    assert dict(get_dataset("pixmo-cap-qa", root=tmp_path).skipped) == {"malformed multi-turn question": 1}

    def wrong_count(t: pa.Table) -> pa.Table:
        c = t.column("count").to_pylist()
        c[0] += 1
        return t.set_column(t.column_names.index("count"), "count", pa.array(c, pa.int32()))

    _rewrite(tmp_path, "pixmo-count", "train", "default", wrong_count)
    assert dict(get_dataset("pixmo-count", root=tmp_path).skipped) == {"points do not match count": 1}


def test_clock_angles() -> None:
    assert hand_angles(3, 0, None) == {"hour": 90.0, "minute": 0.0}
    a = hand_angles(15, 30, 30)
    assert math.isclose(a["hour"], 105.25) and math.isclose(a["minute"], 183.0) and a["second"] == 180.0


def test_get_is_identical_in_another_process(sample_root: Path) -> None:
    import os
    import subprocess
    import sys

    names = ["pixmo-points", "pixmo-docs", "pixmo-clocks"]
    here = [[_fingerprint(get_dataset(n, root=sample_root).get(i, np.random.RandomState(9))) for i in range(5)]
            for n in names]
    code = (
        "import pickle,sys,numpy as np\n"
        "sys.path.insert(0, sys.argv[2])\n"
        "from molmo2_data import get_dataset\n"
        "from test_pixmo_sets import _fingerprint\n"
        f"names = {names!r}\n"
        "out = [[_fingerprint(get_dataset(n, root=sys.argv[1]).get(i, np.random.RandomState(9))) for i in range(5)]"
        " for n in names]\n"
        "sys.stdout.buffer.write(pickle.dumps(out))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(sample_root), str(Path(__file__).parent)],
                         capture_output=True, check=True, env={**os.environ, "PYTHONHASHSEED": "77"})
    assert pickle.loads(out.stdout) == here


# ---------------------------------------------------------------------------------------------
# Published layouts of other revisions
# ---------------------------------------------------------------------------------------------


def test_pixmo_cap_qa_messages_source_without_messages_column(tmp_path: Path) -> None:
    """The published card has no `messages` column: source="messages" then derives the same turns from
    question/answer instead of failing with a SchemaError."""
    write_sample(tmp_path, seed=1, datasets=["pixmo-cap-qa"], progress=False)
    with_column = get_dataset("pixmo-cap-qa", root=tmp_path, source="messages")
    want = [[[m.content for m in a.messages] for a in ex.annotations] for ex in _examples(with_column)]
    _rewrite(tmp_path, "pixmo-cap-qa", "train", "default", lambda t: t.drop_columns(["messages"]))
    derived = get_dataset("pixmo-cap-qa", root=tmp_path, source="messages")
    got = [[[m.content for m in a.messages] for a in ex.annotations] for ex in _examples(derived)]
    assert got == want and len(got) >= MIN_EXAMPLES and any(len(c) > 2 for tree in got for c in tree)


def test_pixmo_clocks_revisions(tmp_path: Path) -> None:
    """Revision ad2996a (no watchface_name) reads; the first revision (hour/minute/second, no answer text)
    is a SchemaError that names the revision the reader needs."""
    write_sample(tmp_path, seed=1, datasets=["pixmo-clocks"], progress=False)
    full = get_dataset("pixmo-clocks", root=tmp_path)
    want = [(a.hour, a.minute, a.second, a.text) for ex in _examples(full) for a in ex.annotations]
    _rewrite(tmp_path, "pixmo-clocks", "train", "default", lambda t: t.drop_columns(["watchface_name"]))
    ds = get_dataset("pixmo-clocks", root=tmp_path)
    assert [(a.hour, a.minute, a.second, a.text) for ex in _examples(ds) for a in ex.annotations] == want
    assert ds[0].metadata.extra["watchface_name"] is None

    def first_revision(t: pa.Table) -> pa.Table:
        return pa.table({"example_id": t["example_id"], "watchface_id": t["watchface_id"],
                         "hour": t["hour_visible"], "minute": t["minute_visible"], "second": t["second_visible"],
                         "time_format": t["time_format"]})

    _rewrite(tmp_path, "pixmo-clocks", "train", "default", first_revision)
    with pytest.raises(SchemaError, match="first published revision.*ad2996a or later"):
        get_dataset("pixmo-clocks", root=tmp_path)
