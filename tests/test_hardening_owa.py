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


# ---------------------------------------------------------------------------------------------------
# 3. outputs are never written over inputs or earlier runs without --overwrite
# ---------------------------------------------------------------------------------------------------


def _tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_output_may_not_overlap_an_input(recs: dict[str, Path], tmp_path: Path,
                                         capsys: pytest.CaptureFixture) -> None:
    ev = tmp_path / "ev"
    build_event_dataset(recs["good"], ev, test_percent=0.5)
    before = _tree(ev)
    for out, extra in ((ev, []), (ev, ["--overwrite"]), (ev / "sub", ["--overwrite"]), (tmp_path, ["--overwrite"])):
        assert status(["owa", "bin", "--input-dir", str(ev), "--output-dir", str(out), *extra]) == 2
        err = capsys.readouterr().err
        assert "input directory" in err and str(out) in err
    assert _tree(ev) == before  # the stage-1 data is intact
    # stage 1: the recordings folder is an input too
    assert status(["owa", "events", "--train-dir", str(recs["good"]), "--output-dir", str(recs["good"] / "ev"),
                   "--overwrite"]) == 2
    assert "is inside the input directory" in capsys.readouterr().err and not (recs["good"] / "ev").exists()


def test_non_empty_output_needs_overwrite_and_leaves_no_stale_split(recs: dict[str, Path], tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture) -> None:
    from datasets import load_from_disk

    out = tmp_path / "ev"
    assert status(["owa", "events", "--train-dir", str(recs["good"]), "--test-percent", "0.5",
                   "--output-dir", str(out)]) == 0
    assert sorted(load_from_disk(str(out))) == ["test", "train"]
    one = tmp_path / "one"
    one.mkdir()
    for f in ("a.mcap", "a.mkv"):
        shutil.copy(recs["good"] / f, one / f)
    capsys.readouterr()
    assert status(["owa", "events", "--train-dir", str(one), "--output-dir", str(out)]) == 2
    assert "is not empty; pass --overwrite" in capsys.readouterr().err
    assert sorted(load_from_disk(str(out))) == ["test", "train"]  # untouched
    assert status(["owa", "events", "--train-dir", str(one), "--output-dir", str(out), "--overwrite"]) == 0
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["train"]  # the old test/ split is gone
    dd = load_from_disk(str(out))
    assert sorted(dd) == ["train"] and set(dd["train"]["file_path"]) == {str((one / "a.mcap").resolve())}


# ---------------------------------------------------------------------------------------------------
# 4. split after reading; readable reasons; .MCAP files
# ---------------------------------------------------------------------------------------------------


def _seed_putting_first_in_test(names: list[str]) -> int:
    """A seed for which the pre-#12 rule (split before reading, n_test = 1 of 2) made ``names[0]`` the
    test file, i.e. the good file left train empty."""
    for seed in range(100):
        if min(names, key=lambda n: hashlib.sha1(f"{seed}:{n}".encode()).hexdigest()) == names[0]:
            return seed
    raise AssertionError("no such seed")


