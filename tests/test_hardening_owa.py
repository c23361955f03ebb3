"""Issue #12 on the OWA pipeline: every bad input gives a clear typed error or a counted skip, every run
exits cleanly. Real recordings (the ``mcap`` writer, PyAV videos, the shared fixtures), the real CLI."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_fixtures
from test_owa import COLORS, FRAME_MS, T0, recording_events, write_mcap, write_video

from molmo2_data.cli.main import main as cli_main
from molmo2_data.errors import ConfigError, MediaMissingError
from molmo2_data.owa import (
    VLMDatasetBuilder,
    build_binned_dataset,
    build_event_dataset,
    build_mllm_dataset,
    read_recording,
)
from molmo2_data.owa.media_report import OwaMediaWarning

pytest.importorskip("mcap")
OWA = shared_fixtures() / "owa"


def status(argv: list[str]) -> int:
    """Exit status of ``molmo2-data ARGV`` (argparse's SystemExit included)."""
    try:
        return cli_main(argv)
    except SystemExit as e:
        return int(e.code)


@pytest.fixture(scope="module")
def recs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """good/: two recordings with their video; novideo/: one good + one whose video is absent."""
    root = tmp_path_factory.mktemp("owa_hard")
    good = root / "good"
    good.mkdir()
    for name in ("a", "b"):
        write_video(good / f"{name}.mkv")
        write_mcap(good / f"{name}.mcap", recording_events("0.5", f"{name}.mkv"))
    novideo = root / "novideo"
    novideo.mkdir()
    write_video(novideo / "ok.mkv")
    write_mcap(novideo / "ok.mcap", recording_events("0.5", "ok.mkv"))
    write_mcap(novideo / "gone.mcap", recording_events("0.5", "gone.mkv"))
    return {"root": root, "good": good, "novideo": novideo}


# ---------------------------------------------------------------------------------------------------
# 1. a .mkv that is not a video -> not_a_video
# ---------------------------------------------------------------------------------------------------


def test_stage3_junk_mkv_is_not_a_video(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "junk.mkv").write_bytes(b"\x1aE\xdf\xa3" + bytes(range(256)) * 8)  # EBML magic, then garbage
    write_mcap(src / "junk.mcap", recording_events("0.5", "junk.mkv"))
    build_event_dataset(src, tmp_path / "ev", rates={})
    build_binned_dataset(tmp_path / "ev", tmp_path / "bins", fps=10)
    dd = build_mllm_dataset(tmp_path / "bins", tmp_path / "mllm", sequence_length=100)
    row = dd["train"][0]
    assert {r["error"] for r in row["image_refs"]} == {"not_a_video"}
    reasons = [m["reason"] for m in row["metadata"]["missing_images"]]
    assert reasons.count("not_a_video") == len(row["image_refs"]) == 9 and row["metadata"]["num_images"] == 0
    assert dd.manifest["media_summary"]["train"]["without_media"]["not_a_video"] == 9


# ---------------------------------------------------------------------------------------------------
# 2. missing videos are reported by every stage, and the adapter skips (and counts) image-less windows
# ---------------------------------------------------------------------------------------------------


def test_every_stage_reports_rows_without_media(recs: dict[str, Path], tmp_path: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    ev, bins, mllm = tmp_path / "ev", tmp_path / "bins", tmp_path / "mllm"
    assert status(["owa", "events", "--train-dir", str(recs["novideo"]), "--test-percent", "0.5", "--seed", "0",
                   "--output-dir", str(ev), "--rate", "mouse=60", "screen=20"]) == 0
    out = capsys.readouterr().out
    manifest = json.loads((ev / "owa_manifest.json").read_text())
    gone = next(s for f, s in manifest["files"].items() if f.endswith("gone.mcap"))
    assert gone["media"] == {"screen_rows": 5, "without_media": {"missing_video": 5}}
    split = gone["split"]
    assert manifest["media_summary"][split] == {"rows": 5, "without_media": {"missing_video": 5}}
    assert f"media ({split}): 5 of 5 screen rows lack a usable screen (missing_video: 5)" in out

    assert status(["owa", "bin", "--input-dir", str(ev), "--output-dir", str(bins), "--fps", "10"]) == 0
    out = capsys.readouterr().out
    bins_summary = json.loads((bins / "owa_manifest.json").read_text())["media_summary"][split]
    # events span 0..0.996 s: 10 bins of 100 ms; the first screen is logged at 50 ms -> bin 0 has none
    assert bins_summary == {"rows": 10, "without_media": {"missing_video": 9, "no_screen_yet": 1}}
    assert f"media ({split}): 10 of 10 bins lack a usable screen (missing_video: 9, no_screen_yet: 1)" in out

    assert status(["owa", "sequences", "--input-dir", str(bins), "--output-dir", str(mllm),
                   "--sequence-length", "3", "--overlap-ratio", "0"]) == 0
    out = capsys.readouterr().out
    seq = json.loads((mllm / "owa_manifest.json").read_text())["media_summary"][split]
    assert seq == {"windows": 4, "windows_without_images": 4, "without_media": {"missing_video": 9, "no_screen_yet": 1}}
    assert f"media ({split}): 4 of 4 windows have no usable screen frame" in out

    with pytest.warns(OwaMediaWarning, match="4 of 4 windows have no usable screen frame; frames unavailable: "
                                             "missing_video: 9"):
        builder = VLMDatasetBuilder(str(mllm), image_format="numpy", split=split)
    assert builder.media_summary["windows_without_images"] == 4


def test_adapter_skips_and_counts_windows_without_frames(recs: dict[str, Path], tmp_path: Path) -> None:
    from molmo2_data.owa.adapter import OwaMllmDataset

    build_event_dataset(recs["novideo"], tmp_path / "ev", test_dir=None, test_percent=0.5, seed=0)
    build_binned_dataset(tmp_path / "ev", tmp_path / "bins", fps=10)
    dd = build_mllm_dataset(tmp_path / "bins", tmp_path / "mllm", sequence_length=100)
    split = next(s for s, d in dd.items() if d[0]["metadata"]["file_path"].endswith("gone.mcap"))
    with pytest.warns(OwaMediaWarning):
        ds = OwaMllmDataset(tmp_path / "mllm", split=split)
    with pytest.raises(MediaMissingError, match="no usable screen frame \\(missing_video\\)") as err:
        ds[0]
    assert err.value.path == str(recs["novideo"] / "gone.mkv")
    assert ds.skipped == {"no usable frame: missing_video": 1}
    with pytest.warns(OwaMediaWarning):
        text_only = OwaMllmDataset(tmp_path / "mllm", split=split, allow_text_only=True)
    ex = text_only[0]
    assert ex.images == () and len(ex.annotations[0].messages[1].content.split("\n")) == dd[split][0]["metadata"]["num_actions"]
    with pytest.raises(ConfigError):
        OwaMllmDataset(tmp_path / "mllm", split=split, allow_text_only="yes")


def test_loader_counts_image_less_desktop_windows(recs: dict[str, Path], tmp_path: Path, sample_root: Path) -> None:
    """In a mixture the image-less windows are skipped and counted in report["skipped"] (they used to be
    fed as 0-image examples with an empty report)."""
    from molmo2_data.loading.loader import get_dataloader
    from molmo2_data.owa.adapter import register_owa_dataset

    # train = ok + gone (5 windows of 2 bins each, gone's without any frame); test = the good folder
    build_event_dataset(recs["novideo"], tmp_path / "ev", test_dir=recs["good"], rates={})
    build_binned_dataset(tmp_path / "ev", tmp_path / "bins", fps=10)
    build_mllm_dataset(tmp_path / "bins", tmp_path / "mllm", sequence_length=2, overlap_ratio=0)
    register_owa_dataset("owa-hardening-novideo", tmp_path / "mllm")
    with pytest.warns(OwaMediaWarning, match="5 of 10 windows have no usable screen frame"):
        dl = get_dataloader("sft", batch_size=1, root=sample_root, sequence_length=16384, framework="numpy",
                            mixture={"owa-hardening-novideo": 0.9, "pixmo-cap": 0.1}, packing_buffer=2, seed=1)
        it = iter(dl)
        for _ in range(6):
            next(it)
    skipped = dl.report["skipped"]
    assert skipped.get("owa-hardening-novideo: MediaMissingError", 0) > 0, skipped
