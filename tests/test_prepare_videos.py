"""``molmo2-data prepare videos``: the prepared copy is frame-exact at the loader's sample times (same
frames, bit for bit when lossless; the same tokens and pixels out of the loader), the readers pick it
(and the original for times off its grid), the manifest skips up-to-date videos on a rerun, a corrupt
source is a counted failure, and the Ray engine writes the same bytes as the local one."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from molmo2_data.cli.main import main as cli
from molmo2_data.datasets import get_dataset
from molmo2_data.datasets.base import rng_for_index
from molmo2_data.example import VideoRef
from molmo2_data.loading.loader import build_encoder, stage_config
from molmo2_data.media.video import probe_video, read_frames_at
from molmo2_data.prepare import VideoTask, prepare_video, prepare_videos
from molmo2_data.prepare.videos import read_tag
from molmo2_data.sample import write_sample
from molmo2_data.text.tokenizer import load_tokenizer
from molmo2_data.vision.video import VideoConfig, decode_times, preprocess_video, sample_times

# ---------------------------------------------------------------------------------------------
# Real videos written with PyAV: moving content, noise, B-frames, odd durations
# ---------------------------------------------------------------------------------------------


def picture(k: int, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """A gradient sliding sideways, a square moving across it, and noise (so codecs cannot cheat)."""
    x = (np.arange(w)[None, :] * 3 + k * 5) % 256
    y = np.arange(h)[:, None] * 2
    img = np.stack([np.broadcast_to(x, (h, w)), np.broadcast_to(y, (h, w)), np.broadcast_to((x + y) // 2, (h, w))], -1)
    img = img.astype(np.int16) + rng.integers(-12, 13, (h, w, 3))
    cx = (k * 4) % (w - 16)
    img[h // 3: h // 3 + 16, cx: cx + 16] = (250, 30, 30)
    return np.clip(img, 0, 255).astype(np.uint8)


def write_video(path: Path, fps: float = 30, seconds: float = 4.3, size: tuple[int, int] = (96, 64),
                pix_fmt: str = "yuv420p", vfr: bool = False, color_range: int | None = None) -> Path:
    """H.264 in MP4 or MKV (by suffix): keyframe every 2 s, B-frames; ``vfr``: jittered frame times."""
    w, h = size
    rng = np.random.default_rng(len(path.name))
    n = round(fps * seconds)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        s.width, s.height, s.pix_fmt = w, h, pix_fmt
        s.options = {"g": str(max(1, round(2 * fps))), "bframes": "2", "preset": "veryfast", "crf": "23"}
        tb = Fraction(1, 1000) if vfr else 1 / Fraction(fps).limit_denominator(1000)
        s.codec_context.time_base = tb
        if color_range is not None:
            s.codec_context.color_range = color_range
            s.codec_context.colorspace = 1  # BT.709
        for k in range(n):
            frame = av.VideoFrame.from_ndarray(picture(k, w, h, rng), format="rgb24")
            frame.pts = round(1000 * (k / fps + 0.012 * np.sin(k))) if vfr else k
            frame.time_base = tb
            out.mux(s.encode(frame))
        out.mux(s.encode(None))
    return path


SOURCES = {
    "mp4-30fps-bframes": dict(name="a.mp4"),
    "mkv-25fps": dict(name="b.mkv", fps=25, seconds=3.1),
    "mkv-vfr": dict(name="c.mkv", fps=24, seconds=2.6, vfr=True),
    "mp4-full-range-bt709": dict(name="d.mp4", fps=12, seconds=2.2, pix_fmt="yuvj420p", color_range=2),
    "mp4-29.97fps": dict(name="e.mp4", fps=30000 / 1001, seconds=2.5),
}


def prepared(root: Path, name: str, **kw) -> tuple[Path, Path, dict]:
    spec = {k: v for k, v in SOURCES[name].items() if k != "name"}
    src = write_video(root / "v" / SOURCES[name]["name"], **spec)
    rel = os.path.relpath(src, root)
    out = os.path.join(os.path.dirname(rel), Path(rel).stem + "_2fps.mp4")
    rec = prepare_video(VideoTask(str(root), rel, out, **kw))
    return src, root / out, rec


def all_queries(duration: float) -> np.ndarray:
    """Every time the loader samples a whole video at 2 fps: the grid, then the end."""
    return decode_times(sample_times(duration, 2.0, 10**9), 0.0, duration)


# ---------------------------------------------------------------------------------------------
# Frame-exactness
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SOURCES))
def test_frames_at_the_sampled_times_are_the_originals_bit_for_bit(tmp_path: Path, name: str) -> None:
    src, out, rec = prepared(tmp_path, name)
    assert rec["status"] == "ok", rec
    a, b = probe_video(src), probe_video(out)
    assert b.duration == a.duration  # so the loader computes the same sample times from either file
    q = all_queries(a.duration)
    fa, _ = read_frames_at(src, q)
    fb, shown = read_frames_at(out, q)
    np.testing.assert_array_equal(fb, fa)  # tolerance 0: lossless, same YUV planes and colour tags
    grid = np.arange(0.0, a.duration, 0.5)
    assert np.all(shown[: len(grid)] == grid) and shown[-1] <= a.duration  # frames at k/2 s, the last at its own time
    assert rec["frames"] == b.num_frames == len(np.unique(shown)) <= len(grid) + 1 < a.num_frames  # at most 2 fps
    assert read_tag(str(out))["source"] == src.name
    with av.open(str(out)) as c:  # no B-frames (packets in display order), a keyframe every 5 s
        packets = [p for p in c.demux(c.streams.video[0]) if p.size]
    assert all(p.pts == p.dts for p in packets) and [p.is_keyframe for p in packets] == [i % 10 == 0 for i in range(len(packets))]


def test_lossy_crf_stays_within_its_stated_tolerance(tmp_path: Path) -> None:
    src, out, rec = prepared(tmp_path, "mp4-30fps-bframes", crf=18)
    assert rec["status"] == "ok" and rec["crf"] == 18, rec["reason"]
    q = all_queries(probe_video(src).duration)
    fa, _ = read_frames_at(src, q)
    fb, _ = read_frames_at(out, q)
    err = (fa.astype(np.float64) - fb) ** 2
    psnr = 10 * np.log10(255**2 / err.mean())
    assert psnr > 35.0, psnr  # docs/prepare.md: crf 18 is a visually lossless second generation, not exact


def test_the_loader_gives_the_same_tokens_and_pixels_from_either_file(tmp_path: Path) -> None:
    src, out, _ = prepared(tmp_path, "mp4-30fps-bframes")
    cfg = VideoConfig(max_frames=128, normalize_on_gpu=True)
    a, b = preprocess_video(VideoRef(str(src)), cfg), preprocess_video(VideoRef(str(out)), cfg)
    np.testing.assert_array_equal(b.tokens, a.tokens)
    np.testing.assert_array_equal(b.pixels, a.pixels)
    np.testing.assert_array_equal(b.frame_times, a.frame_times)
    # times off the 2 fps grid (a clip from 0.3 s; 5 evenly spaced frames) come from the original beside it
    for ref_a, ref_b, c in ((VideoRef(str(src), clip_start=0.3), VideoRef(str(out), clip_start=0.3), cfg),
                            (VideoRef(str(src)), VideoRef(str(out)), VideoConfig(max_frames=5))):
        x, y = preprocess_video(ref_a, c), preprocess_video(ref_b, c)
        np.testing.assert_array_equal(y.pixels, x.pixels)
        np.testing.assert_array_equal(y.decoded_times, x.decoded_times)


@pytest.fixture(scope="module")
def cap_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """molmo2-cap's sample data (24 short videos, MP4 and MKV), one of them replaced by a 30 fps video."""
    root = tmp_path_factory.mktemp("prep_cap")
    write_sample(root, datasets=["molmo2-cap"], progress=False)
    first = sorted((root / "media" / "videos" / "youtube").glob("*.mp4"))[0]
    write_video(first, **{k: v for k, v in SOURCES["mp4-30fps-bframes"].items() if k != "name"})
    return root