def test_split_only_readable_files_with_readable_reasons(recs: dict[str, Path], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(recs["good"] / "a.mcap", src / "good.mcap")
    shutil.copy(recs["good"] / "a.mkv", src / "a.mkv")
    (src / "junk.mcap").write_bytes(b"this is not an mcap file at all" * 4)
    seed = _seed_putting_first_in_test(["good.mcap", "junk.mcap"])
    ev = tmp_path / "ev"
    assert status(["owa", "events", "--train-dir", str(src), "--test-percent", "0.5", "--seed", str(seed),
                   "--output-dir", str(ev)]) == 0
    out = capsys.readouterr().out
    manifest = json.loads((ev / "owa_manifest.json").read_text())
    good, junk = str((src / "good.mcap").resolve()), str((src / "junk.mcap").resolve())
    assert manifest["splits"] == {"train": [good], "test": []}
    assert manifest["unassigned"] == {junk: "not an MCAP file (bad magic)"}
    assert manifest["files"][junk]["reason"] == "not_mcap" and manifest["files"][junk]["split"] is None
    assert f"not in any split: {junk}: not an MCAP file (bad magic)" in out
    # the next stages work on the train split (it used to be empty: "ConfigError: no split 'train'")
    build_binned_dataset(ev, tmp_path / "bins")
    build_mllm_dataset(tmp_path / "bins", tmp_path / "mllm", sequence_length=100)
    assert len(VLMDatasetBuilder(str(tmp_path / "mllm"), split="train")) == 1


def test_damaged_files_get_readable_reasons(recs: dict[str, Path], tmp_path: Path) -> None:
    data = (recs["good"] / "a.mcap").read_bytes()
    cases = {"cut.mcap": (data[:700], "truncated", "truncated MCAP file (ends inside a record)"),
             "magic.mcap": (data[:8], "truncated", "truncated MCAP file (ends inside a record)"),
             "zero.mcap": (b"", "empty_file", "empty file (0 bytes, not an MCAP file)"),
             "text.mcap": (b"hello" * 10, "not_mcap", "not an MCAP file (bad magic)"),
             "short.mcap": (b"hi\n", "not_mcap", "not an MCAP file (bad magic)")}
    for name, (blob, code, text) in cases.items():
        (tmp_path / name).write_bytes(blob)
        try:
            rec = read_recording(tmp_path / name)
            got = (rec.error_reason, rec.error)
        except Exception as e:  # noqa: BLE001 - the typed error is checked below
            assert type(e).__name__ == "RecordingError", repr(e)
            got = (e.reason, str(e).split(": ", 1)[1])
        assert got == (code, text), name
        assert "EndOfFile" not in got[1] and "unpack requires" not in got[1]


def test_upper_case_extension_is_read_and_counted(recs: dict[str, Path], tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(recs["good"] / "a.mcap", src / "lower.mcap")
    shutil.copy(recs["good"] / "a.mcap", src / "UPPER.MCAP")
    shutil.copy(recs["good"] / "a.mkv", src / "a.mkv")
    dd = build_event_dataset(src, tmp_path / "ev", test_percent=0.5)
    files = dd.manifest["files"]
    upper = str((src / "UPPER.MCAP").resolve())
    assert sorted(Path(f).name for f in files) == ["UPPER.MCAP", "lower.mcap"]
    assert files[upper]["status"] == "ok" and files[upper]["kept"] == files[str((src / "lower.mcap").resolve())]["kept"]
    assert sum(len(d) for d in dd.values()) == 2 * files[upper]["kept"]


# ---------------------------------------------------------------------------------------------------
# 5. an unwritable output fails first, with the path, exit 2
# ---------------------------------------------------------------------------------------------------


@pytest.fixture
def read_only_dir(tmp_path: Path):
    """An existing, empty directory nobody can write into (chattr +i as root, chmod otherwise)."""
    d = tmp_path / "ro"
    d.mkdir()
    if os.geteuid() == 0:
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(d)], capture_output=True).returncode:
            pytest.skip("running as root without chattr +i: cannot make a read-only directory")
        try:
            yield d
        finally:
            subprocess.run(["chattr", "-i", str(d)], check=False)
    else:
        d.chmod(0o555)
        try:
            yield d
        finally:
            d.chmod(0o755)


