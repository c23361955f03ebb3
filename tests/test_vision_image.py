"""Image preprocessing against FORMATS §3: tilings, token counts, layouts, pooling, pixels, bad input."""

from __future__ import annotations

import gc
import io
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from molmo2_data.errors import MediaDecodeError
from molmo2_data.example import ImageRef
from molmo2_data.media.image import decode_image_draft, encode_jpeg, encode_png
from molmo2_data.vision import tokens as tk
from molmo2_data.vision.image import (
    ImageConfig,
    arange_for_pooling,
    kept_patch_ids,
    patchify,
    preprocess_image,
    preprocess_images,
    select_tiling,
    target_size,
)
from molmo2_data.vision.preprocessor import VisionPreprocessor
from molmo2_data.vision.resize import siglip_resize

CFG = ImageConfig()

# FORMATS §3.3 table: (H, W) -> (tiling, crops, tokens) for max_crops 8 and 24
TABLE = [
    ((336, 336), (1, 1), 2, 410, (1, 1), 2, 410),
    ((378, 378), (1, 1), 2, 410, (1, 1), 2, 410),
    ((224, 224), (1, 1), 2, 410, (1, 1), 2, 410),
    ((50, 50), (1, 1), 2, 410, (1, 1), 2, 410),
    ((300, 500), (1, 2), 3, 536, (1, 2), 3, 536),
    ((480, 640), (2, 2), 5, 752, (2, 2), 5, 752),
    ((640, 480), (2, 2), 5, 752, (2, 2), 5, 752),
    ((768, 1024), (2, 3), 7, 982, (3, 4), 13, 1619),
    ((720, 1280), (2, 4), 9, 1189, (3, 5), 16, 1949),
    ((1080, 1920), (2, 4), 9, 1189, (4, 6), 25, 2804),
    ((1000, 1000), (2, 2), 5, 752, (4, 4), 17, 2006),
    ((2000, 2000), (2, 2), 5, 752, (4, 4), 17, 2006),
    ((100, 3000), (1, 8), 9, 1334, (1, 11), 12, 1740),
    ((3000, 100), (8, 1), 9, 1400, (11, 1), 12, 1835),
]


@pytest.mark.parametrize("size,t8,c8,n8,t24,c24,n24", TABLE)
def test_tiling_table(size, t8, c8, n8, t24, c24, n24):
    img = np.zeros((*size, 3), dtype=np.uint8)
    for max_crops, tiling, crops, n_tokens in ((8, t8, c8, n8), (24, t24, c24, n24)):
        out = preprocess_image(img, CFG, max_crops)
        assert out.tilings == (tiling,)
        assert out.pixels.shape == (crops, 729, 588)
        assert len(out.tokens) == n_tokens
        assert out.num_patch_tokens == len(out.token_pooling)


def test_worked_tiling_numbers():
    # 480x640: h'=368, w'=528 -> (2,2), resized 644x644, kept grid 46x46 -> 23x23 tokens
    assert select_tiling(368, 528, 266, 8) == (2, 2)
    assert target_size(480, 640, CFG, 8) == (644, 644)
    assert kept_patch_ids((2, 2), 27, (4, 4)).shape == (46, 46)
    assert select_tiling(1888, 1888, 266, 8) == (2, 2)  # 2000x2000: all s < 1, first of the ties
    assert target_size(100, 3000, CFG, 8) == (378, 2240)
    assert ImageConfig(hf_tiling=True) and preprocess_image(
        np.zeros((100, 3000, 3), np.uint8), ImageConfig(hf_tiling=True)).tilings == ((1, 1),)


def test_layout_480x640_exact():
    out = preprocess_image(np.zeros((480, 640, 3), np.uint8), CFG)
    hi_row = [tk.IM_PATCH] * 23 + [tk.IM_COL]
    want = [tk.LOW_RES_IM_START] + [tk.IM_PATCH] * 196 + [tk.IM_END, tk.IM_START] + hi_row * 23 + [tk.IM_END]
    assert out.tokens.tolist() == want
    assert out.token_pooling.shape == (725, 4)
    assert out.token_pooling.dtype == np.int32


