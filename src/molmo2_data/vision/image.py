"""Molmo2 image preprocessing: overlap-and-resize-c2 multi-crop, pooling indices and token layout.

Reproduces the training-time behaviour of the official code (FORMATS §3); every deliberate choice is
listed in docs/vision.md. One image gives:

* ``pixels``: the global crop first, then the high-res crops row-major, as patches
  ``(n_crops, 729, 588)`` (each patch flattened row, col, channel) or NCHW ``(n_crops, 3, 378, 378)``;
  float32 normalised, or uint8 when ``normalize_on_gpu`` (the SFT setting);
* ``token_pooling``: one row per ``<im_patch>`` token listing the patch ids it pools, -1 = padding;
* ``patch_masks``: fraction of real (unpadded) pixels per patch (all ones for SigLIP);
* ``tokens``: the special-token layout the text stage splices in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from molmo2_data.errors import ConfigError
from molmo2_data.vision import tokens as tk
from molmo2_data.vision.resize import compiled_kernels, resize_and_pad, siglip_resize, torch_resize

_F32 = np.float32

NORMALIZE = {
    "openai": ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)),
    "dino": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}


@dataclass(frozen=True)
class ImageConfig:
    """Image preprocessing settings; the defaults are the Molmo2 SigLIP2 training settings."""

    crop_mode: Literal["overlap-and-resize-c2", "resize"] = "overlap-and-resize-c2"
    base_size: int = 378
    patch_size: int = 14
    max_crops: int = 8
    high_res_max_crops: int = 24
    p_high_res: float = 0.0  # probability of high-res (single images only); drawn from the example rng
    overlap_margins: tuple[int, int] = (4, 4)
    pooling: tuple[int, int] = (2, 2)  # (h, w)
    resize_mode: Literal["siglip", "openai", "dino", "metaclip"] = "siglip"
    normalize_mode: Literal["siglip", "openai", "dino"] = "siglip"
    pad_value: float = 0.0
    use_col_tokens: bool = True
    use_single_crop_col_tokens: bool = False
    use_single_crop_start_token: bool = True
    normalize_on_gpu: bool = False  # True: uint8 pixels out, the model normalises
    channels_first: bool = False  # True: (n_crops, 3, H, W) instead of patches
    hf_tiling: bool = False  # reproduce the HF processor's tiling (no max(., 1) clamp; FORMATS §7.3)
    max_images: int = 5
    max_multi_image_crops: int = 8
    fast_jpeg_draft: bool = False  # decode JPEGs at reduced DCT scale when much larger than needed

    @property
    def crop_patches(self) -> int:
        return self.base_size // self.patch_size

    @classmethod
    def siglip2(cls, **kw: object) -> ImageConfig:
        return cls(**kw)  # type: ignore[arg-type]

    @classmethod
    def clip336(cls, **kw: object) -> ImageConfig:
        """OpenAI CLIP ViT-L/14-336 (Molmo v1 backbone): aspect-preserving resize + padding."""
        base: dict[str, object] = dict(base_size=336, resize_mode="openai", normalize_mode="openai")
        base.update(kw)
        return cls(**base)  # type: ignore[arg-type]


@dataclass
class ImageInputs:
    """Vision inputs of one or more images (crops of all images concatenated in image order)."""

    tokens: np.ndarray  # (T,) int32 layout: special tokens (+ 'Image k' prefixes)
    pixels: np.ndarray  # (n_crops, n_patches, 3*p*p) or (n_crops, 3, H, W)
    token_pooling: np.ndarray  # (n_im_patch_tokens, pool_h*pool_w) int32, -1 = padding
    patch_masks: np.ndarray  # (n_crops, n_patches) float32 fraction of real pixels
    num_crops: tuple[int, ...] = ()  # per image
    tilings: tuple[tuple[int, int] | None, ...] = ()  # per image (None in resize mode)
    high_res: bool = False
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def num_patch_tokens(self) -> int:
        return int(np.count_nonzero(self.tokens == tk.IM_PATCH))


# ---------------------------------------------------------------------------------------------
# Tiling, crops, pooling
# ---------------------------------------------------------------------------------------------


def candidate_tilings(max_crops: int) -> np.ndarray:
    """All (i, j) with i*j <= max_crops, sorted by (i*j, i) so ties favour fewer crops."""
    tilings = [(i, j) for i in range(1, max_crops + 1) for j in range(1, max_crops + 1) if i * j <= max_crops]
    tilings.sort(key=lambda t: (t[0] * t[1], t[0]))
    return np.asarray(tilings, dtype=np.int32)


def select_tiling(h: int, w: int, window: int, max_crops: int) -> tuple[int, int]:
    """The official tiling choice for an image of (h, w) pixels *after* removing the margins.

    float32 scales as in the official code; if every candidate needs downscaling take the least
    downscaling, otherwise the least upscaling among candidates that do not downscale.
    """
    cands = candidate_tilings(max_crops)
    size = np.asarray([h, w], dtype=_F32)
    with np.errstate(divide="ignore"):
        scale = ((cands * window).astype(_F32) / size).min(axis=-1)
    if np.all(scale < 1):
        ix = int(np.argmax(scale))
    else:
        ix = int(np.argmin(np.where(scale < 1.0, _F32(10e9), scale)))
    return int(cands[ix, 0]), int(cands[ix, 1])


def tiling_for(h: int, w: int, cfg: ImageConfig, max_crops: int) -> tuple[int, int]:
    margin = cfg.patch_size * sum(cfg.overlap_margins)
    window = (cfg.crop_patches - sum(cfg.overlap_margins)) * cfg.patch_size
    if cfg.hf_tiling:
        return select_tiling(h - margin, w - margin, window, max_crops)
    return select_tiling(max(h - margin, 1), max(w - margin, 1), window, max_crops)


def kept_patch_ids(tiling: tuple[int, int], crop_patches: int, margins: tuple[int, int]) -> np.ndarray:
    """(rows, cols) grid of crop-patch ids covering the resized image once: each crop drops
    ``margins[0]`` patches on sides that touch a previous crop and ``margins[1]`` on sides that touch a
    next crop. Crop k = r*tiling[1] + c owns ids k*cp*cp ... (before the global-crop offset)."""
    cp = crop_patches
    lm, rm = margins

    def axis(n: int) -> tuple[np.ndarray, np.ndarray]:
        crop_idx, patch_idx = [], []
        for r in range(n):
            lo = lm if r > 0 else 0
            hi = cp - rm if r < n - 1 else cp
            crop_idx.append(np.full(hi - lo, r))
            patch_idx.append(np.arange(lo, hi))
        return np.concatenate(crop_idx), np.concatenate(patch_idx)

    rc, rp = axis(tiling[0])
    cc, cpp = axis(tiling[1])
    crop = rc[:, None] * tiling[1] + cc[None, :]
    return (crop * cp * cp + rp[:, None] * cp + cpp[None, :]).astype(np.int32)


def arange_for_pooling(ids: np.ndarray, pool_h: int, pool_w: int) -> np.ndarray:
    """Pad the id grid with -1 to multiples of the pool (odd remainder at bottom/right) and group it:
    returns (grid_h, grid_w, pool_h*pool_w), members in row-major order inside each group."""
    h, w = ids.shape
    ph = -h % pool_h
    pw = -w % pool_w
    ids = np.pad(ids, [[ph // 2, (ph + 1) // 2], [pw // 2, (pw + 1) // 2]], constant_values=-1)
    gh, gw = ids.shape[0] // pool_h, ids.shape[1] // pool_w
    return ids.reshape(gh, pool_h, gw, pool_w).transpose(0, 2, 1, 3).reshape(gh, gw, pool_h * pool_w)


def patch_grid(crops: np.ndarray, patch: int) -> np.ndarray:
    """(..., H, W, C) -> a view (..., H/p, W/p, p, p, C): patch row, patch column, then the patch."""
    *lead, h, w, c = crops.shape
    x = crops.reshape(*lead, h // patch, patch, w // patch, patch, c)
    k = len(lead)
    return x.transpose(*range(k), k, k + 2, k + 1, k + 3, k + 4)


def patchify(crops: np.ndarray, patch: int) -> np.ndarray:
    """(n, H, W, C) -> (n, H/p * W/p, p*p*C), patches row-major, each flattened (row, col, channel)."""
    n, h, w, c = crops.shape
    return patch_grid(crops, patch).reshape(n, (h // patch) * (w // patch), patch * patch * c)


# ---------------------------------------------------------------------------------------------
# Pixels
# ---------------------------------------------------------------------------------------------


def _lut(mode: str) -> np.ndarray:
    """uint8 -> normalised float32 per channel, with the official float32 operation order."""
    v = np.arange(256, dtype=_F32)[:, None].repeat(3, axis=1) / _F32(255.0)
    if mode == "siglip":
        return (_F32(-1.0) + v * _F32(2.0)).astype(_F32)
    mean, std = (np.asarray(x, dtype=_F32) for x in NORMALIZE[mode])
    return ((v - mean) / std).astype(_F32)


_LUTS: dict[str, np.ndarray] = {}


def normalize(pixels: np.ndarray, mode: str) -> np.ndarray:
    """uint8 (…, 3) -> float32 normalised; float [0, 1] input is normalised arithmetically."""
    if mode not in ("siglip", *NORMALIZE):
        raise ConfigError(f"unknown normalize mode {mode!r}")
    if pixels.dtype == np.uint8 and mode == "siglip":
        kernels = compiled_kernels()
        if kernels is not None and pixels.flags.c_contiguous:
            out = np.empty(pixels.shape, dtype=_F32)
            kernels.siglip_normalize(pixels.reshape(-1), out.reshape(-1))
            return out
        # The table's own float32 operations, in place over the array: bit-identical to the lookup
        # and ~3x faster (a take with uint8 indices first widens every index to 8 bytes).
        x = pixels.astype(_F32)
        np.divide(x, _F32(255.0), out=x)
        np.multiply(x, _F32(2.0), out=x)
        np.add(x, _F32(-1.0), out=x)
        return x
    if pixels.dtype == np.uint8:
        lut = _LUTS.get(mode)
        if lut is None:
            lut = _LUTS[mode] = _lut(mode)
        return lut[pixels, np.arange(3)]
    x = pixels.astype(_F32)
    if mode == "siglip":
        return _F32(-1.0) + x * _F32(2.0)
    mean, std = (np.asarray(v, dtype=_F32) for v in NORMALIZE[mode])
    return (x - mean) / std


def resize_image(image: np.ndarray, out_h: int, out_w: int,
                 cfg: ImageConfig) -> tuple[np.ndarray, np.ndarray | None]:
    """Resize to (out_h, out_w) with the backbone's resize; returns (pixels, pixel mask or None when
    every pixel is real).

    SigLIP pixels stay uint8 (normalised after the layout change, bit-identical to /255*2-1);
    the antialiased modes return float32 in [0, 1]."""
    if cfg.resize_mode == "siglip":
        return siglip_resize(image, out_h, out_w), None
    if cfg.resize_mode in ("dino", "metaclip"):
        return torch_resize(image, out_h, out_w, cfg.resize_mode), None
    if cfg.resize_mode == "openai":
        return resize_and_pad(image, out_h, out_w, "openai", cfg.pad_value)
    raise ConfigError(f"unknown resize mode {cfg.resize_mode!r}")


def _finish(crops: Sequence[np.ndarray], cfg: ImageConfig) -> np.ndarray:
    """Lay the (size, size, 3) crops out as patches (or NCHW) and normalise (unless on GPU).

    Each crop is copied once, straight from the resized image into its place in the output; SigLIP's
    normalisation then runs as one pass over the final array (per-channel modes normalise first)."""
    if cfg.normalize_on_gpu and crops[0].dtype != np.uint8:
        raise ConfigError("normalize_on_gpu needs the uint8 siglip resize")
    if not cfg.normalize_on_gpu and (cfg.normalize_mode != "siglip" or crops[0].dtype != np.uint8):
        crops = [normalize(c, cfg.normalize_mode) for c in crops]  # per-channel: before the layout change
    n, size, p = len(crops), cfg.base_size, cfg.patch_size
    g = size // p
    if cfg.channels_first:
        out = np.empty((n, 3, size, size), dtype=crops[0].dtype)
        for k, crop in enumerate(crops):
            out[k] = crop.transpose(2, 0, 1)
    else:
        out = np.empty((n, g * g, p * p * 3), dtype=crops[0].dtype)
        for k, crop in enumerate(crops):
            out[k].reshape(g, g, p, p, 3)[...] = patch_grid(crop, p)
    if out.dtype == np.uint8 and not cfg.normalize_on_gpu:
        out = normalize(out, "siglip")
    return out


def _patch_masks(masks: Sequence[np.ndarray | None], size: int, patch: int) -> np.ndarray:
    """Fraction of real pixels per patch; ``None`` masks (no padding, e.g. SigLIP) are all ones."""
    n, g = len(masks), size // patch
    if all(m is None for m in masks):
        return np.ones((n, g * g), dtype=_F32)
    full = np.ones((size, size), dtype=bool)
    m = np.stack([full if mk is None else mk for mk in masks])
    m = m.reshape(n, g, patch, g, patch).astype(_F32)
    return m.mean(axis=(2, 4)).reshape(n, -1).astype(_F32)


# ---------------------------------------------------------------------------------------------
# One image
# ---------------------------------------------------------------------------------------------


def _row_layout(grid_h: int, grid_w: int, col_tokens: bool) -> np.ndarray:
    row = [tk.IM_PATCH] * grid_w + ([tk.IM_COL] if col_tokens else [])
    return np.tile(np.asarray(row, dtype=np.int32), grid_h)


def _single_crop_layout(grid_h: int, grid_w: int, cfg: ImageConfig) -> np.ndarray:
    start = tk.LOW_RES_IM_START if cfg.use_single_crop_start_token else tk.IM_START
    body = _row_layout(grid_h, grid_w, cfg.use_single_crop_col_tokens)
    return np.concatenate([[start], body, [tk.IM_END]]).astype(np.int32)


def _global_pooling(cfg: ImageConfig) -> np.ndarray:
    cp = cfg.crop_patches
    return arange_for_pooling(np.arange(cp * cp, dtype=np.int32).reshape(cp, cp), *cfg.pooling)


def target_size(h: int, w: int, cfg: ImageConfig, max_crops: int) -> tuple[int, int]:
    """Size of the resized image the high-res crops are cut from (largest resize of the image)."""
    if cfg.crop_mode == "resize":
        return cfg.base_size, cfg.base_size
    ti, tj = tiling_for(h, w, cfg, max_crops)
    margin = cfg.patch_size * sum(cfg.overlap_margins)
    window = (cfg.crop_patches - sum(cfg.overlap_margins)) * cfg.patch_size
    return ti * window + margin, tj * window + margin


def preprocess_image(image: np.ndarray, cfg: ImageConfig, max_crops: int | None = None,
                     source_size: tuple[int, int] | None = None) -> ImageInputs:
    """Preprocess one decoded (H, W, 3) uint8 RGB image.

    ``source_size`` = (H, W) of the original when ``image`` was decoded at reduced scale (JPEG draft
    mode): the tiling is chosen from the original size so the token layout does not change.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"expected a non-empty (H, W, 3) image, got shape {image.shape}")
    max_crops = cfg.max_crops if max_crops is None else max_crops
    h, w = source_size if source_size is not None else image.shape[:2]
    cp, patch = cfg.crop_patches, cfg.patch_size
    glob, glob_mask = resize_image(image, cfg.base_size, cfg.base_size, cfg)
    g_pool = _global_pooling(cfg)
    if cfg.crop_mode == "resize":
        pooling = g_pool.reshape(-1, g_pool.shape[-1])
        return ImageInputs(
            tokens=_single_crop_layout(g_pool.shape[0], g_pool.shape[1], cfg),
            pixels=_finish([glob], cfg),
            token_pooling=pooling.astype(np.int32),
            patch_masks=_patch_masks([glob_mask], cfg.base_size, patch),
            num_crops=(1,),
            tilings=(None,),
        )
    if cfg.crop_mode != "overlap-and-resize-c2":
        raise ConfigError(f"unknown crop mode {cfg.crop_mode!r}")

    ti, tj = tiling_for(h, w, cfg, max_crops)
    window = (cp - sum(cfg.overlap_margins)) * patch
    rh, rw = target_size(h, w, cfg, max_crops)
    src, src_mask = resize_image(image, rh, rw, cfg)
    size = cfg.base_size
    corners = [(r * window, c * window) for r in range(ti) for c in range(tj)]
    crops = [glob] + [src[y:y + size, x:x + size] for y, x in corners]
    masks = [glob_mask] + [None if src_mask is None else src_mask[y:y + size, x:x + size] for y, x in corners]

    hr_pool = arange_for_pooling(kept_patch_ids((ti, tj), cp, cfg.overlap_margins), *cfg.pooling)
    hr_pool = np.where(hr_pool >= 0, hr_pool + cp * cp, -1)
    pool_n = g_pool.shape[-1]
    pooling = np.concatenate([g_pool.reshape(-1, pool_n), hr_pool.reshape(-1, pool_n)]).astype(np.int32)
    hi_layout = np.concatenate(
        [[tk.IM_START], _row_layout(hr_pool.shape[0], hr_pool.shape[1], cfg.use_col_tokens), [tk.IM_END]]
    )
    layout = np.concatenate([_single_crop_layout(g_pool.shape[0], g_pool.shape[1], cfg), hi_layout])
    return ImageInputs(
        tokens=layout.astype(np.int32),
        pixels=_finish(crops, cfg),
        token_pooling=pooling,
        patch_masks=_patch_masks(masks, size, patch),
        num_crops=(1 + ti * tj,),
        tilings=((ti, tj),),
    )