def test_the_dataset_reads_the_prepared_copy_and_encodes_the_same_examples(cap_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(cap_root, root)
    cfg = stage_config("molmo2-sft")
    enc = build_encoder(cfg, load_tokenizer("qwen3"), cfg.sequence_length, cfg.mixture(), cfg.max_frames)

    def encode_all() -> tuple[list[str], list]:
        ds = get_dataset("molmo2-cap", root=root)
        exs = [ds.get(i, rng_for_index(i, 0)) for i in range(len(ds))]
        return [e.video.path for e in exs], [enc.encode_or_raise(e, rng_for_index(i, 0)) for i, e in enumerate(exs)]

    paths_before, before = encode_all()
    report = prepare_videos(root, ["molmo2-cap"], progress=False)
    assert report.prepared == report.videos == len(set(paths_before)) and not report.failed
    paths_after, after = encode_all()  # the manifest's mtime is in the index key: ids now resolve to copies
    assert all(p.endswith("_2fps.mp4") for p in paths_after) and not any(p.endswith("_2fps.mp4") for p in paths_before)
    for x, y in zip(before, after, strict=True):
        np.testing.assert_array_equal(y.input_ids, x.input_ids)
        np.testing.assert_array_equal(y.target_ids, x.target_ids)
        np.testing.assert_array_equal(y.pixels, x.pixels)


# ---------------------------------------------------------------------------------------------
# Manifest, reruns, failures
# ---------------------------------------------------------------------------------------------


def manifest_lines(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "manifests" / "prepared-videos.jsonl").read_text().splitlines()]


