"""Video: frame times (FORMATS §4.1), frame tokens (§4.2), subtitles (§4.3) and the keyframe-aware
reader on real H.264 files whose frames carry their own index as a burned-in binary code."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from molmo2_data.errors import MediaDecodeError, MediaMissingError
from molmo2_data.example import Subtitle, VideoRef
from molmo2_data.media.video import READ_STATS, probe_video, read_frames_at
from molmo2_data.vision import tokens as tk
from molmo2_data.vision.preprocessor import VisionPreprocessor
from molmo2_data.vision.video import (
    VideoConfig,
    frame_layout,
    frame_pooling,
    sample_times,
    subtitle_block,
)

# ---- the code burned into each frame ---------------------------------------------------------

BITS = 12
W, H = 192, 96


def code_frame(i: int) -> np.ndarray:
    img = np.full((H, W, 3), 90, np.uint8)
    for b in range(BITS):
        y, x = divmod(b, 6)
        img[8 + y * 40: 8 + y * 40 + 28, 4 + x * 31: 4 + x * 31 + 26] = 255 if (i >> b) & 1 else 0
    return img


def read_code(img: np.ndarray) -> int:
    sy, sx = img.shape[0] / H, img.shape[1] / W
    out = 0
    for b in range(BITS):
        y, x = divmod(b, 6)
        y0, x0 = int((8 + y * 40 + 8) * sy), int((4 + x * 31 + 8) * sx)
        block = img[y0: y0 + max(1, int(12 * sy)), x0: x0 + max(1, int(10 * sx))]
        out |= (block.mean() > 128) << b
    return out


def write_video(path: Path, pts_ms: np.ndarray, gop: int, bframes: int = 2) -> None:
    """H.264 with frame i shown from pts_ms[i] (milliseconds), keyframe every ``gop`` frames."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        stream.options = {"g": str(gop), "keyint_min": str(gop), "bf": str(bframes), "sc_threshold": "0",
                          "crf": "12", "preset": "ultrafast" if bframes == 0 else "veryfast"}
        for i, p in enumerate(pts_ms):
            frame = av.VideoFrame.from_ndarray(code_frame(i), format="rgb24")
            frame.pts, frame.time_base = int(p), Fraction(1, 1000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def expected_index(rel: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Frame displayed at t: the last frame whose start is <= t (first frame before the start)."""
    return np.maximum(np.searchsorted(rel, t + 1e-9, side="right") - 1, 0)


def _pts(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "cfr":
        return np.arange(n) * 40
    if kind == "vfr":
        return np.concatenate([[0], np.cumsum(rng.integers(15, 140, n - 1))])
    return 3000 + np.arange(n) * 40  # first pts 3 s


CASES = [(ext, kind, gop) for ext in ("mp4", "mkv") for kind in ("cfr", "vfr", "offset") for gop in (5, 60)]


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("videos")
    rng = np.random.default_rng(0)
    out = {}
    for ext, kind, gop in CASES:
        pts = _pts(kind, 150, rng)
        path = root / f"{kind}_{gop}.{ext}"
        write_video(path, pts, gop)
        out[(ext, kind, gop)] = (path, (pts - pts[0]) / 1000.0)
    return out


@pytest.mark.parametrize("case", CASES, ids=["-".join(map(str, c)) for c in CASES])
def test_frame_at_time_is_the_displayed_frame(videos, case):
    path, rel = videos[case]
    rng = np.random.default_rng(1)
    times = np.concatenate([rng.uniform(-0.05, rel[-1] + 0.2, 30), rel[[0, 7, 60, 61, -1]], [rel[30] - 1e-4]])
    want = expected_index(rel, times)
    results = {}
    for mode in ("plan", "sequential", "seek_each"):
        before = READ_STATS["fallback"]
        frames, ft = read_frames_at(path, times, mode=mode)
        assert READ_STATS["fallback"] == before  # the plan was used, not the safety net
        got = np.array([read_code(f) for f in frames])
        np.testing.assert_array_equal(got, want)
        np.testing.assert_allclose(ft, rel[want], atol=1e-6)
        results[mode] = frames
    np.testing.assert_array_equal(results["plan"], results["sequential"])


def test_clip_in_the_middle_decodes_only_its_gops(videos):
    path, rel = videos[("mp4", "cfr", 5)]
    before = dict(READ_STATS)
    times = np.array([3.01, 3.5, 4.0])  # frames 75, 87, 100
    frames, _ = read_frames_at(path, times)
    assert [read_code(f) for f in frames] == [75, 87, 100]
    decoded = READ_STATS["packets_decoded"] - before.get("packets_decoded", 0)
    assert decoded <= 3 * 5  # at most one GOP of 5 frames per requested time, not the 101 before
    assert READ_STATS["gops_decoded"] - before.get("gops_decoded", 0) == 3


def test_long_gap_seeks(tmp_path):
    pts = np.arange(500) * 40  # 20 s, keyframe every 10 frames
    path = tmp_path / "long.mkv"
    write_video(path, pts, 10, bframes=0)
    before = READ_STATS["seeks"]
    frames, _ = read_frames_at(path, [0.0, 19.0])
    assert [read_code(f) for f in frames] == [0, 475]
    assert READ_STATS["seeks"] > before


def test_probe(videos):
    path, rel = videos[("mkv", "offset", 5)]
    info = probe_video(path)
    assert info.num_frames == 150 and (info.width, info.height) == (W, H)
    assert info.duration == pytest.approx(rel[-1] + 0.04, abs=0.05)  # not counting the 3 s start offset


# ---- frame sampling and tokens ---------------------------------------------------------------

SAMPLING = [  # FORMATS §4.1 table: duration -> (n, last) for 128 and 384 frames
    (1, 3, 1.0, 3), (10, 21, 10.0, 21), (30, 61, 30.0, 61), (63.4, 128, 63.4, 128), (63.5, 128, 63.5, 128),
    (64, 128, 64.0, 129), (120, 128, 120.0, 241), (600, 128, 600.0, 384),
]


@pytest.mark.parametrize("d,n128,last,n384", SAMPLING)
def test_sample_times_table(d, n128, last, n384):
    t = sample_times(d, 2.0, 128)
    assert len(t) == n128 and t[0] == 0.0 and t[-1] == pytest.approx(last)
    assert len(sample_times(d, 2.0, 384)) == n384


def test_sample_times_steps():
    assert sample_times(64, 2, 128)[1] == pytest.approx(64 / 127)
    assert sample_times(120, 2, 128)[1] == pytest.approx(0.94488, abs=1e-5)
    assert sample_times(600, 2, 384)[1] == pytest.approx(1.56658, abs=1e-5)
    assert sample_times(63.4, 2, 128)[-2:].tolist() == [63.0, 63.4]
    assert sample_times(1.2, 2, 128).tolist() == [0.0, 0.5, 1.0, 1.2]


@pytest.mark.parametrize("d,max_frames,n_tokens", [(1, 128, 259), (10, 128, 1808), (63.5, 128, 11117),
                                                   (600, 128, 11240), (191.5, 384, 33573)])
def test_video_token_counts(d, max_frames, n_tokens):
    t = sample_times(d, 2.0, max_frames)
    layout = frame_layout(t, 81, per_frame_special_token=False)
    assert len(layout) == n_tokens
    assert int(np.count_nonzero(layout == tk.IM_PATCH)) == 81 * len(t)


def test_frame_layout_tokens():
    layout = frame_layout([0.0, 0.5], 81, per_frame_special_token=False).tolist()
    assert layout[:5] == [tk.FRAME_START, 15, 13, 15, 220]
    assert layout[5:86] == [tk.IM_PATCH] * 81
    assert layout[86:91] == [220, 15, 13, 20, 220]
    assert layout[-1] == tk.FRAME_END and len(layout) == 1 + 4 + 81 + 5 + 81 + 1
    per = frame_layout([0.0, 0.5], 81, per_frame_special_token=True).tolist()
    assert per[:5] == [15, 13, 15, 220, tk.FRAME_START]
    assert per[86:93] == [tk.FRAME_END, 220, 15, 13, 20, 220, tk.FRAME_START]


def test_frame_pooling():
    pool = frame_pooling(3, VideoConfig())
    assert pool.shape == (243, 9)
    assert pool[0].tolist() == [0, 1, 2, 27, 28, 29, 54, 55, 56]
    assert pool[81].tolist() == [729 + v for v in pool[0].tolist()]
    assert sorted(pool[:81].reshape(-1).tolist()) == list(range(729))


def test_subtitles():
    times = np.array([0.0, 0.5, 1.0])
    subs = {(0.2, 0.9): "Hello there", (5.0, 6.0): "far away"}
    assert subtitle_block(subs, times) == "subtitle\n0.2 - 0.9 Hello there\n"
    assert subtitle_block(subs, times, "frame_4") == "subtitle\n0.2 - 0.9 Hello there\n5.0 - 6.0 far away\n"
    assert subtitle_block("just text", times) == "subtitle\njust text"
    as_objs = (Subtitle(10.2, 10.9, "Hello there"), Subtitle(15.0, 16.0, "far away"))
    assert subtitle_block(as_objs, times, offset=10.0) == "subtitle\n0.2 - 0.9 Hello there\n"
    assert subtitle_block((), times) is None


# ---- end to end ------------------------------------------------------------------------------


def test_preprocess_video_clip(videos):
    path, rel = videos[("mkv", "cfr", 60)]  # 6 s
    ref = VideoRef(path=str(path), clip_start=2.0, clip_end=4.5,
                   subtitles=(Subtitle(2.5, 3.0, "in clip"), Subtitle(0.0, 0.4, "before")))
    out = VisionPreprocessor()(ref)
    assert out.frame_times.tolist() == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    assert out.pixels.shape == (6, 729, 588) and out.pixels.dtype == np.float32
    assert out.token_pooling.shape == (6 * 81, 9)
    assert out.num_patch_tokens == len(out.token_pooling)
    assert len(out.tokens) == 2 + 4 + 5 * 5 + 6 * 81
    # decoded frames are those shown at 2.0 + t: frames 50, 62/63, ...
    u8 = VisionPreprocessor(video=VideoConfig(normalize_on_gpu=True, channels_first=True))(ref)
    codes = [read_code(f.transpose(1, 2, 0)) for f in u8.pixels]
    assert codes == [50, 62, 75, 87, 100, 112]
    np.testing.assert_allclose(out.decoded_times, [0.0, 0.48, 1.0, 1.48, 2.0, 2.48], atol=1e-6)
    assert out.subtitle_text == "subtitle\n0.5 - 1.0 in clip\n"


def test_long_context_config():
    assert VideoConfig.long_context().max_frames == 384


def test_bad_videos(tmp_path, videos):
    path, _ = videos[("mp4", "cfr", 5)]
    with pytest.raises(MediaDecodeError):  # clip past the end
        VisionPreprocessor()(VideoRef(path=str(path), clip_start=100.0))
    with pytest.raises(MediaDecodeError):  # empty clip
        VisionPreprocessor()(VideoRef(path=str(path), clip_start=2.0, clip_end=2.0))
    with pytest.raises(MediaMissingError):
        VisionPreprocessor()(VideoRef(path=str(tmp_path / "missing.mp4")))
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(MediaDecodeError):
        VisionPreprocessor()(VideoRef(path=str(empty)))
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(MediaDecodeError):
        VisionPreprocessor()(VideoRef(path=str(truncated)))
    audio = tmp_path / "audio.mkv"
    with av.open(str(audio), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with pytest.raises(MediaDecodeError, match="no video stream"):
        VisionPreprocessor()(VideoRef(path=str(audio)))


def test_timeout(videos):
    path, _ = videos[("mp4", "cfr", 60)]
    with pytest.raises(MediaDecodeError, match="time limit"):
        read_frames_at(path, [5.0], timeout_s=0.0)


def _torchcodec_works() -> bool:
    try:
        from torchcodec.decoders import VideoDecoder  # noqa: F401
    except (ImportError, OSError, RuntimeError):
        return False
    return True


def test_torchcodec_reader(videos):
    """With a working torchcodec: the same frames as the PyAV reader on every case. Without (as on the
    CPU-torch machine this project is built on, where PyPI's torchcodec wheel needs CUDA torch): a clear
    ConfigError, never a crash or a silent fallback."""
    from molmo2_data.errors import ConfigError

    if not _torchcodec_works():
        with pytest.raises(ConfigError, match="torchcodec"):
            read_frames_at(videos[("mp4", "cfr", 5)][0], [0.0], mode="torchcodec")
        return
    for path, rel in videos.values():
        times = np.concatenate([np.linspace(-0.05, rel[-1] + 0.2, 25), rel[[0, 7, 60, -1]]])
        frames, ft = read_frames_at(path, times, mode="torchcodec", threads=1)
        np.testing.assert_array_equal([read_code(f) for f in frames], expected_index(rel, times))
        np.testing.assert_allclose(ft, read_frames_at(path, times)[1], atol=1e-6)