# ---------------------------------------------------------------------------------------------
# Several images
# ---------------------------------------------------------------------------------------------


def choose_max_crops(cfg: ImageConfig, n_images: int, rng: np.random.RandomState | None) -> tuple[int, bool]:
    """max_crops for this example: multi-image uses ``max_multi_image_crops`` and never high-res; a
    single image switches to ``high_res_max_crops`` when ``rng.random() < p_high_res`` (the rng is
    only consumed when p_high_res > 0)."""
    if n_images > 1:
        return cfg.max_multi_image_crops, False
    if cfg.p_high_res > 0:
        if rng is None:
            raise ValueError("p_high_res > 0 needs the example rng")
        if rng.random() < cfg.p_high_res:
            return cfg.high_res_max_crops, True
    return cfg.max_crops, False


def combine(parts: Sequence[ImageInputs], with_prefix: bool, patches_per_crop: int) -> ImageInputs:
    """Concatenate per-image inputs: crops in image order, pooling ids offset by the patches before,
    and (for more than one image) each layout prefixed by 'Image k'."""
    if len(parts) == 1 and not with_prefix:
        return parts[0]  # nothing to offset: avoid copying the pixels
    layouts, pools, offset = [], [], 0
    for k, part in enumerate(parts, start=1):
        if with_prefix:
            layouts.append(tk.image_prefix(k))
        layouts.append(part.tokens)
        pools.append(np.where(part.token_pooling >= 0, part.token_pooling + offset, -1))
        offset += part.pixels.shape[0] * patches_per_crop
    return ImageInputs(
        tokens=np.concatenate(layouts).astype(np.int32),
        pixels=np.concatenate([p.pixels for p in parts]),
        token_pooling=np.concatenate(pools).astype(np.int32),
        patch_masks=np.concatenate([p.patch_masks for p in parts]),
        num_crops=tuple(n for p in parts for n in p.num_crops),
        tilings=tuple(t for p in parts for t in p.tilings),
        high_res=any(p.high_res for p in parts),
    )


def preprocess_images(images: Sequence[np.ndarray], cfg: ImageConfig,
                      rng: np.random.RandomState | None = None,
                      source_sizes: Sequence[tuple[int, int] | None] | None = None) -> ImageInputs:
    """Preprocess the images of one example (extra images beyond ``max_images`` are dropped, as the
    official MultiImagePreprocessor does)."""
    if not images:
        raise ValueError("no images")
    images = list(images)[: cfg.max_images]
    sizes = list(source_sizes or [None] * len(images))[: len(images)]
    max_crops, high_res = choose_max_crops(cfg, len(images), rng)
    parts = [preprocess_image(im, cfg, max_crops, sz) for im, sz in zip(images, sizes, strict=True)]
    out = combine(parts, with_prefix=len(parts) > 1, patches_per_crop=cfg.crop_patches ** 2)
    return replace(out, high_res=high_res)
