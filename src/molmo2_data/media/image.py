"""Image decoding with Pillow: any mode in, RGB uint8 out, EXIF orientation applied.

Why not ``Image.open(p).convert("RGB")``: that ignores EXIF orientation, composites alpha onto black,
and maps 16-bit greyscale through a clipping path. Here alpha is composited onto white (as a viewer
shows it), 16-bit data is scaled to 8 bits, CMYK and palette images go through Pillow's converters.
"""

from __future__ import annotations

import io
import os
import warnings

import numpy as np
from PIL import Image, ImageOps

from molmo2_data.errors import MediaDecodeError, MediaMissingError

ImageSource = str | os.PathLike | bytes | bytearray | memoryview

# Decompression-bomb guard: refuse images above this many pixels (Pillow's own limit is ~179 MP
# with only a warning below 2x that).
MAX_IMAGE_PIXELS = 16384 * 16384
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS


def _open(src: ImageSource) -> Image.Image:
    try:
        if isinstance(src, bytes | bytearray | memoryview):
            return Image.open(io.BytesIO(bytes(src)))
        return Image.open(os.fspath(src))
    except FileNotFoundError as e:
        raise MediaMissingError(f"image file not found: {src}") from e
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise MediaDecodeError(f"image too large (decompression-bomb guard): {_name(src)}: {e}") from e
    except Exception as e:  # Pillow raises UnidentifiedImageError, OSError, SyntaxError...
        raise MediaDecodeError(f"not a decodable image: {_name(src)}: {e}") from e


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


def decode_image(src: ImageSource) -> np.ndarray:
    """Decode an image file or bytes to an (H, W, 3) uint8 RGB array."""
    img = _open(src)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img.load()
        img = ImageOps.exif_transpose(img)
        return np.asarray(to_rgb(img))
    except MediaDecodeError:
        raise
    except Exception as e:
        raise MediaDecodeError(f"not a decodable image: {_name(src)}: {e}") from e


def image_size(src: ImageSource) -> tuple[int, int]:
    """(width, height) as displayed (EXIF orientations 5-8 swap the axes), from the header only."""
    img = _open(src)
    w, h = img.size
    try:
        orientation = img.getexif().get(0x0112, 1)
    except Exception:
        orientation = 1
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


def decode_image_draft(src: ImageSource, min_size: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int]]:
    """Fast path: decode a JPEG at a reduced DCT scale (1/2, 1/4 or 1/8) that still covers ``min_size``
    = (height, width) as displayed; other formats decode fully. Returns (RGB array, (H, W) of the full
    image as displayed). The pixels differ from a full decode + resize, so this is opt-in.
    """
    img = _open(src)
    try:
        w, h = img.size
        orientation = img.getexif().get(0x0112, 1) if img.format == "JPEG" else 1
        swap = orientation in (5, 6, 7, 8)
        full = (w, h) if swap else (h, w)  # (H, W) as displayed
        if img.format == "JPEG":
            want_h, want_w = min_size
            stored_req = (want_h, want_w) if swap else (want_w, want_h)  # (w, h) in stored orientation
            img.draft("RGB", stored_req)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img.load()
        img = ImageOps.exif_transpose(img)
        return np.asarray(to_rgb(img)), (int(full[0]), int(full[1]))
    except MediaDecodeError:
        raise
    except Exception as e:
        raise MediaDecodeError(f"not a decodable image: {_name(src)}: {e}") from e
