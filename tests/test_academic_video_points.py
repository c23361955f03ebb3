"""allenai/molmo2-academic-video-points (official ``academic_points_clip_63s_2fps``): points true in the
decoded frames (percent of the frame, clip-relative times), the official filters as counted skips, the
style per example rng, the video layout and ``download --check``, and the video_pointing mixture member."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from molmo2_data import paths
from molmo2_data.datasets import canonical_name, get_dataset
from molmo2_data.datasets.academic_video_points import AcademicVideoPoints, official_path, video_rel
from molmo2_data.datasets.base import rng_for_index
from molmo2_data.errors import ConfigError
from molmo2_data.media.video import read_frames_at
from molmo2_data.sample import load_truth, write_sample
from molmo2_data.sample.draw import pixel_color_name
from molmo2_data.tables import read_table, write_table

NAME = "molmo2-academic-video-points"
OFFICIAL = "academic_points_clip_63s_2fps"
EPS = 1e-3  # decode a hair after the annotated time: the same frame


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    r = tmp_path_factory.mktemp("avp")
    write_sample(r, datasets=[NAME], progress=False)
    return r


def table(root: Path, split: str) -> pa.Table:
    return read_table(paths.table_path(NAME, "default", split, root))


def decoded(ex, times: np.ndarray) -> list[np.ndarray]:
    """The frames shown at clip-relative ``times``: decoded from the file (clip start added), or the
    frame-folder image with that time."""
    if ex.video.frames:
        ft = np.asarray(ex.video.frame_times)
        return [ex.video.frames[int(np.argmin(np.abs(ft - t)))].load() for t in times]
    frames, _ = read_frames_at(ex.video.path, np.asarray(times) + ex.video.clip_start + EPS)
    return list(frames)


def drawn(obj: dict, fps: int, t: float) -> list[float] | None:
    return obj["positions"][int(round(t * fps))]


@pytest.mark.parametrize("split", ["train", "val"])
def test_points_and_counts_are_true_in_decoded_frames(root: Path, split: str) -> None:
    ds = get_dataset(OFFICIAL, split=split, root=root)
    assert len(ds) >= 20 and not ds.skipped
    truth = load_truth(NAME, root)
    checked, folders, multi = 0, 0, 0
    for i in range(len(ds)):
        ex = ds.example(i)
        (ann,) = ex.annotations
        t = truth[f"{split}/{ex.metadata.rows[0]}"]
        color, shape = t["kind"]["color"], t["kind"]["shape"]
        assert ann.label == f"{color} {shape}" and ann.scale == (100.0, 100.0)
        folders += bool(ex.video.frames)
        frames = decoded(ex, ann.timestamps)
        hit: set[int] = set()
        for (x, y), k in zip(ann.points, ann.frame_index, strict=True):
            px, py = x / 100 * t["width"], y / 100 * t["height"]  # percent of the frame
            assert pixel_color_name(frames[k][int(round(py)), int(round(px))]) == color
            # the object of the kind drawn there (absolute time = clip start + clip-relative time)
            at = float(ex.metadata.extra["clip_start_time"]) + float(ann.timestamps[k])
            near = [j for j, o in enumerate(t["objects"]) if o["color"] == color and o["shape"] == shape
                    and (p := drawn(o, t["fps"], at)) is not None and abs(p[0] - px) < 1 and abs(p[1] - py) < 1]
            assert len(near) == 1 and near[0] not in hit
            hit.add(near[0])
            checked += 1
        multi += int(np.bincount(ann.frame_index).max() > 1)
        # the count: every object of the kind drawn on a 0.5 s frame inside the clip, each pointed once
        cs, ce = ex.metadata.extra["clip_start_time"], ex.metadata.extra["clip_end_time"]
        last = (t["n_frames"] - 1) / t["fps"]
        grid = np.arange(cs, min(ce, last) + 1e-9, 0.5)
        seen = {j for j, o in enumerate(t["objects"]) if o["color"] == color and o["shape"] == shape
                and any(drawn(o, t["fps"], g) is not None for g in grid)}
        assert ann.count == len(ann.points) == len(seen) and hit == seen
    assert checked >= 40 and folders >= 2 and multi >= 3


def test_clip_times_shift_the_timestamps(root: Path) -> None:
    ds = get_dataset(OFFICIAL, root=root)
    rows = table(root, "train").to_pylist()
    shifted = 0
    for i in range(len(ds)):
        ex = ds.example(i)
        r = rows[ex.metadata.rows[0]]
        (ann,) = ex.annotations
        cs, ce = r["clip_start_time"], r["clip_end_time"]
        assert np.allclose(ann.timestamps, sorted({t - cs for t in r["timestamps"]}))
        assert ann.duration == pytest.approx(ce - cs)
        if ex.video.frames:  # a frame folder cut to the clip, its times clip-relative
            assert ex.video.frame_times[0] == 0.0 and ex.video.frame_times[-1] <= ce - cs + 1e-6
        else:
            assert (ex.video.clip_start, ex.video.clip_end) == (cs, ce)
        shifted += cs > 0
    assert shifted == len(ds)


def test_points_are_sorted_xy_within_a_frame(root: Path, tmp_path: Path) -> None:
    rows = table(root, "train").to_pylist()
    row = dict(rows[0], timestamps=[3.0, 2.0], clip_start_time=1.0, count=3,
               points=[[{"x": 50.0, "y": 5.0}, {"x": 10.0, "y": 90.0}], [{"x": 70.0, "y": 40.0}]])
    ds = get_dataset(OFFICIAL, root=root)
    ann = ds.pointing(row, 1.0, row["clip_end_time"], "x", None, "video_point")
    assert ann.timestamps.tolist() == [1.0, 2.0] and ann.frame_index.tolist() == [0, 1, 1]
    assert ann.points.tolist() == [[70.0, 40.0], [10.0, 90.0], [50.0, 5.0]]
    yx = get_dataset(OFFICIAL, root=root, point_sort_by="yx").pointing(row, 1.0, 9.0, "x", None, "video_point")
    assert yx.points.tolist() == [[70.0, 40.0], [50.0, 5.0], [10.0, 90.0]]


def test_style_is_drawn_per_example_rng_as_officially(root: Path) -> None:
    ds = get_dataset(OFFICIAL, root=root)
    styles = []
    for i in range(len(ds)):
        want = "video_" + str(rng_for_index(i).choice(["point_count", "point"]))  # official get()
        (ann,) = ds.example(i).annotations
        assert ann.style == want and ann.mode == want[len("video_"):] and ann.question is None
        styles.append(want)
    assert set(styles) == {"video_point", "video_point_count"}
    val = get_dataset(OFFICIAL, split="val", root=root)
    for i in range(len(val)):
        (ann,) = val.example(i).annotations
        assert ann.question == f'How many "{ann.label}" are there in the video?'
    only = get_dataset(NAME, root=root, styles=("video_point",))
    assert {only.example(i).annotations[0].style for i in range(len(only))} == {"video_point"}


def _with_rows(root: Path, tmp_path: Path, edit) -> Path:
    """A root sharing the sample videos whose train table is the sample's after ``edit(rows)``."""
    t = table(root, "train")
    rows = t.to_pylist()
    edit(rows)
    write_table(pa.Table.from_pylist(rows, schema=t.schema), paths.table_path(NAME, "default", "train", tmp_path))
    (tmp_path / "media").symlink_to(root / "media")
    return tmp_path