def test_unwritable_output_fails_before_any_work(recs: dict[str, Path], read_only_dir: Path,
                                                 monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    from molmo2_data.owa import events

    read = []
    original = events.process_file
    monkeypatch.setattr(events, "process_file", lambda path, rates: read.append(path) or original(path, rates))
    assert status(["owa", "events", "--train-dir", str(recs["good"]), "--output-dir", str(read_only_dir)]) == 2
    err = capsys.readouterr().err
    assert f"output directory {read_only_dir} is not writable" in err and "Traceback" not in err
    assert read == []  # no recording was read
    assert status(["owa", "events", "--train-dir", str(recs["good"]),
                   "--output-dir", str(read_only_dir / "new" / "ev")]) == 2
    assert f"output directory {read_only_dir / 'new' / 'ev'} is not writable" in capsys.readouterr().err
    assert read == []


def test_output_below_a_file_is_a_usage_error(recs: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ConfigError, match="afile/ev is not writable"):
        build_event_dataset(recs["good"], tmp_path / "afile" / "ev")
    with pytest.raises(ConfigError, match="exists and is not a directory"):
        build_event_dataset(recs["good"], tmp_path / "afile")


# ---------------------------------------------------------------------------------------------------
# 6. the frame cache holds frames, not the decoded batch they came from
# ---------------------------------------------------------------------------------------------------


def test_cache_holds_owned_frames_and_reports_bytes(recs: dict[str, Path]) -> None:
    builder = VLMDatasetBuilder(_empty_mllm(), image_format="numpy", max_cache_size=1)
    video = str(recs["good"] / "a.mkv")
    refs = [{"path": video, "pts_ns": ms * 1_000_000, "bin_idx": k} for k, ms in enumerate(FRAME_MS)]
    frames, errors = builder.load_frames(refs)  # one decode call: the five frames come out of one batch
    assert errors == []
    (key, cached), = builder.cache.entries.items()
    assert key == (video, FRAME_MS[-1] * 1_000_000)
    assert cached.base is None and cached.nbytes == 48 * 64 * 3  # owns exactly one frame
    assert np.abs(cached.reshape(-1, 3).mean(0) - COLORS[-1]).max() < 8
    assert all(f.base is None for f in frames)  # returned frames do not pin the batch either
    stats = builder.get_cache_stats()
    assert stats["bytes"] == 48 * 64 * 3 and stats["size"] == 1 and stats["evictions"] == 4


def _empty_mllm():
    from datasets import Dataset

    from molmo2_data.owa.sequences import mllm_features

    return Dataset.from_dict({k: [] for k in mllm_features()}, features=mllm_features())


# ---------------------------------------------------------------------------------------------------
# 7. 0.3.0 keyboard state (pressed_vk_list, written by mcap-owa-support 0.1.0)
# ---------------------------------------------------------------------------------------------------


def test_pressed_vk_list_fills_keys_held(tmp_path: Path) -> None:
    """A recording in the 0.3.0 format (library mcap-owa-support 0.1.0; OWA.md §4: KeyboardState field
    ``pressed_vk_list``), written with the mcap writer: keys_held follows the raw snapshots."""
    src = tmp_path / "src"
    src.mkdir()
    write_video(src / "v.mkv")
    events = recording_events("0.3", "v.mkv")
    snapshots = [(T0 + 5_000_000, [162]), (T0 + 255_000_000, [162, 67]), (T0 + 605_000_000, [])]
    events += [("keyboard/state", "owa.env.desktop.msg.KeyboardState", t, {"pressed_vk_list": vks})
               for t, vks in snapshots]
    write_mcap(src / "old.mcap", sorted(events, key=lambda e: e[2]), library="mcap-owa-support 0.1.0; mcap 1.2.1")
    raw = [(e.timestamp_ns, json.loads(e.msg)["pressed_vk_list"]) for e in read_recording(src / "old.mcap").events
           if e.topic == "keyboard/state"]
    assert raw == snapshots
    build_event_dataset(src, tmp_path / "ev", rates={})
    build_binned_dataset(tmp_path / "ev", tmp_path / "bins", fps=10,
                         keep_topics=["screen", "keyboard", "keyboard/state", "mouse"])
    row = build_mllm_dataset(tmp_path / "bins", tmp_path / "mllm", sequence_length=100)["train"][0]
    from molmo2_data.owa.numeric import STATE_FIELDS

    keys_held = np.asarray(row["state_vectors"])[:, STATE_FIELDS.index("keys_held")]
    start = row["metadata"]["start_timestamp_ns"]
    width = row["metadata"]["bin_width_ns"]
    # state at the start of bin b = the last snapshot in an earlier bin, then key events (the 0.3 recording
    # presses and releases vk 65 at 150/151 ms, in bin 1 - before any snapshot says otherwise)
    expected = []
    for b in range(row["metadata"]["num_bins"]):
        before = [vks for t, vks in snapshots if (t - start) // width < b]
        expected.append(np.nan if not before else float(len(before[-1])))
    np.testing.assert_array_equal(keys_held, expected)
    assert keys_held[3] == 2 and keys_held[9] == 0  # Ctrl+C held after 255 ms, none after 605 ms


# ---------------------------------------------------------------------------------------------------
# every owa flag is validated (exit 2, before any work)
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stage,flags,message", [
    ("events", ["--test-percent", "150"], "--test-percent"),
    ("events", ["--test-percent", "0"], "--test-percent"),
    ("events", ["--workers", "-1"], "--workers"),
    ("events", ["--seed", "-1"], "--seed"),
    ("events", ["--rate", "mouse=fast"], "Hz must be a number"),
    ("events", ["--rate", "mouse=-5"], ">= 0"),
    ("events", ["--rate", "mouse=inf"], "finite"),
    ("events", ["--rate", "mouse=nan"], "finite"),
    ("events", ["--rate", "mouse"], "topic=Hz"),
    ("events", ["--rate", "=5"], "topic=Hz"),
    ("bin", ["--fps", "0"], "--fps"),
    ("bin", ["--fps", "-3"], "--fps"),
    ("bin", ["--fps", "inf"], "--fps"),
    ("bin", ["--fps", "2e9"], "--fps"),
    ("bin", ["--keep-topic", ""], "--keep-topic"),
    ("sequences", ["--sequence-length", "0"], "--sequence-length"),
    ("sequences", ["--overlap-ratio", "1"], "--overlap-ratio"),
    ("sequences", ["--overlap-ratio", "nan"], "--overlap-ratio"),
    ("sequences", ["--instruction", " "], "--instruction"),
])
def test_bad_flag_values_exit_2_before_work(recs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture,
                                            stage: str, flags: list[str], message: str) -> None:
    inputs = {"events": ["--train-dir", str(recs["good"])], "bin": ["--input-dir", str(recs["good"])],
              "sequences": ["--input-dir", str(recs["good"])]}[stage]
    with pytest.raises(SystemExit) as exc:  # argparse rejects it: nothing was read or written
        cli_main(["owa", stage, *inputs, "--output-dir", str(tmp_path / "out"), *flags])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]  # argparse: usage lines, then one "error:" line
    assert "error: argument" in last and message in last and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_missing_input_dirs_and_api_values(tmp_path: Path, recs: dict[str, Path]) -> None:
    assert status(["owa", "bin", "--input-dir", str(tmp_path / "nope"), "--output-dir", str(tmp_path / "o")]) == 2
    assert status(["owa", "events", "--train-dir", str(tmp_path / "nope"), "--output-dir", str(tmp_path / "o")]) == 2
    # a folder that is not a saved dataset: a usage error naming it, not a datasets traceback
    assert status(["owa", "bin", "--input-dir", str(recs["good"]), "--output-dir", str(tmp_path / "o")]) == 2
    ev = tmp_path / "ev"
    build_event_dataset(recs["good"], ev, test_percent=0.5)
    for kwargs in ({"fps": float("inf")}, {"fps": float("nan")}, {"fps": True}, {"keep_topics": "screen"}):
        with pytest.raises(ConfigError):
            build_binned_dataset(ev, None, **kwargs)
    with pytest.raises(ConfigError):
        build_event_dataset(recs["good"], None, workers=-1)
    with pytest.raises(ConfigError):
        build_event_dataset(recs["good"], None, rates={"mouse": float("inf")})