def test_pooling_indices_global_and_high_res():
    out = preprocess_image(np.zeros((480, 640, 3), np.uint8), CFG)
    tp = out.token_pooling
    assert tp[0].tolist() == [0, 1, 27, 28]
    assert tp[13].tolist() == [26, -1, 53, -1]  # odd remainder padded on the right
    assert tp[195].tolist() == [728, -1, -1, -1]  # and at the bottom
    # first high-res token: crop 1 (offset 729), patches (0,0),(0,1),(1,0),(1,1)
    assert tp[196].tolist() == [729, 730, 756, 757]
    # the kept grid's column 23 is crop 2's column 4 (its left margin dropped)
    assert kept_patch_ids((2, 2), 27, (4, 4))[0, 23] == 729 + 4
    assert arange_for_pooling(np.arange(9).reshape(3, 3), 3, 3).reshape(-1).tolist() == list(range(9))


def test_siglip_resize_hand_computed():
    img = np.array([[[0, 0, 0], [100, 200, 255]]], dtype=np.uint8)  # 1x2
    out = siglip_resize(img, 1, 4)
    assert out[0, :, 0].tolist() == [0, 25, 75, 100]
    assert out[0, :, 2].tolist() == [0, 64, 191, 255]  # 63.75 -> 64, 191.25 -> 191


@settings(max_examples=25, deadline=None)
@given(h=st.integers(1, 700), w=st.integers(1, 700), oh=st.integers(1, 700), ow=st.integers(1, 700),
       seed=st.integers(0, 2**31))
def test_siglip_resize_matches_torch(h, w, oh, ow, seed):
    torch = pytest.importorskip("torch")
    img = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    t = torch.from_numpy(img).permute(2, 0, 1).to(torch.float32)[None]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in DataLoader workers: selects the kernel we reproduce (docs/vision.md)
    try:
        ref = torch.nn.functional.interpolate(t, size=(oh, ow), mode="bilinear", align_corners=False,
                                              antialias=False)
    finally:
        torch.set_num_threads(threads)
    ref = torch.round(ref)[0].permute(1, 2, 0).to(torch.uint8).numpy()
    from molmo2_data.vision.resize import compiled_kernels

    jit = compiled_kernels() is not None  # False only when run with MOLMO2_DATA_JIT=0
    for engine in ("jit", "numpy", "torch", "auto") if jit else ("numpy", "torch", "auto"):
        np.testing.assert_array_equal(siglip_resize(img, oh, ow, engine=engine), ref)
    # the zero-copy view of Pillow's 4-byte pixels (strides (4W, 4, 1)) gives the same result
    padded = np.zeros((h, w, 4), dtype=np.uint8)
    padded[..., :3] = img
    padded[..., 3] = 255 - img[..., 0]  # padding bytes must not leak into the result
    np.testing.assert_array_equal(siglip_resize(padded[..., :3], oh, ow), ref)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(h=st.integers(1, 900), w=st.integers(1, 900), max_crops=st.sampled_from([1, 4, 8, 24]),
       seed=st.integers(0, 2**31))