def test_official_filters_are_counted_skips(root: Path, tmp_path: Path) -> None:
    n = len(get_dataset(OFFICIAL, root=root))

    def edit(rows: list[dict]) -> None:
        rows[0]["count"] = 61  # > max_points (the official filter); 60 is kept
        rows[1]["count"] = 60
        rows[2]["timestamps"] = [t + 0.25 for t in rows[2]["timestamps"]]  # official assert: not on the grid
        rows[3]["clip_start_time"] = min(rows[3]["timestamps"]) + 0.5  # clip does not cover the annotation
        r = rows[4]  # annotated span > 63 s (with a clip that would allow it)
        r.update(timestamps=[1.0, 65.0], points=[r["points"][0], r["points"][0]], video_duration=70.0,
                 clip_start_time=1.0, clip_end_time=66.0)
        rows[5].update(timestamps=[], points=[])  # the official min() would raise
        rows[6]["clip_end_time"] = rows[6]["video_duration"] + 1  # past the end of the video
        rows[7]["timestamps"] = [None] + rows[7]["timestamps"][1:]

    ds = get_dataset(OFFICIAL, root=_with_rows(root, tmp_path, edit))
    assert ds.skipped == {"count above max_points": 1, "timestamp not on the 1/fps grid of the clip": 1,
                          "clip times missing or invalid": 2, "annotated span longer than max_seconds": 1,
                          "no timestamps": 1, "non-finite timestamp": 1}
    assert len(ds) == n - 7
    assert 1 in {int(r) for i in range(len(ds)) for r in ds.rows(i)}  # count 60 kept
    unfiltered = get_dataset(NAME, root=tmp_path, max_points=None)
    assert "count above max_points" not in unfiltered.skipped and len(unfiltered) == n - 6


def test_timestamp_a_hair_off_the_grid_is_snapped(root: Path, tmp_path: Path) -> None:
    def edit(rows: list[dict]) -> None:
        rows[0]["timestamps"] = [t - 1e-7 for t in rows[0]["timestamps"]]

    ds = get_dataset(OFFICIAL, root=_with_rows(root, tmp_path, edit))
    ref = get_dataset(OFFICIAL, root=root)
    assert not ds.skipped and ds.example(0).annotations[0].timestamps.tolist() == \
        ref.example(0).annotations[0].timestamps.tolist()


