"""Academic tracking mirrors (MeViS, BURST, LaSOT, ...): rows in the mirrors' layout become Tracks whose
points sit on the drawn objects in the decoded frames; official names, task styles, the official fps
filter, unknown object keys, drift; the tracking sub-mixture weights."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from molmo2_data import paths
from molmo2_data.datasets import get_dataset
from molmo2_data.datasets.academic_tracking import (
    MOT_SETS,
    SOT_SETS,
    candidate_sampling_fps,
    track_of_trajectories,
)
from molmo2_data.errors import SchemaError
from molmo2_data.media.video import read_frames_at
from molmo2_data.sample import load_truth, write_sample
from molmo2_data.sample.draw import pixel_color_name
from molmo2_data.tables import read_table, write_table

NAMES = [m[0] for m in MOT_SETS] + [s[0] for s in SOT_SETS] + ["molmo2-track-instruction"]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    r = tmp_path_factory.mktemp("track")
    write_sample(r, datasets=NAMES, progress=False)
    return r


def _every_tracking_member() -> list[tuple[str, str, int]]:
    """(official name, style, examples) of every member of the official tracking sub-mixture: 12 sample
    videos give 24 rows per track / ground task (one per kind of object) and 29 single-point rows."""
    from molmo2_data.loading.mixtures import TRACKING_SUBGROUPS

    out = []
    for _g, _w, members in TRACKING_SUBGROUPS:
        for m in members:
            name = m if isinstance(m, str) else m[0]
            task = "single_point_track" if name.endswith("single_point_track") else \
                "ground" if name.endswith("ground") else "track"
            out.append((name, {"track": "video_point_track_per_frame", "ground": "video_point_ground_start_end",
                               "single_point_track": "video_single_point_track_per_frame"}[task],
                        29 if task == "single_point_track" else 24))
    return out


@pytest.mark.parametrize(("official", "style", "n"), _every_tracking_member())
def test_points_are_on_the_objects_in_decoded_frames(root: Path, official: str, style: str, n: int) -> None:
    ds = get_dataset(official, root=root)
    assert len(ds) == n >= 20 and not ds.skipped
    checked = 0
    for i in range(len(ds)):
        ex = ds.example(i)
        (tr,) = ex.annotations
        assert tr.style == style and tr.fps in (1.0, 2.0)
        # the annotated frames are every 1/sampling_fps seconds of the 6 fps video
        assert np.allclose(np.diff(tr.timestamps), 1 / tr.fps)
        frames, _ = read_frames_at(ex.video.path, tr.timestamps + 1e-3)
        t = load_truth(ds.NAME, root)[f"{ds.requested_configs[0]}/{ds.split if ds.split == 'train' else 'valid_u'}/"
                                      f"{ex.metadata.source_ids['id']}"]
        colors = [o["color"] for o in t["objects"]]
        for (x, y), k, oid in zip(tr.points, tr.frame_index, tr.object_ids, strict=True):
            assert pixel_color_name(frames[k][int(round(y)), int(round(x))]) == colors[oid]
            checked += 1
    assert checked > 100


def test_hidden_object_is_left_out_and_mevis_validation(root: Path) -> None:
    ds = get_dataset("mevis_single_point_track", root=root)
    lengths = {len(ds.example(i).annotations[0].points) for i in range(len(ds))}
    assert min(lengths) < max(lengths)  # the hidden stretch of the second object is not annotated
    val = get_dataset("mevis", task="track", split="validation", root=root)
    assert len(val) == 24 and paths.table_path("mevis", "track", "valid_u", root).exists()


def test_candidate_sampling_fps_is_the_official_rule() -> None:
    assert candidate_sampling_fps(30, 2) == [2, 6, 10]  # multiples of 2 up to 10 dividing 30
    assert candidate_sampling_fps(6, 1) == [1, 2, 3, 6]
    assert candidate_sampling_fps(25, 2) == [] and candidate_sampling_fps(0, 1) == []


def test_rows_with_unusable_fps_or_unknown_keys(root: Path, tmp_path: Path) -> None:
    t = read_table(paths.table_path("mevis", "track", "train", root))
    fps = t.column("fps").to_pylist()
    fps[0] = 5.0  # 5 fps with sampling 1 or 2: sampling 2 does not divide it
    fps[1] = 0.0
    t = t.set_column(t.column_names.index("fps"), "fps", pa.array(fps, pa.float64()))
    write_table(t, paths.table_path("mevis", "track", "train", tmp_path))
    (tmp_path / "media").symlink_to(root / "media")
    ds = get_dataset("mevis_track", root=tmp_path)
    expected = sum(1 for f, s in zip(fps[:2], t.column("sampling_fps").to_pylist()[:2], strict=True)
                   if not candidate_sampling_fps(f, s))
    assert ds.skipped == {"fps not divisible by sampling_fps (or not positive)": expected} and len(ds) == 24 - expected
    row = t.slice(2, 1).to_pylist()[0]
    n_points = sum(len(f["points"]) for f in row["frame_trajectories"])
    row["frame_trajectories"][0]["points"][0]["id"] = "not-a-mask-key"
    tr = track_of_trajectories(row, "video_point_track_per_frame")
    assert len(tr.points) == n_points - 1  # an unknown object key is left out, as the official loader does


def test_schema_drift(root: Path, tmp_path: Path) -> None:
    t = read_table(paths.table_path("lasot", "lasot", "train", root))
    write_table(t.rename_columns(["exp" if c == "expression" else c for c in t.column_names]),
                paths.table_path("lasot", "lasot", "train", tmp_path))
    with pytest.raises(SchemaError, match="expression"):
        get_dataset("lasot", root=tmp_path)


def test_every_tracking_member_is_checked_in_frames() -> None:
    assert len(_every_tracking_member()) == 35 and len({n for n, _, _ in _every_tracking_member()}) == 35


def test_tracking_submixture_weights(sample_root: Path) -> None:
    """Member weight = sqrt(size) * w / 1.11, normalised over the tracking group (MIXTURES.md §3)."""
    from molmo2_data.loading.loader import get_dataloader

    with get_dataloader("molmo2-sft", root=sample_root, framework="numpy") as dl:
        rates, lengths = dl.report["rates"], dl.report["lengths"]
        groups = {r["group"]: r for r in dl.report["groups"]}
    tr = groups["tracking"]
    assert not tr["absent"] and abs(tr["here"] - tr["official"]) < 1e-6
    # vicas_track (virtual size 30000, w 0.40) against mevis_track (its length, w 0.40) and lasot (w 0.10)
    assert rates["vicas_track"] / rates["mevis_track"] == pytest.approx(math.sqrt(30000) / math.sqrt(lengths["mevis_track"]), rel=1e-3)  # rates: 6 decimals
    assert rates["lasot_single_point_track"] / rates["mevis_track"] == pytest.approx(
        0.10 * math.sqrt(lengths["lasot_single_point_track"]) / (0.40 * math.sqrt(lengths["mevis_track"])), rel=1e-3)


def test_track_instruction_clips_by_source(root: Path) -> None:
    ds = get_dataset("molmo2_video_track_ground", root=root)
    ex = ds.example(0)
    assert ex.video.path.endswith(".mp4") and "/tracking/mose/" in ex.video.path
    from molmo2_data.datasets import dataset_class

    cls = dataset_class("molmo2-track-instruction")
    table = read_table(paths.table_path("molmo2-track-instruction", "track", "train", root))
    needs = cls.video_needs(table)
    assert len(needs) == 12 and all(src == "tracking" and v.split("/")[0] in ("mose", "sav", "sportsmot", "dancetrack")
                                    for src, v in needs)


def test_frame_folder_videos(root: Path, tmp_path: Path) -> None:
    """A benchmark shipped as JPEG frame folders (tracking/<set>/<video>/00000.jpg ...) reads as a video at
    the source's fps without re-encoding: frame i at i / fps, and the annotated points sit on the objects."""
    import shutil

    from PIL import Image

    from molmo2_data.media.video import probe_video

    shutil.copytree(root / "tables" / "yt-vis", tmp_path / "tables" / "yt-vis")
    videos = root / "media" / "videos" / "tracking" / "yt-vis"
    for mp4 in sorted(videos.glob("*.mp4"))[:6]:  # half the videos become frame folders, the rest stay files
        n = probe_video(mp4).num_frames
        frames, _ = read_frames_at(mp4, np.arange(n) / 6 + 1e-3)
        folder = tmp_path / "media" / "videos" / "tracking" / "yt-vis" / mp4.stem
        folder.mkdir(parents=True)
        for i, f in enumerate(frames):
            Image.fromarray(f).save(folder / f"{i}.jpg", quality=95)  # natural order: 2.jpg before 10.jpg
    for mp4 in sorted(videos.glob("*.mp4"))[6:]:
        shutil.copy(mp4, tmp_path / "media" / "videos" / "tracking" / "yt-vis" / mp4.name)
    ds = get_dataset("yt_vis_track", root=tmp_path)
    assert len(ds) == len(get_dataset("yt_vis_track", root=root)) and not ds.skipped
    folders = 0
    for i in range(len(ds)):
        ex = ds.example(i)
        (tr,) = ex.annotations
        if not ex.video.frames:
            continue
        folders += 1
        assert ex.video.frame_times == tuple(k / 6 for k in range(len(ex.video.frames)))
        assert [Path(f.path).name for f in ex.video.frames][:12] == [f"{k}.jpg" for k in range(12)]
        t = load_truth("yt-vis", root)[f"track/train/{ex.metadata.source_ids['id']}"]
        for (x, y), k, oid in zip(tr.points, tr.frame_index, tr.object_ids, strict=True):
            frame = ex.video.frames[int(round(tr.timestamps[k] * 6))].load()
            assert pixel_color_name(frame[int(round(y)), int(round(x))]) == t["objects"][oid]["color"]
    assert folders >= 6


def test_bad_rate_and_frame_values_are_counted_not_raised(root: Path) -> None:
    from molmo2_data.datasets.base import AnnotationSet

    assert candidate_sampling_fps(float("nan"), 1) == [] and candidate_sampling_fps(6, float("inf")) == []
    assert candidate_sampling_fps(-6, 1) == [] and candidate_sampling_fps(6, -1) == []
    row = read_table(paths.table_path("mevis", "track", "train", root)).slice(0, 1).to_pylist()[0]
    for bad in ({"time": None}, {"time": float("nan")}, {"frame": None}):
        broken = {**row, "frame_trajectories": [dict(row["frame_trajectories"][0], **bad),
                                                *row["frame_trajectories"][1:]]}
        anns = AnnotationSet()
        assert anns.add(track_of_trajectories, broken, "video_point_track_per_frame") is None
        assert anns.dropped == {"track: a frame without its index or a finite time": 1}
