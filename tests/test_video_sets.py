"""Molmo2 video readers on the sample data: annotations checked against the generator's ground truth
and against decoded H.264 frames (the pixel under each point has the object's colour)."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from scipy import ndimage

from molmo2_data import paths
from molmo2_data.datasets import get_dataset
from molmo2_data.datasets.molmo2_video import Molmo2VideoCapQA
from molmo2_data.errors import SchemaError, UnknownSplitError
from molmo2_data.example import Caption, Count, Messages, MultipleChoice, Track, VideoPointing
from molmo2_data.inspect import default_split
from molmo2_data.media.video import probe_video, read_frames_at
from molmo2_data.sample import load_truth
from molmo2_data.sample.draw import COLORS, NUMBER_WORDS, pixel_color_name
from molmo2_data.tables import read_table, write_table

VIDEO_SETS = ["molmo2-cap", "molmo2-videocapqa", "molmo2-videosubtitleqa", "molmo2-askmodelanything",
              "molmo2-videopoint", "molmo2-videotrack", "molmo2-videocounteval", "molmo2-videopointeval",
              "molmo2-capeval"]


def dataset(name: str, root: Path):
    return get_dataset(name, split=default_split(name), root=root)
EPS = 1e-4  # decode a hair after the annotated time: the same frame, immune to float rounding


def frames_at(ex, times: np.ndarray) -> np.ndarray:
    start = ex.video.clip_start or 0.0
    frames, _ = read_frames_at(ex.video.path, np.asarray(times, dtype=np.float64) + start + EPS)
    return frames


def colour_at(frame: np.ndarray, x: float, y: float) -> str | None:
    return pixel_color_name(frame[int(y), int(x)])


def blobs_of(frame: np.ndarray, color: str) -> int:
    """Number of connected regions of a palette colour (H.264 tolerance) in a frame."""
    diff = np.abs(frame.astype(int) - np.asarray(COLORS[color])).max(axis=2)
    labels, n = ndimage.label(diff <= 40)
    sizes = np.bincount(labels.ravel())[1:]
    return int((sizes >= 40).sum())


# ---------------------------------------------------------------------------------------------
# Molmo2-Cap
# ---------------------------------------------------------------------------------------------


def test_cap_filters_and_true_captions(sample_root: Path) -> None:
    truth = load_truth("molmo2-cap", sample_root)
    ds = get_dataset("molmo2-cap", root=sample_root)
    assert len(ds) == 24
    assert dict(ds.skipped) == {"corrupt video id": 2, "annotation_score < 3 or null": 1}
    n_two = 0
    for i in range(len(ds)):
        ex = ds.get(i, np.random.RandomState(i))
        t = truth[ex.metadata.source_ids["video_id"]]
        assert ex.metadata.source_ids["annotation_score"] >= 3
        styles = [a.style for a in ex.annotations]
        assert all(isinstance(a, Caption) for a in ex.annotations)
        assert styles in (["video_short_caption", "video_merged_caption", "video_long_caption"],
                          ["video_short_caption", "video_merged_caption"])
        n_two += len(styles) == 2
        mover, statics = t["objects"][0], t["objects"][1:]
        short = ex.annotations[0].text
        assert f"{mover['color']} {mover['shape']} moves from {t['direction']}" in short
        if statics:
            assert f"{NUMBER_WORDS[len(statics)]} {statics[0]['color']}" in short
        assert f"{t['duration']:g}-second video" in ex.annotations[1].text
        assert os.path.basename(ex.video.path).split(".")[0] == ex.metadata.source_ids["video_id"]
        if i < 8:  # the frames show what the caption says: the mover goes the stated way
            frames = frames_at(ex, [0.0, t["duration"] - 0.1])
            p0, p1 = mover["positions"][0], mover["positions"][-1]
            assert colour_at(frames[0], *p0) == colour_at(frames[1], *p1) == mover["color"]
            axis, sign = {"left to right": (0, 1), "right to left": (0, -1), "top to bottom": (1, 1),
                          "bottom to top": (1, -1)}[t["direction"]]
            assert sign * (p1[axis] - p0[axis]) > 50
    assert n_two == 4  # every fifth row has an empty frame-merged caption, which is left out


def test_cap_validation_is_val(sample_root: Path) -> None:
    val = get_dataset("molmo2-cap", split="validation", root=sample_root)
    assert len(val) == len(get_dataset("molmo2-cap", split="val", root=sample_root)) == 5
    with pytest.raises(UnknownSplitError, match="did you mean 'val'"):
        get_dataset("molmo2-cap", split="vali", root=sample_root)


# ---------------------------------------------------------------------------------------------
# VideoCapQA / VideoSubtitleQA
# ---------------------------------------------------------------------------------------------


def check_multiple_choice(mc: MultipleChoice, qa: dict) -> None:
    assert mc.question == qa["Question"] and mc.answer == qa["Answer"] and mc.category == qa["Category"]
    others = mc.options[:mc.answer_index] + mc.options[mc.answer_index + 1:]
    assert others == qa["NegativeAnswers"]


@pytest.mark.parametrize("name", ["molmo2-videocapqa", "molmo2-videosubtitleqa"])
def test_qa_answers_are_true(sample_root: Path, name: str) -> None:
    truth = load_truth(name, sample_root)
    ds = get_dataset(name, root=sample_root)
    assert len(ds) == 24 and not ds.skipped
    for i in range(len(ds)):
        ex = ds.get(i, np.random.RandomState(i))
        t = truth[ex.metadata.source_ids["video_id"]]
        assert len(ex.annotations) == len(t["qa"])
        for mc, qa in zip(ex.annotations, t["qa"], strict=True):
            check_multiple_choice(mc, qa)
        mover, statics = t["objects"][0], t["objects"][1:]
        for mc in ex.annotations:
            if mc.category == "color":
                assert mc.answer == mover["color"].capitalize()
            elif mc.category == "motion":
                assert mc.answer == f"From {t['direction']}"
            elif mc.category == "counting":  # counted on the last decoded frame
                frame = frames_at(ex, [t["duration"] - 0.1])[0]
                assert int(mc.answer) == len(statics) == blobs_of(frame, statics[0]["color"])
        if name == "molmo2-videosubtitleqa":
            assert [(s.start, s.end, s.text) for s in ex.video.subtitles] == \
                [(s["start"], s["end"], s["text"]) for s in t["subtitles"]]
            assert ex.annotations[0].style == "video_multiple_choice_w_subtitle"
            assert ex.annotations[0].answer == f"The {mover['color']} {mover['shape']}"
            assert mover["color"] in ex.video.subtitles[0].text
            assert ex.metadata.extra["alignment_types"] == [q["AlignmentType"] for q in t["qa"]]
        else:
            assert ex.annotations[0].style == "video_multiple_choice" and not ex.video.subtitles


def test_answer_position_comes_from_the_example_rng(sample_root: Path) -> None:
    ds = get_dataset("molmo2-videocapqa", split="CapQA", root=sample_root)
    assert isinstance(ds, Molmo2VideoCapQA) and len(ds) == 24
    positions = set()
    for s in range(12):
        a = ds.get(3, np.random.RandomState(s))
        b = ds.get(3, np.random.RandomState(s))
        assert [m.options for m in a.annotations] == [m.options for m in b.annotations]
        positions.add(a.annotations[0].answer_index)
    assert positions == {0, 1, 2, 3}  # 3 negatives: the answer lands anywhere


# ---------------------------------------------------------------------------------------------
# AskModelAnything
# ---------------------------------------------------------------------------------------------


def test_askmodelanything_strips_drops_and_groups(sample_root: Path) -> None:
    truth = load_truth("molmo2-askmodelanything", sample_root)
    ds = get_dataset("molmo2-askmodelanything", split="HumanQA", root=sample_root)
    assert len(ds) == 24 and dict(ds.skipped) == {"empty answer": 6}
    for i in range(len(ds)):
        ex = ds.get(i, np.random.RandomState(0))
        t = truth[ex.metadata.source_ids["video_id"]]
        assert all(isinstance(a, Messages) and a.style == "user_qa" for a in ex.annotations)
        pairs = [(a.messages[0].content, a.messages[1].content) for a in ex.annotations]
        assert pairs == [tuple(p) for p in t["qa"]]
        assert [m.role for a in ex.annotations for m in a.messages] == ["user", "assistant"] * len(pairs)
        assert f"{t['duration']:g} seconds long" in pairs[1][1]
        assert pairs[0][1] == f"It moves from {t['direction']} at a steady speed."


# ---------------------------------------------------------------------------------------------
# VideoPoint
# ---------------------------------------------------------------------------------------------


def check_points_on_frames(ex, truth: dict) -> int:
    """Every point lies on an object of the label's colour in the frame shown at its time; returns
    the number of points checked."""
    w, h = truth["width"], truth["height"]
    n = 0
    for ann in ex.annotations:
        assert isinstance(ann, VideoPointing) and ann.scale == (100.0, 100.0)
        assert np.all(ann.timestamps % 0.5 == 0) and np.all(np.diff(ann.timestamps) > 0)
        assert ann.count == len(ann.points)
        assert ann.style in ("video_point_count", "video_point") and ann.mode == ann.style[len("video_"):]
        if not len(ann.points):
            continue
        color = ann.label.split()[1] if ann.label.startswith("the ") else ann.label.split()[0]
        frames = frames_at(ex, ann.timestamps)
        for (x, y), f in zip(ann.points, ann.frame_index, strict=True):
            assert colour_at(frames[f], x * w / 100, y * h / 100) == color
            n += 1
    return n


def test_videopoint_points_lie_on_objects(sample_root: Path) -> None:
    truth = load_truth("molmo2-videopoint", sample_root)
    ds = get_dataset("molmo2-videopoint", root=sample_root)
    # 24 YouTube + 4 generated + 4 MammalNet + 4 crowd videos (8-45 shapes), every video used whole: one tree each
    assert len(ds) == len(truth) == 36 and not ds.skipped
    sources, checked, trees = set(), 0, 0
    for i in range(len(ds)):
        ex = ds.get(i, np.random.RandomState(i))
        t = truth[ex.metadata.source_ids["video_id"]]
        sources.add(ex.metadata.source_ids["video_source"])
        assert ex.video.clip_start is None  # every sample video is shorter than 63 s: used whole
        queries = {q["label"]: q for q in t["queries"]}
        for ann in ex.annotations:
            assert ann.count == queries[ann.label]["count"]
            if ann.label.endswith("s") and not ann.label.endswith("stars"):
                assert ann.count == len(t["objects"]) - 1  # all the static objects
        trees += len(ex.annotations) > 1
        checked += check_points_on_frames(ex, t)
    assert sources == {"youtube", "generated", "MammalNet"}
    assert trees >= 5 and checked >= 40
    names = {os.path.basename(get_dataset("molmo2-videopoint", root=sample_root).get(i, np.random.RandomState(0))
                              .video.path) for i in range(len(ds))}
    assert any(n.endswith("_2fps.mp4") for n in names) and any(n.endswith("_2fps.mkv") for n in names)


def test_videopoint_clips_shift_and_floor_timestamps(sample_root: Path) -> None:
    truth = load_truth("molmo2-videopoint", sample_root)
    ds = get_dataset("molmo2-videopoint", root=sample_root, max_seconds=4)
    no_clip = sum(t["duration"] > 4 and q["clip_start"] is None for t in truth.values() for q in t["queries"])
    assert no_clip > 0 and dict(ds.skipped) == {"video longer than max_seconds without a usable clip": no_clip}
    clipped = 0
    for i in range(len(ds)):
        ex = ds.get(i, np.random.RandomState(i))
        t = truth[ex.metadata.source_ids["video_id"]]
        if ex.video.clip_start is None:
            assert t["duration"] <= 4
            continue
        clipped += 1
        q = t["queries"][0]
        assert (ex.video.clip_start, ex.video.clip_end) == (q["clip_start"], q["clip_end"])
        ann = ex.annotations[0]
        expected = np.floor((np.asarray(q["two_fps_timestamps"]) - q["clip_start"]) * 2 + 1e-6) / 2
        assert ann.timestamps.tolist() == expected.tolist()
        assert check_points_on_frames(ex, t) == q["count"]
    assert clipped >= 5
    assert {get_dataset("molmo2-videopoint", root=sample_root, max_seconds=4).get(i, np.random.RandomState(0))
            .video.clip_start for i in range(len(ds))} >= {0.3, 1.2}


def test_videopoint_options_and_configs(sample_root: Path) -> None:
    full = get_dataset("molmo2-videopoint", root=sample_root)
    counts = [a.count for i in range(len(full)) for a in full.get(i, np.random.RandomState(0)).annotations]
    ds = get_dataset("molmo2-videopoint", root=sample_root, min_count=1, max_count=2)
    kept = [a.count for i in range(len(ds)) for a in ds.get(i, np.random.RandomState(0)).annotations]
    assert sorted(kept) == sorted(c for c in counts if 1 <= c <= 2)
    assert ds.skipped["count out of range"] == sum(not 1 <= c <= 2 for c in counts)
    unsure = get_dataset("molmo2-videopoint", root=sample_root, drop_unsure=True)
    n_unsure = sum(sum(full.get(i, np.random.RandomState(0)).metadata.extra["annotator_unsure"])
                   for i in range(len(full)))
    assert n_unsure > 0 and unsure.skipped["annotator unsure"] == n_unsure
    one = get_dataset("molmo2-videopoint", root=sample_root, config="spatial reference")
    assert len(one) > 0
    assert all(c == "spatial reference" for i in range(len(one)) for c in one.get(i, np.random.RandomState(0))
               .metadata.extra["configs"])
    assert get_dataset("molmo2-videopoint", root=sample_root, styles=("video_point",)).get(
        0, np.random.RandomState(0)).annotations[0].mode == "point"
    with pytest.raises(UnknownSplitError, match="spatial reference"):
        get_dataset("molmo2-videopoint", root=sample_root, config="spatial_reference")


def test_videopoint_multi_query_clips_are_a_chat_one_time_in_five(sample_root: Path) -> None:
    ds = get_dataset("molmo2-videopoint", root=sample_root)
    multi = [i for i in range(len(ds)) if len(ds.get(i, np.random.RandomState(0)).annotations) > 1]
    single = [i for i in range(len(ds)) if i not in multi]
    assert multi and single
    layouts = [ds.get(i, np.random.RandomState(s)).layout for i in multi for s in range(100)]
    assert 0.15 <= layouts.count("chat") / len(layouts) <= 0.25  # p_multi_turn = 0.2, from the example rng
    assert {ds.get(i, np.random.RandomState(s)).layout for i in single for s in range(20)} == {"tree"}
    always = get_dataset("molmo2-videopoint", root=sample_root, p_multi_turn=1.0)
    never = get_dataset("molmo2-videopoint", root=sample_root, p_multi_turn=0.0)
    assert {always.get(i, np.random.RandomState(s)).layout for i in multi for s in range(5)} == {"chat"}
    assert {never.get(i, np.random.RandomState(s)).layout for i in multi for s in range(5)} == {"tree"}
    with pytest.raises(ValueError, match="p_multi_turn"):
        get_dataset("molmo2-videopoint", root=sample_root, p_multi_turn=1.5)


# ---------------------------------------------------------------------------------------------
# VideoTrack
# ---------------------------------------------------------------------------------------------


def test_videotrack_positions_match_frames(sample_root: Path) -> None:
    truth = load_truth("molmo2-videotrack", sample_root)
    ds = get_dataset("molmo2-videotrack", root=sample_root)
    assert len(ds) >= 20 and not ds.skipped
    full_videos = absent_checked = 0
    for i in range(len(ds)):
        ex = ds.get(i, np.random.RandomState(i))
        t = truth[ex.metadata.source_ids["id"]]
        (track,) = ex.annotations
        assert isinstance(track, Track) and track.scale == (t["width"], t["height"]) and track.fps == t["fps"]
        first = t["first_frame"]
        if first:
            full_videos += 1
            assert ex.video.clip_start == first / t["fps"]
        n = t["n_frames"] - first
        assert np.allclose(track.timestamps, np.arange(n) / t["fps"])
        frames = frames_at(ex, track.timestamps)
        assert probe_video(ex.video.path).num_frames == t["n_frames"]
        assert ex.metadata.extra["mask_id"] == [f"{ex.metadata.source_ids['video'].split('.')[0]}_{o}"
                                                for o in t["object_ids"]]
        for index, oid in enumerate(t["object_ids"]):  # object_id keys into mask_id: Track ids are indices
            obj = t["objects"][oid]
            sel = track.object_ids == index
            want = [(k, p) for k, p in enumerate(obj["positions"][first:]) if p is not None]
            assert track.frame_index[sel].tolist() == [k for k, _ in want]
            assert np.allclose(track.points[sel], [p for _, p in want], atol=0.01)
            for k, (x, y) in zip(track.frame_index[sel], track.points[sel], strict=True):
                assert colour_at(frames[k], x, y) == obj["color"]
            for k, p in enumerate(obj["positions"][first:]):  # null = not visible: not drawn there
                if p is None:
                    visible = sum(o["color"] == obj["color"] and o["positions"][first + k] is not None
                                  for o in t["objects"])
                    assert blobs_of(frames[k], obj["color"]) == visible
                    absent_checked += 1
        assert track.label.split()[-1].rstrip("s") in {t["objects"][o]["shape"] for o in t["object_ids"]}
    assert full_videos >= 4 and absent_checked > 0


# ---------------------------------------------------------------------------------------------
# Determinism and bad input (every reader)
# ---------------------------------------------------------------------------------------------


def summary(ex) -> list:
    """Every field of every annotation (arrays as lists) plus the video reference."""
    anns = [{f.name: (v.tolist() if isinstance(v, np.ndarray) else v)
             for f in dataclasses.fields(a) for v in [getattr(a, f.name)]} for a in ex.annotations]
    return [ex.video, ex.metadata, anns]


@pytest.mark.parametrize("name", VIDEO_SETS)
def test_examples_are_deterministic(sample_root: Path, name: str) -> None:
    a, b = dataset(name, sample_root), dataset(name, sample_root)
    assert len(a) >= 20
    for i in range(20):
        assert summary(a.get(i, np.random.RandomState(7 + i))) == summary(b.get(i, np.random.RandomState(7 + i)))
        assert summary(a[i]) == summary(b[i])


def copy_dataset(sample_root: Path, name: str, dst: Path) -> None:
    shutil.copytree(sample_root / "tables" / name, dst / "tables" / name)


def first_table(root: Path, name: str) -> Path:
    return sorted((root / "tables" / name).rglob("*.arrow"))[0]


REQUIRED = {"molmo2-cap": "annotation_score", "molmo2-videocapqa": "NegativeAnswers",
            "molmo2-videosubtitleqa": "subtitle", "molmo2-askmodelanything": "answer",
            "molmo2-videopoint": "two_fps_timestamps", "molmo2-videotrack": "fps",
            "molmo2-videocounteval": "clip_end", "molmo2-videopointeval": "masks",
            "molmo2-capeval": "atomic_statements"}


@pytest.mark.parametrize("name", VIDEO_SETS)
def test_missing_column_is_a_schema_error(sample_root: Path, tmp_path: Path, name: str) -> None:
    copy_dataset(sample_root, name, tmp_path)
    for path in (tmp_path / "tables" / name).rglob("*.arrow"):
        table = read_table(path)
        write_table(table.drop_columns([REQUIRED[name]]), path)
    with pytest.raises(SchemaError, match=f"missing column '{REQUIRED[name]}'"):
        dataset(name, tmp_path)


@pytest.mark.parametrize("name", VIDEO_SETS)
def test_missing_video_is_a_counted_skip(sample_root: Path, tmp_path: Path, name: str) -> None:
    full = dataset(name, sample_root)
    gone = full.get(0, np.random.RandomState(0)).video.path
    copy_dataset(sample_root, name, tmp_path)
    src = paths.data_root(sample_root) / "media" / "videos"
    for dirpath, _, files in os.walk(src):
        for f in files:
            p = Path(dirpath) / f
            if str(p) != gone:
                dst = tmp_path / "media" / "videos" / p.relative_to(src)
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.link(p, dst)
    ds = dataset(name, tmp_path)
    n_lost = sum(full.get(i, np.random.RandomState(0)).video.path == gone for i in range(len(full)))
    assert len(ds) == len(full) - n_lost and n_lost >= 1
    assert ds.skipped["video missing locally"] == n_lost
    assert all(ds.get(i, np.random.RandomState(0)).video.path.startswith(str(tmp_path)) for i in range(len(ds)))


def test_null_ids_and_empty_rows_are_skipped(tmp_path: Path) -> None:
    schema = pa.schema([("video_id", pa.string()), ("Question", pa.string()), ("Answer", pa.string()),
                        ("NegativeAnswers", pa.list_(pa.string())), ("Category", pa.string())])
    rows = {"video_id": [None, "abc", "abc"], "Question": ["Q?", " ", "Q2?"], "Answer": ["A", "A", None],
            "NegativeAnswers": [["B"], None, ["C"]], "Category": ["x", "x", "x"]}
    write_table(pa.table(rows, schema=schema), paths.table_path("molmo2-videocapqa", "default", "CapQA", tmp_path))
    ds = get_dataset("molmo2-videocapqa", root=tmp_path)
    assert len(ds) == 0
    assert dict(ds.skipped) == {"empty question or answer": 2, "null video_id": 1}


def test_videopoint_row_with_mismatched_lists_is_skipped(sample_root: Path, tmp_path: Path) -> None:
    copy_dataset(sample_root, "molmo2-videopoint", tmp_path)
    os.symlink(sample_root / "media", tmp_path / "media")
    path = paths.table_path("molmo2-videopoint", "object", "train", tmp_path)
    table = read_table(path)
    rows = table.to_pylist()
    victim = next(i for i, r in enumerate(rows) if len(r["two_fps_timestamps"]) >= 1)
    rows[victim]["two_fps_timestamps"] = rows[victim]["two_fps_timestamps"] + [9.5]
    write_table(pa.Table.from_pylist(rows, schema=table.schema), path)
    ds = get_dataset("molmo2-videopoint", root=tmp_path, config="object")
    assert dict(ds.skipped) == {"points and timestamps differ in length": 1}
    assert len(ds) == len(rows) - 1


def test_videopoint_official_oversampling(sample_root: Path) -> None:
    """oversample=True repeats a clip x1 / x2 / x4 when its largest count is <= 5 / <= 25 / > 25."""
    plain = get_dataset("molmo2-videopoint", root=sample_root)
    over = get_dataset("molmo2-videopoint", root=sample_root, oversample=True)
    expected = []
    for g in range(len(plain)):
        largest = max(a.count or 0 for a in plain.get(g, np.random.RandomState(0)).annotations)
        expected += [g] * (1 if largest <= 5 else 2 if largest <= 25 else 4)
    assert len(over) == len(expected)
    for k in (0, len(over) - 1):
        a, b = over.get(k, np.random.RandomState(1)), plain.get(expected[k], np.random.RandomState(1))
        assert a.metadata.rows == b.metadata.rows and a.video.clip_start == b.video.clip_start


# ---------------------------------------------------------------------------------------------
# Molmo2-VideoCountEval
# ---------------------------------------------------------------------------------------------


def test_videocounteval_counts_are_true_in_the_decoded_clip(sample_root: Path) -> None:
    truth = load_truth("molmo2-videocounteval", sample_root)
    ds = get_dataset("molmo2-videocounteval", split="validation", root=sample_root)
    assert len(ds) == len(truth) == 42 and not ds.skipped
    n_clips = n_clip_differs = 0
    for i in range(len(ds)):
        ex, t = ds[i], truth[str(i)]
        (ann,) = ex.annotations
        assert isinstance(ann, Count) and ann.style == "video_count"
        assert (ann.label, ann.count, ann.question) == (t["label"], t["count"], t["question"])
        assert (ex.video.clip_start, ex.video.clip_end) == (t["clip_start"], t["clip_end"])
        assert ex.metadata.extra["category"] == t["category"]
        color = t["label"].split()[0]
        # the last frame the preprocessor samples shows exactly `count` objects of that colour
        length = (t["clip_end"] or t["video_duration"]) - (t["clip_start"] or 0.0)
        frame = frames_at(ex, [length - 0.05])[0]
        assert blobs_of(frame, color) == ann.count, (i, t)
        if t["clip_end"] is not None:
            n_clips += 1
            whole = [r for r in truth.values() if r["video_id"] == t["video_id"] and r["clip_end"] is None][0]
            n_clip_differs += whole["count"] != t["count"]
    assert n_clips == 18 and n_clip_differs == 11  # clips matter: their counts differ from the whole video


def append_edited_rows(sample_root: Path, tmp_path: Path, name: str, n: int) -> tuple[Path, pa.Table, list]:
    """A copy of a dataset's table (media linked) and ``n`` of its rows as dicts to edit and append."""
    copy_dataset(sample_root, name, tmp_path)
    os.symlink(paths.data_root(sample_root) / "media", tmp_path / "media")
    path = first_table(tmp_path, name)
    table = read_table(path)
    return path, table, table.slice(0, n).to_pylist()