def test_official_names_options_and_layout(root: Path) -> None:
    assert canonical_name(OFFICIAL) == canonical_name("academic_video_points") == NAME
    ds = get_dataset(OFFICIAL, root=root)
    assert ds.options["max_points"] == 60 and ds.options["max_seconds"] == 63.0 and ds.options["fps"] == 2.0
    assert ds.styles == ("video_point_count", "video_point")
    assert video_rel("burst", "train", "v1", "LaSOT") == "burst/train/LaSOT/v1"
    assert video_rel("ovis", "val", "v1", None) == "ovis/v1" and video_rel("nope", "train", "v", None) is None
    assert official_path("burst", "val", "v1", "HACS") == "TAO-Amodal/val/videos-2fps/HACS/v1.mp4"
    assert official_path("mevis", "train", "v.mp4", None) == "mevis/MeViS_release/train/videos-2fps/v.mp4"
    ex = ds.example(0)
    assert ex.metadata.source_ids["example_id"].endswith("_" + ex.annotations[0].label)
    only = get_dataset(NAME, root=root, subset="burst")
    assert len(only) and all(only.example(i).metadata.source_ids["subset"] == "burst" for i in range(len(only)))
    assert {ds.example(i).metadata.source_ids["subset"] for i in range(len(ds))} == \
        {"lvvis", "ovis", "burst", "refdavis17", "mevis", "refyoutube"}
    for bad in ({"subset": "davis"}, {"styles": ("point",)}, {"point_sort_by": "x"}, {"fps": 0}):
        with pytest.raises(ConfigError):
            get_dataset(NAME, root=root, **bad)
    assert len(get_dataset(NAME, split="validation", root=root)) == len(get_dataset(NAME, split="val", root=root))


def test_download_check_reports_missing_videos(root: Path, tmp_path: Path) -> None:
    from molmo2_data.download.plan import Target, check

    for entry in ("tables", "media"):
        shutil.copytree(root / entry, tmp_path / entry)
    target = Target(NAME, AcademicVideoPoints)
    rep = check(target, tmp_path)
    needed = len({video_rel(r["subset"], s, r["video_name"], r["dataset"])
                  for s in ("train", "val") for r in table(root, s).to_pylist()})
    assert (rep.needed, rep.ok, rep.status) == (needed, needed, "complete") and rep.bytes > 0
    videos = tmp_path / "media" / "videos" / "academic-points"
    os.remove(videos / "burst" / "train" / "LaSOT" / "burst_train_008.mp4")
    shutil.rmtree(next(p for p in (videos / "refdavis17" / "val").iterdir() if p.is_dir()))
    os.remove(videos / "mevis" / "train" / "mevis_train_004.mp4")
    rep = check(target, tmp_path)
    assert rep.missing == 3 and rep.status == "partial"
    lines = rep.missing_list.read_text().splitlines()[1:]
    assert "academic-points\tburst/train/LaSOT/burst_train_008\tmedia/videos/academic-points/burst/train/LaSOT/" \
           "burst_train_008.mp4" in lines
    assert any(line.startswith("academic-points\trefdavis17/val/") for line in lines)
    assert "academic-points\tmevis/train/mevis_train_004\tmedia/videos/academic-points/mevis/train/" \
           "mevis_train_004.mp4" in lines
    assert any("academic-points videos" in note for note in rep.notes)
    ds = get_dataset(OFFICIAL, root=tmp_path)
    assert ds.skipped["video missing locally"] == 4  # two rows per video


def test_video_pointing_group_has_the_academic_member() -> None:
    from molmo2_data.loading.mixtures import OFFICIAL_ABSENT, molmo2_sft

    (vp,) = [g for g in molmo2_sft().groups if g.name == "video_pointing"]
    members = {m.name: m for m in vp.members}
    acad = members[OFFICIAL]
    assert (acad.dataset, acad.size, acad.multiplier, acad.loss_weight) == (NAME, 1, 0.2, 0.2)
    assert dict(acad.options) == {"max_points": 60, "max_seconds": 63.0, "styles": ("video_point_count", "video_point")}
    assert [members[k].multiplier for k in ("vixmo_points_minmax_0_5", "vixmo_points_minmax_6_25",
                                            "vixmo_points_minmax_26_60")] == [0.4, 0.3, 0.1]
    assert not any("academic_points" in a for a in OFFICIAL_ABSENT["molmo2-sft"])
    rates = molmo2_sft().rates({m.name: 10 for m in vp.members})  # flat: 0.4 / 0.3 / 0.1 / 0.2 of the group
    assert rates[OFFICIAL] == pytest.approx(0.2)


def test_inspect_describes_frame_folder_videos(sample_root) -> None:
    """A video stored as a JPEG frame folder (refdavis17) is described from its frames - count, spacing,
    size - not probed as a file (which reported it as a bad media file)."""
    from molmo2_data.datasets import get_dataset
    from molmo2_data.inspect import statistics
    from molmo2_data.media.video import probe_video_ref

    st = statistics("molmo2-academic-video-points", root=sample_root)
    assert st["bad files"] == []
    ds = get_dataset("molmo2-academic-video-points", root=sample_root, subset="refdavis17")
    ex = ds.example(0)
    assert ex.video.frames  # a frame folder
    info = probe_video_ref(ex.video)
    assert (info.codec, info.fps, info.num_frames) == ("frames", 2.0, len(ex.video.frames))
    assert (info.width, info.height) == ex.video.frames[0].size()
    assert info.duration == len(ex.video.frames) / 2.0