def test_stage4_on_a_folder_that_is_not_a_dataset(recs: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match="is not an MLLM dataset saved by `owa sequences`"):
        VLMDatasetBuilder(str(recs["good"]))


def test_overwrite_never_empties_the_current_directory(recs: dict[str, Path], tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    (work / "notes").mkdir(parents=True)
    (work / "notes" / "keep.txt").write_text("mine")
    monkeypatch.chdir(work / "notes")
    assert status(["owa", "events", "--train-dir", str(recs["good"]), "--output-dir", str(work), "--overwrite"]) == 2
    assert (work / "notes" / "keep.txt").read_text() == "mine"


def test_hand_made_intermediates_with_bad_rows_are_counted(tmp_path: Path) -> None:
    """Null values and non-UTF-8 payloads in an event dataset, unreadable actions in a binned dataset:
    counted skips in the manifest / metadata, not a ValueError / UnicodeDecodeError / JSONDecodeError."""
    from datasets import Dataset, DatasetDict

    from molmo2_data.owa.binning import bin_features
    from molmo2_data.owa.events import event_features

    move = b'{"event_type":"move","x":1,"y":2}'
    ev = Dataset.from_dict({"file_path": ["/r/a.mcap"] * 4, "topic": ["mouse"] * 4,
                            "timestamp_ns": [None, 5, 7, 9], "message_type": ["desktop/MouseEvent"] * 4,
                            "msg": [move, move, b"\xff\xfe", move]}, features=event_features())
    DatasetDict({"train": ev}).save_to_disk(str(tmp_path / "ev"))
    dd = build_binned_dataset(tmp_path / "ev", tmp_path / "bins", fps=10)
    assert dd.manifest["skipped_rows"] == {"train": {"bad_utf8_msg": 1, "null_timestamp_ns": 1}}
    assert dd["train"][0]["num_actions"] == 2
    bins = Dataset.from_dict({"file_path": ["/r/a.mcap"] * 2, "bin_idx": [0, 1], "timestamp_ns": [0, 100],
                              "state": [None, None], "actions": [b"not json", b'[{"topic": "mouse"}]'],
                              "state_timestamp_ns": [None, None], "state_topic": [None, None],
                              "num_actions": [3, 1]}, features=bin_features())
    DatasetDict({"train": bins}).save_to_disk(str(tmp_path / "bins2"))
    row = build_mllm_dataset(tmp_path / "bins2", None, sequence_length=4)["train"][0]
    assert row["metadata"]["skipped_events"] == 4 and row["encoded_events"] == []