def outputs(root: Path) -> dict[str, tuple[int, bytes]]:
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in root.rglob("*_2fps.mp4")}


def test_manifest_records_and_a_rerun_skips_what_is_up_to_date(cap_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(cap_root, root)
    assert cli(["prepare", "videos", "--root", str(root), "--datasets", "molmo2-cap", "--quiet"]) == 0
    lines = manifest_lines(root)
    first = outputs(root)
    assert len(lines) == len(first) == 24
    for rec in lines:
        src, out = root / rec["source"], root / rec["output"]
        assert rec["status"] == "ok" and rec["reason"] == "" and rec["fps"] == 2.0 and rec["frames"] >= 1
        assert (rec["source_size"], rec["source_mtime_ns"]) == (src.stat().st_size, src.stat().st_mtime_ns)
        assert out == src.with_name(src.stem + "_2fps.mp4") and rec["bytes"] == out.stat().st_size
        assert rec["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    report = prepare_videos(root, ["molmo2-cap"], progress=False)
    assert (report.prepared, report.unchanged) == (0, 24) and outputs(root) == first
    assert len(manifest_lines(root)) == 24  # nothing appended

    # a changed source, a damaged copy, a lost manifest line: each redone or recognised, the rest kept
    changed, damaged = sorted(root.rglob("*_2fps.mp4"))[:2]
    source = next(p for p in changed.parent.iterdir() if p.stem + "_2fps" == changed.stem)
    os.utime(source, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns + 10**9))
    damaged.write_bytes(damaged.read_bytes()[:-7] + b"garbage")
    report = prepare_videos(root, ["molmo2-cap"], progress=False)
    assert (report.prepared, report.unchanged) == (2, 22)
    assert outputs(root)[damaged.name][1] == first[damaged.name][1]  # re-encoded to the same bytes
    assert outputs(root)[changed.name][1] != first[changed.name][1]  # its tag names the new source stamp
    second = outputs(root)
    (root / "manifests" / "prepared-videos.jsonl").unlink()  # as if killed before the lines were written
    report = prepare_videos(root, ["molmo2-cap"], progress=False)
    assert report.prepared == 24 and outputs(root) == second  # recognised by their tags, not rewritten
    assert len(manifest_lines(root)) == 24


def test_a_corrupt_source_is_a_counted_failure_and_foreign_copies_are_kept(cap_root: Path, tmp_path: Path,
                                                                            capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "root"
    shutil.copytree(cap_root, root)
    videos = sorted((root / "media" / "videos" / "youtube").glob("*.mp4"))
    videos[1].write_bytes(videos[1].read_bytes()[:300])  # truncated
    videos[2].write_bytes(b"\x00not a video" * 50)
    foreign = videos[3].with_name(videos[3].stem + "_2fps.mp4")
    foreign.write_bytes(videos[3].read_bytes())  # someone else's "_2fps" file: not ours to replace
    assert cli(["prepare", "videos", "--root", str(root), "--datasets", "molmo2-cap", "--quiet"]) == 3
    printed = capsys.readouterr().out
    assert "prepared 21, up to date 0, not needed 0, failed 3" in printed
    bad = {r["source"].rsplit("/", 1)[1]: r for r in manifest_lines(root) if r["status"] == "failed"}
    assert set(bad) == {videos[1].name, videos[2].name, videos[3].name}
    assert bad[videos[2].name]["reason"].startswith("corrupt source")
    assert bad[videos[3].name]["reason"].startswith("output exists and was not written by prepare videos")
    assert foreign.read_bytes() == videos[3].read_bytes() and not videos[1].with_name(videos[1].stem + "_2fps.mp4").exists()
    assert cli(["prepare", "videos", "--root", str(root), "--datasets", "molmo2-cap", "--quiet", "--force"]) == 3
    assert read_tag(str(foreign)) is not None  # --force replaced it; the corrupt two still fail


def test_sources_at_or_below_2_fps_are_not_needed(tmp_path: Path) -> None:
    src = write_video(tmp_path / "v" / "slow.mp4", fps=2, seconds=3)
    rec = prepare_video(VideoTask(str(tmp_path), "v/slow.mp4", "v/slow_2fps.mp4"))
    assert rec["status"] == "unneeded" and not (src.parent / "slow_2fps.mp4").exists()


def test_bad_arguments_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_sample(tmp_path, datasets=["pixmo-cap"], progress=False)
    assert cli(["prepare", "videos", "--root", str(tmp_path), "--datasets", "pixmo-cap"]) == 2
    assert "not a video dataset: pixmo-cap" in capsys.readouterr().err
    assert cli(["prepare", "videos", "--root", str(tmp_path), "--datasets", "no-such-set"]) == 2
    assert "unknown dataset 'no-such-set'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        cli(["prepare", "videos", "--fps", "0"])
    assert e.value.code == 2


# ---------------------------------------------------------------------------------------------
# Ray
# ---------------------------------------------------------------------------------------------


def test_ray_engine_writes_the_same_bytes_as_local(cap_root: Path, tmp_path: Path, ray_cluster) -> None:
    local, remote = tmp_path / "local", tmp_path / "remote"
    shutil.copytree(cap_root, local)
    shutil.copytree(cap_root, remote)  # copytree keeps mtimes: the same source stamps, so the same tags
    assert cli(["prepare", "videos", "--root", str(local), "--datasets", "molmo2-cap", "--quiet"]) == 0
    assert cli(["prepare", "videos", "--root", str(remote), "--datasets", "molmo2-cap", "--quiet",
                "--engine", "ray", "--address", ray_cluster.address]) == 0
    a, b = outputs(local), outputs(remote)
    assert len(a) == 24 and {k: v[1] for k, v in a.items()} == {k: v[1] for k, v in b.items()}
    key = lambda rec: rec["source"]  # noqa: E731
    strip = lambda rec: {k: v for k, v in rec.items() if k not in ("seconds", "time")}  # noqa: E731
    assert [strip(r) for r in sorted(manifest_lines(local), key=key)] == \
           [strip(r) for r in sorted(manifest_lines(remote), key=key)]
