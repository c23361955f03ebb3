"""Property tests (issue #12): random bytes and mutations (truncations, bit flips, spliced chunks) of real
JPEG / PNG / MP4 / MKV files through the image and video readers. The only outcomes allowed are a valid
result or a typed MediaError: never another exception type, never a hang (each case is time-bounded)."""

from __future__ import annotations

import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from molmo2_data.errors import MediaError
from molmo2_data.example import VideoInfo
from molmo2_data.media import limits
from molmo2_data.media.image import decode_image, decode_image_draft, encode_jpeg, encode_png, image_size
from molmo2_data.media.video import probe_video, read_frames_at

CASE_BOUND_S = 10.0
LIMIT = 2_000_000  # a flipped size field must not make a case allocate gigabytes
SETTINGS = settings(max_examples=200, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module", autouse=True)
def _low_pixel_limit():
    limits.set_max_pixels(LIMIT)
    yield
    limits.set_max_pixels(None)


def _image() -> np.ndarray:
    rng = np.random.default_rng(0)
    img = np.zeros((24, 32, 3), np.uint8)
    img[:, :16] = (200, 30, 30)
    img[8:] += rng.integers(0, 40, (16, 32, 3), dtype=np.uint8)
    return img


def _video(path: Path) -> bytes:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264" if path.suffix == ".mp4" else "mpeg4", rate=5)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        if path.suffix == ".mp4":
            stream.options = {"g": "3", "bframes": "1"}
        for k in range(8):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 25 * k, np.uint8), format="rgb24")
            frame.pts, frame.time_base = k, Fraction(1, 5)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path.read_bytes()


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> dict[str, bytes]:
    d = tmp_path_factory.mktemp("seeds")
    img = _image()
    return {"jpeg": encode_jpeg(img), "png": encode_png(img), "mp4": _video(d / "s.mp4"), "mkv": _video(d / "s.mkv")}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cases")


@st.composite
def mutations(draw, data: bytes) -> bytes:
    """A truncation, some bit flips, a spliced random chunk, or a combination, of ``data``."""
    out = bytearray(data)
    kinds = draw(st.sets(st.sampled_from(["truncate", "flip", "splice", "zero"]), min_size=1))
    if "flip" in kinds:
        for pos, bit in draw(st.lists(st.tuples(st.integers(0, len(out) - 1), st.integers(0, 7)), min_size=1,
                                      max_size=8)):
            out[pos] ^= 1 << bit
    if "zero" in kinds:  # a run of zeros (a hole in a sparse or half-copied file)
        a = draw(st.integers(0, len(out) - 1))
        n = draw(st.integers(1, 256))
        out[a:a + n] = bytes(len(out[a:a + n]))
    if "splice" in kinds:
        a = draw(st.integers(0, len(out)))
        out[a:a] = draw(st.binary(min_size=1, max_size=64))
    if "truncate" in kinds:
        out = out[: draw(st.integers(0, len(out)))]
    return bytes(out)


def bounded(fn):
    """Run ``fn`` in a thread; a case that does not finish within CASE_BOUND_S fails the test."""
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - inspected by the caller
            box["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(CASE_BOUND_S)
    assert not t.is_alive(), "a media read did not finish in time"
    return box


def _check_image_outcomes(data: bytes, path: Path) -> None:
    path.write_bytes(data)
    for fn in (lambda: decode_image(data), lambda: decode_image(path), lambda: decode_image_draft(path, (8, 8))):
        box = bounded(fn)
        if "error" in box:
            assert isinstance(box["error"], MediaError), repr(box["error"])
            continue
        arr = box["value"][0] if isinstance(box["value"], tuple) else box["value"]
        assert isinstance(arr, np.ndarray) and arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3
        assert arr.shape[0] * arr.shape[1] <= LIMIT and arr.size > 0
    box = bounded(lambda: image_size(path))
    if "error" in box:
        assert isinstance(box["error"], MediaError), repr(box["error"])
    else:
        w, h = box["value"]
        assert isinstance(w, int) and isinstance(h, int) and w >= 0 and h >= 0


def _check_video_outcomes(data: bytes, path: Path) -> None:
    path.write_bytes(data)
    box = bounded(lambda: probe_video(path))
    if "error" in box:
        assert isinstance(box["error"], MediaError), repr(box["error"])
    else:
        info = box["value"]
        assert isinstance(info, VideoInfo) and info.num_frames >= 0 and np.isfinite(info.duration)
    for mode in ("plan", "sequential"):
        box = bounded(lambda mode=mode: read_frames_at(path, [0.0, 0.7, 1.4], mode=mode, timeout_s=5.0))
        if "error" in box:
            assert isinstance(box["error"], MediaError), repr(box["error"])
            continue
        frames, times = box["value"]
        assert frames.dtype == np.uint8 and frames.ndim == 4 and frames.shape[0] == 3 and frames.shape[3] == 3
        assert times.shape == (3,) and np.all(np.isfinite(times))


def test_seeds_are_valid(seeds, workdir):
    """The unmutated files decode (so the mutation tests start from real media)."""
    assert decode_image(seeds["jpeg"]).shape == (24, 32, 3)
    assert decode_image(seeds["png"]).shape == (24, 32, 3)
    for ext in ("mp4", "mkv"):
        p = workdir / f"seed.{ext}"
        p.write_bytes(seeds[ext])
        assert probe_video(p).num_frames == 8
        assert read_frames_at(p, [0.0, 1.4])[0].shape == (2, 32, 32, 3)


@SETTINGS
@given(data=st.binary(max_size=4096))
def test_random_bytes_through_image_readers(data, workdir):
    _check_image_outcomes(data, workdir / "random.img")


@SETTINGS
@given(st.data())
@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_mutated_images(fmt, seeds, workdir, data):
    _check_image_outcomes(data.draw(mutations(seeds[fmt])), workdir / f"mutated.{fmt}")


@settings(SETTINGS, max_examples=150)
@given(data=st.binary(max_size=4096))
def test_random_bytes_through_video_readers(data, workdir):
    _check_video_outcomes(data, workdir / "random.mp4")


@settings(SETTINGS, max_examples=200)
@given(st.data())
@pytest.mark.parametrize("fmt", ["mp4", "mkv"])
def test_mutated_videos(fmt, seeds, workdir, data):
    _check_video_outcomes(data.draw(mutations(seeds[fmt])), workdir / f"mutated.{fmt}")