def test_videocounteval_bad_rows_are_counted_skips(sample_root: Path, tmp_path: Path) -> None:
    path, table, bad = append_edited_rows(sample_root, tmp_path, "molmo2-videocounteval", 4)
    bad[0]["count"] = None
    bad[1]["clip_start"], bad[1]["clip_end"] = 2.0, 1.0
    bad[2]["video_source"] = "../../etc"
    bad[3]["video_id"] = None
    write_table(pa.concat_tables([table, pa.Table.from_pylist(bad, schema=table.schema)]), path)
    ds = get_dataset("molmo2-videocounteval", split="validation", root=tmp_path)
    assert len(ds) == 42
    assert dict(ds.skipped) == {"missing or negative count": 1, "empty clip": 1,
                                "video_source is not a folder name": 1, "null video_id": 1}


# ---------------------------------------------------------------------------------------------
# Molmo2-VideoPointEval
# ---------------------------------------------------------------------------------------------


def test_videopointeval_points_and_masks_lie_on_objects(sample_root: Path) -> None:
    from molmo2_data.media import rle

    truth = load_truth("molmo2-videopointeval", sample_root)
    ds = get_dataset("molmo2-videopointeval", split="validation", root=sample_root)
    assert len(ds) == len(truth) == 21 and not ds.skipped
    n_masks = 0
    for i in range(len(ds)):
        ex, t = ds[i], truth[str(i)]
        (ann,) = ex.annotations
        assert isinstance(ann, VideoPointing) and ann.style == "video_point" and ann.label == t["label"]
        assert ann.scale == (t["width"], t["height"]) and ann.count == len(t["points"])
        color = t["label"].split()[0]
        times = ann.timestamps[ann.frame_index]
        frames = frames_at(ex, times)
        for frame, (x, y) in zip(frames, ann.points, strict=True):
            assert colour_at(frame, x, y) == color
        if i >= 6:
            continue
        for obj, (x, y) in zip(ex.metadata.extra["video_masks"], ann.points, strict=True):
            decoded = frames_at(ex, [f["time"] for f in obj])
            for f, frame in zip(obj, decoded, strict=True):
                mask = rle.decode(f["rle"])
                assert mask.shape == (t["height"], t["width"]) and mask[int(y), int(x)]
                diff = np.abs(frame[mask].astype(int) - np.asarray(COLORS[color])).max(axis=1)
                assert np.mean(diff <= 40) > 0.8  # the mask covers the object as decoded
                n_masks += 1
    assert n_masks > 40


