"""Resizes that reproduce the official preprocessing bit for bit.

``siglip_resize`` is the path Molmo2 trains with: torchvision ``Resize(BILINEAR, antialias=False)`` on a
uint8 image, which torchvision runs as a float32 ``interpolate`` followed by round-half-to-even. We
compute the same float32 numbers without torch and without converting the whole source image:
bilinear without antialiasing reads only two source rows and two source columns per output pixel, so we
gather those (uint8) and evaluate PyTorch's CPU kernel arithmetic exactly:

* source coordinate ``max(fma(scale, dst + 0.5, -0.5), 0)`` with ``scale = float32(in) / float32(out)``
  (the kernel's ``scale * (dst + 0.5) - 0.5`` is contracted to one fused multiply-add),
* ``lambda1 = src - floor(src)``, ``lambda0 = 1 - lambda1``, corner weights ``w00 = h0 * w0`` etc.,
* ``out = fma(d, w11, fma(c, w10, fma(a, w00, b * w01)))`` in float32.

This is the kernel PyTorch (2.x, x86 AVX2/AVX-512 builds) runs for 3-channel images when it uses one
thread, which is the case in DataLoader worker processes (they call ``torch.set_num_threads(1)``). With
several threads PyTorch switches to a separable kernel for outputs with height + width > 128 whose last
bits differ (a few uint8 values per million move by one after rounding); see docs/vision.md.

The fused multiply-adds are emulated in float64 (products of an 8-bit value and a float32 weight are
exact there). The default engine is the compiled kernel of ``vision.kernels`` (numba); the numpy engine
is the same method in array operations (the fallback without numba). Tests compare both against
``torch.nn.functional.interpolate`` on random sizes.

``openai``/``dino``/``metaclip`` resizes use antialiasing; they call torch (as the official code does),
so they need the ``torch`` extra.
"""

from __future__ import annotations

import os
import warnings
from functools import lru_cache
from types import ModuleType

import numpy as np

from molmo2_data.errors import ConfigError

_F32 = np.float32