def test_properties_random_sizes(h, w, max_crops, seed):
    img = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    cfg = ImageConfig(normalize_on_gpu=True)
    out = preprocess_image(img, cfg, max_crops)
    n_crops = out.pixels.shape[0]
    ti, tj = out.tilings[0]
    assert n_crops == 1 + ti * tj and ti * tj <= max_crops
    tp = out.token_pooling
    # pooling indices valid, each patch pooled at most once, token count == layout
    assert tp.min() >= -1 and tp.max() < n_crops * 729
    ids = tp[tp >= 0]
    assert len(np.unique(ids)) == len(ids)
    assert out.num_patch_tokens == len(tp)
    hp, wp = -(-(19 * ti + 8) // 2), -(-(19 * tj + 8) // 2)
    assert len(out.tokens) == 198 + hp * (wp + 1) + 2
    # global crop = the whole image resized to 378x378
    glob = siglip_resize(img, 378, 378)
    np.testing.assert_array_equal(out.pixels[0], patchify(glob[None], 14)[0])
    # every kept high-res patch holds the pixels of its own region of the resized image
    resized = siglip_resize(img, *target_size(h, w, cfg, max_crops))
    src = patchify(resized[None], 14)[0]
    kept = kept_patch_ids((ti, tj), 27, (4, 4)).reshape(-1) + 729
    flat = out.pixels.reshape(-1, 588)
    np.testing.assert_array_equal(flat[kept], src)
    assert set(ids[ids >= 729].tolist()) == set(kept.tolist())


def test_normalization_and_layouts():
    img = np.random.default_rng(0).integers(0, 256, (300, 500, 3), dtype=np.uint8)
    u8 = preprocess_image(img, ImageConfig(normalize_on_gpu=True))
    f32 = preprocess_image(img, CFG)
    assert u8.pixels.dtype == np.uint8 and f32.pixels.dtype == np.float32
    want = np.float32(-1.0) + (u8.pixels.astype(np.float32) / np.float32(255.0)) * np.float32(2.0)
    np.testing.assert_array_equal(f32.pixels, want)
    assert f32.pixels.min() >= -1.0 and f32.pixels.max() <= 1.0
    nchw = preprocess_image(img, ImageConfig(channels_first=True))
    assert nchw.pixels.shape == (3, 3, 378, 378)
    np.testing.assert_array_equal(patchify(nchw.pixels.transpose(0, 2, 3, 1), 14), f32.pixels)
    np.testing.assert_array_equal(f32.patch_masks, np.ones((3, 729), np.float32))


def test_resize_mode_single_crop():
    out = preprocess_image(np.zeros((300, 500, 3), np.uint8), ImageConfig(crop_mode="resize"))
    assert out.pixels.shape == (1, 729, 588)
    assert out.tokens.tolist() == [tk.LOW_RES_IM_START] + [tk.IM_PATCH] * 196 + [tk.IM_END]
    assert out.token_pooling.shape == (196, 4)


def test_multi_image_prefixes_and_offsets():
    a = np.zeros((480, 640, 3), np.uint8)
    b = np.zeros((300, 500, 3), np.uint8)
    cfg = ImageConfig(p_high_res=1.0, max_images=5)
    out = preprocess_images([a, b], cfg, np.random.RandomState(0))
    assert not out.high_res  # multi-image never switches to high-res
    assert out.num_crops == (5, 3)
    assert out.tokens[:4].tolist() == [1906, 220, 16, tk.LOW_RES_IM_START]
    second = 3 + 752
    assert out.tokens[second:second + 4].tolist() == [1906, 220, 17, tk.LOW_RES_IM_START]
    assert len(out.tokens) == 3 + 752 + 3 + 536
    assert out.token_pooling[725].tolist() == [5 * 729, 5 * 729 + 1, 5 * 729 + 27, 5 * 729 + 28]
    assert out.num_patch_tokens == len(out.token_pooling)
    six = preprocess_images([b] * 7, ImageConfig(max_images=5))
    assert six.num_crops == (3,) * 5  # extra images dropped
    single = preprocess_images([a], ImageConfig())
    assert single.tokens[0] == tk.LOW_RES_IM_START  # no prefix for one image


@pytest.mark.parametrize("seed", range(6))
def test_high_res_drawn_from_example_rng(seed):
    img = np.zeros((768, 1024, 3), np.uint8)
    out = preprocess_images([img], ImageConfig(p_high_res=0.3), np.random.RandomState(seed))
    high = np.random.RandomState(seed).random() < 0.3
    assert out.high_res == high
    assert out.tilings == (((3, 4),) if high else ((2, 3),))


def test_clip336_option():
    pytest.importorskip("torch")
    out = preprocess_image(np.full((336, 336, 3), 128, np.uint8), ImageConfig.clip336())
    assert out.pixels.shape == (2, 576, 588)
    assert len(out.tokens) == 1 + 144 + 1 + 1 + 12 * 13 + 1
    mean, std = 0.48145466, 0.26862954
    assert out.pixels[0, 0, 0] == pytest.approx((128 / 255 - mean) / std, abs=1e-5)
    wide = preprocess_image(np.full((100, 400, 3), 255, np.uint8), ImageConfig.clip336(crop_mode="resize"))
    # aspect-preserving: 100x400 -> 84x336 centred; the padded rows are masked out
    assert wide.patch_masks[0].reshape(24, 24)[0].tolist() == [0.0] * 24
    assert wide.patch_masks[0].reshape(24, 24)[12].tolist() == [1.0] * 24


# ---- decoding through the preprocessor ------------------------------------------------------


def test_preprocessor_from_refs_and_fast_draft():
    rng = np.random.default_rng(1)
    big = np.kron(rng.integers(0, 256, (189, 252, 3)), np.ones((16, 16, 1))).astype(np.uint8)  # 3024x4032
    ref = ImageRef(data=encode_jpeg(big, quality=92))
    exact = VisionPreprocessor()(ref, np.random.RandomState(0))
    assert exact.tilings == ((2, 3),)
    fast = VisionPreprocessor(ImageConfig(fast_jpeg_draft=True))(ref, np.random.RandomState(0))
    assert fast.tokens.tolist() == exact.tokens.tolist()
    assert fast.token_pooling.tolist() == exact.token_pooling.tolist()
    diff = np.abs(fast.pixels - exact.pixels).mean()
    assert diff < 0.05  # close but not bit-identical (documented)
    arr, full = decode_image_draft(ref.data, (644 * 2, 910 * 2))
    assert full == (3024, 4032) and arr.shape[0] < 3024 and arr.shape[0] >= 1288


def test_bad_images_raise_typed_errors():
    good = encode_jpeg(np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(MediaDecodeError):
        VisionPreprocessor()(ImageRef(data=good[: len(good) // 3]))
    png = encode_png(np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(MediaDecodeError):
        VisionPreprocessor()(ImageRef(data=png[:40]))
    with pytest.raises(MediaDecodeError):
        VisionPreprocessor()(ImageRef(data=b"not an image at all"))
    with pytest.raises(ValueError):
        preprocess_image(np.zeros((0, 5, 3), np.uint8), CFG)


def test_odd_modes_and_shapes():
    buf = io.BytesIO()
    Image.new("CMYK", (40, 30), (0, 255, 0, 0)).save(buf, format="JPEG")
    out = VisionPreprocessor()(ImageRef(data=buf.getvalue()))
    assert out.pixels.shape == (2, 729, 588)
    frames = [Image.new("P", (20, 20), i) for i in (3, 9)]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:])
    assert VisionPreprocessor()(ImageRef(data=gif.getvalue())).num_crops == (2,)
    line = VisionPreprocessor()(np.full((1, 3000, 3), 7, np.uint8))
    assert line.tilings == ((1, 8),)
    assert VisionPreprocessor()(None) is None


# ---- zero-copy decode and the compiled kernels ----------------------------------------------


@pytest.mark.parametrize("size", [(37, 53), (480, 640), (2100, 2100)])  # the last is > Pillow's 16 MB block
def test_decode_is_a_zero_copy_view_with_the_same_pixels(size):
    from molmo2_data.media.image import decode_image

    h, w = size
    img = np.random.default_rng(h).integers(0, 256, (h, w, 3), dtype=np.uint8)
    block = Image.core.get_block_size()
    for data in (encode_jpeg(img, quality=90), encode_png(img)):
        with Image.open(io.BytesIO(data)) as im:
            want = np.asarray(im.convert("RGB")).copy()
        got = decode_image(data)
        assert got.strides == (4 * w, 4, 1) and not got.flags.writeable  # a view of Pillow's memory
        np.testing.assert_array_equal(got, want)
        assert Image.core.get_block_size() == block  # the one-block setting was restored
    # the view keeps Pillow's memory alive after every Pillow object is gone
    first = decode_image(encode_png(img))
    gc.collect()
    for k in range(3):
        decode_image(encode_png(np.full((h, w, 3), k, np.uint8)))
    np.testing.assert_array_equal(first, img)


def test_jit_kernel_both_orders_equal_numpy_engine():
    from molmo2_data.vision import kernels
    from molmo2_data.vision.resize import _axis_weights, _flat_rows

    rng = np.random.default_rng(5)
    for h, w, oh, ow in [(480, 640, 644, 644), (1080, 1920, 378, 378), (7, 900, 300, 3), (1, 1, 5, 9)]:
        padded = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
        img = padded[..., :3]
        want = siglip_resize(img, oh, ow, engine="numpy")
        for view in (img, np.ascontiguousarray(img)):
            rows, ps = _flat_rows(view)
            assert ps == (4 if view is img else 3)
            for vertical_first in (False, True):
                out = np.empty((oh, ow, 3), np.uint8)
                kernels.bilinear_exact(rows, ps, out, *_axis_weights(h, oh), *_axis_weights(w, ow),
                                       vertical_first)
                np.testing.assert_array_equal(out, want)


def test_numpy_fallback_without_numba_gives_identical_output(tmp_path):
    """MOLMO2_DATA_JIT=0 (or no numba) takes the numpy engines: the outputs are bit-identical."""
    img = np.random.default_rng(9).integers(0, 256, (333, 517, 3), dtype=np.uint8)
    np.save(tmp_path / "img.npy", img)
    code = ("import sys, numpy as np; from molmo2_data.vision.image import ImageConfig, preprocess_image;"
            "from molmo2_data.vision import resize;"
            "out = preprocess_image(np.load(sys.argv[1]), ImageConfig());"
            "assert (resize.compiled_kernels() is None) == (sys.argv[3] == '0');"
            "np.save(sys.argv[2], out.pixels)")
    for jit in ("0", "1"):
        env = {**os.environ, "MOLMO2_DATA_JIT": jit}
        subprocess.run([sys.executable, "-c", code, str(tmp_path / "img.npy"), str(tmp_path / f"{jit}.npy"), jit],
                       check=True, env=env)
    a, b = np.load(tmp_path / "0.npy"), np.load(tmp_path / "1.npy")
    assert a.dtype == np.float32 and a.shape == (1 + 2, 729, 588)  # global + tiling (1, 2)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, preprocess_image(img, CFG).pixels)


def test_100_megapixel_image_memory_stays_bounded(tmp_path):
    """A 10000x10000 JPEG goes through the full multi-crop path holding one decoded copy only: Pillow's
    4 bytes per pixel (the pixels are viewed, not repacked; the resizes read rows in place). The
    process's peak RSS grows by less than 4.6 bytes per source pixel (np.asarray would add 3 more)."""
    from PIL import ImageDraw

    img = Image.new("RGB", (10_000, 10_000), (90, 120, 200))
    draw = ImageDraw.Draw(img)
    for k in range(0, 10_000, 700):
        draw.rectangle([k, k // 2, k + 350, k // 2 + 900], fill=(k % 256, 40, 255 - k % 256))
    path = tmp_path / "huge.jpg"
    img.save(path, quality=80)
    del img, draw
    code = (
        "import resource, sys, numpy as np\n"
        "from molmo2_data.example import ImageRef\n"
        "from molmo2_data.vision.preprocessor import VisionPreprocessor\n"
        "vp = VisionPreprocessor()\n"
        "vp(np.zeros((600, 800, 3), np.uint8))  # compile / load the kernels first\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "out = vp(ImageRef(path=sys.argv[1]))\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(out.pixels.shape[0], *out.tilings[0], (peak - base) * 1024)\n"
    )
    res = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    n_crops, ti, tj, grown = map(int, res.stdout.split())
    assert (n_crops, ti, tj) == (5, 2, 2)  # every tiling downscales: the least downscaling, fewest crops
    assert grown < 4.6 * 10_000 * 10_000, f"peak RSS grew by {grown / 1e6:.0f} MB"