def test_videopointeval_bad_rows_are_counted_skips(sample_root: Path, tmp_path: Path) -> None:
    path, table, bad = append_edited_rows(sample_root, tmp_path, "molmo2-videopointeval", 6)
    bad[0]["points"] = bad[0]["points"] + bad[0]["points"][:1]
    bad[1]["masks"] = []
    bad[2]["width"] = None
    bad[3]["video_source"] = "a/b"
    bad[4]["points"] = [None] * len(bad[4]["points"])
    bad[5]["two_fps_timestamps"] = [None] * len(bad[5]["two_fps_timestamps"])
    write_table(pa.concat_tables([table, pa.Table.from_pylist(bad, schema=table.schema)]), path)
    ds = get_dataset("molmo2-videopointeval", split="validation", root=tmp_path)
    assert len(ds) == 21
    assert dict(ds.skipped) == {"points and timestamps differ in length": 1, "masks are not one list per point": 1,
                                "missing video size": 1, "video_source is not a folder name": 1,
                                "a null point or timestamp": 2}


# ---------------------------------------------------------------------------------------------
# Molmo2-CapEval
# ---------------------------------------------------------------------------------------------


def test_capeval_file_names_clips_and_true_statements(sample_root: Path) -> None:
    from molmo2_data.datasets.molmo2_video import ego4d_clip_name

    assert ego4d_clip_name("abc", 3.0, 7.25) == "abc_bounded_decimal_2_3.0_7.25"
    assert ego4d_clip_name("abc", 12.50, 20.1) == "abc_bounded_decimal_2_12.5_20.1"
    from molmo2_data.datasets.media_store import VideoFinder
    from molmo2_data.datasets.molmo2_video_eval import Molmo2CapEval

    needs = Molmo2CapEval.video_needs(read_table(first_table(sample_root, "molmo2-capeval")))
    assert len(needs) == 21 and ("vimeo", "vimeo_100000") in needs  # what `download` checks for
    assert all(VideoFinder([src], sample_root).find(stem) for src, stem in needs)
    truth = load_truth("molmo2-capeval", sample_root)
    ds = get_dataset("molmo2-capeval", split="test", root=sample_root)
    assert len(ds) == len(truth) == 21 and not ds.skipped
    for i in range(len(ds)):
        ex, t = ds[i], truth[str(i)]
        name = os.path.basename(ex.video.path)
        if t["source"] == "ego4d":  # pre-cut clips are used whole
            assert name.startswith(f"{t['video_id']}_bounded_decimal_2_") and ex.video.clip_start is None
        else:
            assert (ex.video.clip_start, ex.video.clip_end) == (t["video_start"], t["video_end"])
            assert name.split(".")[0] == ({"vimeo": "vimeo_"}.get(t["source"], "") + t["video_id"])
        assert ex.metadata.extra["atomic_statements"] == t["atomic_statements"]
        assert ex.metadata.extra["statement_categories"] == t["statement_categories"]
        assert ex.annotations[0].text == t["aggregated_caption"]
        mover = t["scene"]["objects"][0]
        # the statement about the mover's colour is true in the first decoded frame of the clip
        k = int(round((ex.video.clip_start or 0.0) * t["scene"]["fps"]))
        frame = frames_at(ex, [0.0])[0]
        assert colour_at(frame, *mover["positions"][k]) == mover["color"]
        assert mover["color"] in t["atomic_statements"][0]


def test_capeval_bad_rows_are_counted_skips(sample_root: Path, tmp_path: Path) -> None:
    path, table, bad = append_edited_rows(sample_root, tmp_path, "molmo2-capeval", 2)
    bad[0]["source"] = "youtube"
    bad[1]["atomic_statements"] = []
    write_table(pa.concat_tables([table, pa.Table.from_pylist(bad, schema=table.schema)]), path)
    ds = get_dataset("molmo2-capeval", split="test", root=tmp_path)
    assert len(ds) == 21 and dict(ds.skipped) == {"unknown source": 1, "no atomic statements": 1}