@lru_cache(maxsize=256)
def _axis_weights(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Indices (i0, i1) and float32 weights (l0, l1) along one axis, as PyTorch computes them."""
    scale = _F32(n_in) / _F32(n_out)
    src = (np.float64(scale) * (np.arange(n_out, dtype=np.float64) + 0.5) - 0.5).astype(_F32)
    src = np.maximum(src, _F32(0))
    i0 = np.floor(src).astype(np.intp)
    l1 = np.clip(src - i0.astype(_F32), _F32(0), _F32(1)).astype(_F32)
    l0 = (_F32(1) - l1).astype(_F32)
    i1 = np.where(i0 < n_in - 1, i0 + 1, i0)
    for a in (i0, i1, l0, l1):
        a.setflags(write=False)
    return i0, i1, l0, l1


def siglip_resize(image: np.ndarray, out_h: int, out_w: int, engine: str = "auto") -> np.ndarray:
    """(H, W, C) uint8 -> (out_h, out_w, C) uint8, equal to the official SigLIP resize.

    Method: a separable float32 interpolation (error < 1e-4) gives the answer everywhere except where
    the value lies within 1e-3 of a rounding boundary (x.5); only those few values are recomputed with the
    kernel's exact fused-multiply-add sequence, so the result is bit-identical at a fraction of the cost.
    ``engine``: ``jit`` (the compiled kernel of ``vision.kernels``; 3-channel images), ``numpy``,
    ``torch`` (torch's own float kernel as the approximation), or ``auto``: ``jit`` when numba is
    installed and the image has 3 channels, else ``numpy``. All give the same result.
    """
    if image.dtype != np.uint8 or image.ndim != 3:
        raise ValueError(f"siglip_resize expects (H, W, C) uint8, got {image.dtype} {image.shape}")
    if out_h < 1 or out_w < 1:
        raise ValueError(f"siglip_resize output size must be positive, got {(out_h, out_w)}")
    h, w, c = image.shape
    if (h, w) == (out_h, out_w):
        return np.array(image, order="C")
    if engine == "auto":
        engine = "jit" if c == 3 and compiled_kernels() is not None else "numpy"
    if engine == "jit":
        kernels = compiled_kernels()
        if kernels is None:
            raise ConfigError("engine='jit' needs numba (pip install numba) and MOLMO2_DATA_JIT unset or 1; "
                              "or use engine='numpy'")
        rows, ps = _flat_rows(image)
        out = np.empty((out_h, out_w, c), dtype=np.uint8)
        # vertical first when the rows it blends (cheap, contiguous) cost less than interpolating every
        # needed source row along x (gathers); see vision/kernels.py
        vertical_first = _rows_needed(h, out_h) * out_w > out_h * (out_w + rows.shape[1] / 40)
        kernels.bilinear_exact(rows, ps, out, *_axis_weights(h, out_h), *_axis_weights(w, out_w),
                               vertical_first)
        return out
    hi0, hi1, hl0, hl1 = _axis_weights(h, out_h)
    wi0, wi1, wl0, wl1 = _axis_weights(w, out_w)
    flat = np.ascontiguousarray(image).reshape(h, w * c)
    col0, col1 = _channel_cols(wi0, c), _channel_cols(wi1, c)
    w0, w1 = np.repeat(wl0, c)[None, :], np.repeat(wl1, c)[None, :]
    if engine == "torch":
        import torch

        approx = _approx_torch(torch, image, out_h, out_w).reshape(out_h, out_w * c)
    elif engine == "numpy":
        approx = _approx_numpy(flat, out_h, hi0, hi1, hl0, hl1, col0, col1, w0, w1)
    else:
        raise ConfigError(f"unknown resize engine {engine!r} (auto, jit, numpy, torch)")
    # values near x.5 may round either way: recompute them exactly
    out = np.rint(approx)
    approx -= out
    np.abs(approx, out=approx)
    near = np.flatnonzero(approx > _F32(0.5 - 1e-3))
    if near.size:
        i, j = np.divmod(near, out_w * c)
        out.reshape(-1)[near] = np.rint(_exact_at(flat, i, j, hi0, hi1, hl0, hl1, col0, col1, w0[0], w1[0]))
    return out.astype(np.uint8).reshape(out_h, out_w, c)  # a convex combination of uint8: no clipping


@lru_cache(maxsize=1)
def compiled_kernels() -> ModuleType | None:
    """The compiled kernels module, or None when numba is missing or MOLMO2_DATA_JIT=0 (imported on
    first use: importing numba costs ~0.3 s, which processes that never resize should not pay)."""
    if os.environ.get("MOLMO2_DATA_JIT", "1") == "0":
        return None
    try:
        from molmo2_data.vision import kernels
    except ImportError:  # pragma: no cover - numba is a dependency; broken installs fall back to numpy
        return None
    return kernels


@lru_cache(maxsize=256)
def _rows_needed(n_in: int, n_out: int) -> int:
    i0, i1 = _axis_weights(n_in, n_out)[:2]
    return int(np.unique(np.concatenate([i0, i1])).size)


def _flat_rows(image: np.ndarray) -> tuple[np.ndarray, int]:
    """(H, W, 3) uint8 -> (flat rows (H, L), pixel stride) for the compiled kernel, without a copy for
    packed RGB and for the RGB view of 4-byte pixels (strides (4W, 4, 1), as ``pixels_of`` returns).
    The flat view of the latter stops at the last pixel's third byte, so it never reaches past the
    memory the view itself spans."""
    h, w, c = image.shape
    if image.strides == (4 * w, 4, 1) and c == 3:
        return np.lib.stride_tricks.as_strided(image, (h, 4 * w - 1), (4 * w, 1), writeable=False), 4
    return np.ascontiguousarray(image).reshape(h, w * c), c


def _approx_numpy(flat: np.ndarray, out_h: int, hi0: np.ndarray, hi1: np.ndarray, hl0: np.ndarray,
                  hl1: np.ndarray, col0: np.ndarray, col1: np.ndarray, w0: np.ndarray, w1: np.ndarray) -> np.ndarray:
    """Separable float32 bilinear reading only the needed rows/columns: (out_h, out_w*C)."""
    # horizontal pass over the source rows we read (fewer than out_h when upscaling)
    rows, inverse = np.unique(np.concatenate([hi0, hi1]), return_inverse=True)
    src_rows = flat[rows]
    horiz = np.take(src_rows, col0, axis=1).astype(_F32)
    horiz *= w0
    tmp = np.take(src_rows, col1, axis=1).astype(_F32)
    tmp *= w1
    horiz += tmp
    approx = horiz[inverse[:out_h]]
    approx *= hl0[:, None]
    tmp = horiz[inverse[out_h:]]
    tmp *= hl1[:, None]
    approx += tmp
    return approx


def _approx_torch(torch, image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """torch's compiled bilinear kernel (whichever variant it picks) when torch is already loaded and
    the source is not much larger than the output (then converting all of it to float is cheap)."""
    with warnings.catch_warnings():  # read-only arrays from Pillow: we never write through the tensor
        warnings.simplefilter("ignore", UserWarning)
        t = torch.from_numpy(image).permute(2, 0, 1).to(torch.float32)[None]
    out = torch.nn.functional.interpolate(t, size=(out_h, out_w), mode="bilinear", align_corners=False,
                                          antialias=False)
    return out[0].permute(1, 2, 0).contiguous().numpy()


def _exact_at(flat: np.ndarray, i: np.ndarray, j: np.ndarray, hi0: np.ndarray, hi1: np.ndarray,
              hl0: np.ndarray, hl1: np.ndarray, col0: np.ndarray, col1: np.ndarray, w0: np.ndarray,
              w1: np.ndarray) -> np.ndarray:
    """PyTorch's float32 result at output rows i / flat columns j:
    fma(d, w11, fma(c, w10, fma(a, w00, b * w01)))."""
    a = flat[hi0[i], col0[j]]
    b = flat[hi0[i], col1[j]]
    cc = flat[hi1[i], col0[j]]
    d = flat[hi1[i], col1[j]]
    acc = (b.astype(_F32) * (hl0[i] * w1[j]).astype(_F32)).astype(_F32)
    acc = _fma(a, (hl0[i] * w0[j]).astype(_F32), acc)
    acc = _fma(cc, (hl1[i] * w0[j]).astype(_F32), acc)
    return _fma(d, (hl1[i] * w1[j]).astype(_F32), acc)


def _channel_cols(idx: np.ndarray, c: int) -> np.ndarray:
    """Column indices into a (H, W*C) view for pixel columns ``idx``, all channels."""
    return (idx[:, None] * c + np.arange(c)[None, :]).reshape(-1)


def _fma(x: np.ndarray, w: np.ndarray, acc: np.ndarray) -> np.ndarray:
    """float32(x * w + acc) with one rounding (x holds 8-bit integers, so float64 is exact enough)."""
    out = x.astype(np.float64)
    out *= w
    out += acc
    return out.astype(_F32)


def torch_resize(image: np.ndarray, out_h: int, out_w: int, mode: str) -> np.ndarray:
    """The antialiased resizes of the other backbones, run through torch like the official code.

    Returns float32 (out_h, out_w, C) in [0, 1].
    """
    try:
        import torch
        import torch.nn.functional as F
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ConfigError(f"resize mode {mode!r} needs torch (pip install molmo2-data[torch])") from e
    t = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).to(torch.float32) / 255.0
    interp = {"openai": "bilinear", "dino": "bicubic", "metaclip": "bicubic"}[mode]
    out = F.interpolate(t[None], size=(out_h, out_w), mode=interp, align_corners=False, antialias=True)[0]
    return torch.clip(out, 0.0, 1.0).permute(1, 2, 0).numpy()


def resize_and_pad(image: np.ndarray, out_h: int, out_w: int, mode: str,
                   pad_value: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Aspect-preserving resize + centred padding (the ``openai`` mode). Returns float32 [0, 1] pixels and
    a bool mask of real (unpadded) pixels. The scale is computed in float32 like the official code."""
    h, w = image.shape[:2]
    scale = min(_F32(out_h) / _F32(h), _F32(out_w) / _F32(w))
    sh, sw = int(_F32(h) * scale), int(_F32(w) * scale)
    resized = torch_resize(image, sh, sw, mode)
    top, left = (out_h - sh) // 2, (out_w - sw) // 2
    out = np.full((out_h, out_w, image.shape[2]), pad_value, dtype=_F32)
    out[top:top + sh, left:left + sw] = resized
    mask = np.zeros((out_h, out_w), dtype=bool)
    mask[top:top + sh, left:left + sw] = True
    return out, mask
