"""Image decoding with Pillow: any mode in, RGB uint8 out, EXIF orientation applied.

Why not ``Image.open(p).convert("RGB")``: that ignores EXIF orientation, composites alpha onto black,
and maps 16-bit greyscale through a clipping path. Here alpha is composited onto white (as a viewer
shows it), 16-bit data is scaled to 8 bits, CMYK and palette images go through Pillow's converters.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
from PIL import Image, ImageOps

from molmo2_data.errors import MediaDecodeError, MediaMissingError
from molmo2_data.media.limits import DEFAULT_MAX_PIXELS, check_pixels, require_regular_file

ImageSource = str | os.PathLike | bytes | bytearray | memoryview

# Decompression-bomb guard: ``media.limits`` checks width x height from the header before any decode
# (``MOLMO2_DATA_MAX_PIXELS``). Pillow's own guard only raises above 2x its limit and warns below; ours
# is the one limit, so Pillow's is switched off (it would otherwise veto a limit raised above it).
MAX_IMAGE_PIXELS = DEFAULT_MAX_PIXELS  # kept for callers; the limit in force is limits.max_pixels()
Image.MAX_IMAGE_PIXELS = None


_ORIENTATION = 0x0112  # EXIF tag


def _open(src: ImageSource, max_pixels: int | None = None) -> Image.Image:
    """Open (header only) a regular file or bytes; refuses FIFOs/devices unopened and images above the
    pixel limit before anything is decoded."""
    is_bytes = isinstance(src, bytes | bytearray | memoryview)
    if not is_bytes:
        require_regular_file(src, "image")
    try:
        img = Image.open(io.BytesIO(bytes(src))) if is_bytes else Image.open(os.fspath(src))
    except FileNotFoundError as e:  # removed between the stat and the open
        raise MediaMissingError(f"image file not found: {src}", path=str(src)) from e
    except Exception as e:  # Pillow raises UnidentifiedImageError, OSError, SyntaxError...
        raise MediaDecodeError(f"not a decodable image: {_name(src)}: {e}", path=_path(src)) from e
    try:
        check_pixels(*img.size, _name(src), "image", max_pixels)
    except MediaDecodeError as e:
        img.close()
        e.path = _path(src)
        raise
    return img


def _path(src: ImageSource) -> str | None:
    return None if isinstance(src, bytes | bytearray | memoryview) else str(src)


def _name(src: ImageSource) -> str:
    return f"<{len(src)} bytes>" if isinstance(src, bytes | bytearray | memoryview) else str(src)


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB without surprises (see module docstring)."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        arr8 = np.clip(np.round(arr * (255.0 / hi)), 0, 255).astype(np.uint8)
        return Image.fromarray(arr8, "L").convert("RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def pixels_of(img: Image.Image) -> np.ndarray:
    """(H, W, C) uint8 pixels of a Pillow image, without copying when Pillow allows it.

    ``np.asarray(img)`` goes through ``tobytes``, which repacks Pillow's 4-bytes-per-pixel RGB memory
    and costs about as much as decoding the JPEG. Pillow (>= 11.2) exports its memory through the Arrow C
    data interface instead: for an RGB image held in one block (up to 16 MB, ~4 MP) we return a
    read-only (H, W, 3) view of it with strides (4W, 4, 1); otherwise a packed copy.
    """
    if img.mode == "RGB" and hasattr(img, "__arrow_c_array__"):
        try:
            import pyarrow as pa

            flat = pa.array(img).values.to_numpy(zero_copy_only=True)
        except (ValueError, TypeError, pa.ArrowException):  # rows not contiguous (several blocks)
            flat = None
        if flat is not None and flat.size == img.width * img.height * 4:
            return flat.reshape(img.height, img.width, 4)[:, :, :3]
    return np.asarray(img)


@contextmanager
def _single_block(img: Image.Image) -> Iterator[None]:
    """Let Pillow allocate this image (and its conversions) in one block, so ``pixels_of`` can view it
    without a copy: Pillow splits images above its block size (16 MB, ~4 MP RGB) into blocks of rows.
    Only the layout of the allocation changes, never its size; the setting is restored afterwards."""
    need = -(-img.width * img.height * 4 // 4096) * 4096  # Pillow wants a multiple of the page size
    old = Image.core.get_block_size() if hasattr(Image.core, "get_block_size") else need
    if need <= old:
        yield
        return
    Image.core.set_block_size(need)
    try:
        yield
    finally:
        Image.core.set_block_size(old)


def _load_rgb(img: Image.Image) -> np.ndarray:
    """Decode an opened image (its size was checked by ``_open``), upright it, RGB pixels without a copy
    when possible."""
    with _single_block(img):
        img.load()
        if img.getexif().get(_ORIENTATION, 1) not in (1, None):  # exif_transpose copies even if upright
            img = ImageOps.exif_transpose(img)
        return pixels_of(to_rgb(img))


def decode_image(src: ImageSource, *, max_pixels: int | None = None) -> np.ndarray:
    """Decode an image file or bytes to an (H, W, 3) uint8 RGB array (read-only; may be a view of
    Pillow's memory with 4-byte pixel strides, see ``pixels_of``). Raises MediaMissingError, or
    MediaDecodeError for undecodable data, a non-regular file or more pixels than ``max_pixels``
    (default: ``media.limits.max_pixels()``)."""
    img = _open(src, max_pixels)
    try:
        return _load_rgb(img)
    except MediaDecodeError:
        raise
    except Exception as e:
        raise MediaDecodeError(f"not a decodable image: {_name(src)}: {e}", path=_path(src)) from e


def image_size(src: ImageSource) -> tuple[int, int]:
    """(width, height) as displayed (EXIF orientations 5-8 swap the axes), from the header only (no pixel
    limit: nothing is decoded)."""
    img = _open(src, max_pixels=sys.maxsize)
    try:
        w, h = img.size
        try:
            orientation = img.getexif().get(_ORIENTATION, 1)
        except Exception:
            orientation = 1
    finally:
        img.close()
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def encode_png(image: np.ndarray | Image.Image) -> bytes:
    img = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def encode_jpeg(image: np.ndarray | Image.Image, quality: int = 90) -> bytes:
    img = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def decode_image_draft(src: ImageSource, min_size: tuple[int, int] | Callable[[int, int], tuple[int, int]],
                       *, max_pixels: int | None = None) -> tuple[np.ndarray, tuple[int, int]]:
    """Fast path: decode a JPEG at a reduced DCT scale (1/2, 1/4 or 1/8) that still covers ``min_size``
    = (height, width) as displayed, or ``min_size(H, W)`` of the full displayed size (read from the
    header of the one open); other formats decode fully. Returns (RGB array, (H, W) of the full image as
    displayed). The pixels differ from a full decode + resize, so this is opt-in.
    """
    img = _open(src, max_pixels)
    try:
        w, h = img.size
        orientation = img.getexif().get(_ORIENTATION, 1)
        swap = orientation in (5, 6, 7, 8)
        full = (w, h) if swap else (h, w)  # (H, W) as displayed
        if img.format == "JPEG":
            want_h, want_w = min_size(*full) if callable(min_size) else min_size
            stored_req = (want_h, want_w) if swap else (want_w, want_h)  # (w, h) in stored orientation
            img.draft("RGB", stored_req)
        return _load_rgb(img), (int(full[0]), int(full[1]))
    except MediaDecodeError:
        raise
    except Exception as e:
        raise MediaDecodeError(f"not a decodable image: {_name(src)}: {e}", path=_path(src)) from e
