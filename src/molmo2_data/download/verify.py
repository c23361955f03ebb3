"""Checks a downloaded file must pass before it gets its final name.

Three policies (DATASETS.md §1, §5):

* ``sha256``: the column holds sha256 of the image bytes (pixmo-points, -ask-model-anything,
  -point-explanations, -points-eval). Matching bytes are exactly the published image: no decode needed.
* ``sha256-soft``: the column holds a byte hash but the official pipeline does not check it
  (pixmo-count, Flickr re-encodes): a mismatch is accepted when the image decodes, and noted.
* ``decode`` (no byte hash, or the column holds sha256 of the URL as in Molmo2-MultiImagePoint): the
  file must be a decodable image within the pixel limit (decompression-bomb guard).
* ``video`` (videos from a URL mapping): a container with a video stream whose first frame decodes.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from PIL import Image

SHA256 = "sha256"
SHA256_SOFT = "sha256-soft"
DECODE = "decode"
VIDEO = "video"
POLICIES = (SHA256, SHA256_SOFT, DECODE, VIDEO)

DEFAULT_MAX_PIXELS = 16384 * 16384  # same bound the image decoder (media/image.py) enforces

# Leading bytes of image formats Pillow reads; used to tell "wrong image" from "not an image at all".
_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*",
          b"\x00\x00\x01\x00", b"8BPS")


class VerifyError(Exception):
    """A permanent verification failure; ``reason`` is a short, countable category."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Verified:
    note: str = ""  # e.g. "sha256 mismatch accepted" for the soft policy


def looks_like_image(head: bytes) -> bool:
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return True
    if head[4:12] in (b"ftypavif", b"ftypheic", b"ftypmif1", b"ftypheix"):
        return True
    return any(head.startswith(m) for m in _MAGIC)


def sniff_kind(head: bytes, content_type: str) -> str:
    """A short description of a non-image body for failure reasons."""
    text = head[:512].lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in text:
        return "html"
    if content_type:
        return content_type.split(";")[0].strip() or "unknown"
    return "unknown"


def check_decodable(path: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
    """Raise VerifyError unless ``path`` is an image Pillow decodes, within ``max_pixels``.

    The size is checked from the header before any pixel is decoded (bomb guard). JPEGs are decoded
    at 1/8 scale (``draft``), which still reads every entropy-coded segment, so a truncated file fails
    at a fraction of the cost of a full decode; other formats use ``verify`` (PNG: CRC of every chunk).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as im:
                w, h = im.size
                if w <= 0 or h <= 0:
                    raise VerifyError("not an image", f"zero size {w}x{h}")
                if w * h > max_pixels:
                    raise VerifyError("decompression bomb", f"{w}x{h} pixels > {max_pixels}")
                if im.format == "JPEG":
                    im.draft(im.mode, (max(1, w // 8), max(1, h // 8)))
                    im.load()
                else:
                    im.verify()
        except VerifyError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise VerifyError("decompression bomb", str(e)) from e
        except Image.UnidentifiedImageError as e:
            raise VerifyError("not an image", "unidentified format") from e
        except (OSError, SyntaxError, ValueError, EOFError) as e:
            raise VerifyError("corrupt image", str(e)[:120]) from e


def check_video(path: str, head: bytes, content_type: str) -> None:
    """Raise VerifyError unless ``path`` is a container with a video stream whose first frame decodes."""
    import av

    try:
        with av.open(path) as c:
            if not c.streams.video:
                raise VerifyError("not a video", "no video stream")
            for _frame in c.decode(video=0):
                return
            raise VerifyError("corrupt video", "no decodable frame")
    except VerifyError:
        raise
    except Exception as e:  # PyAV raises InvalidDataError, OSError, ...
        kind = "not a video" if not head.strip() or sniff_kind(head, "") == "html" else "corrupt video"
        raise VerifyError(kind, sniff_kind(head, content_type) if kind == "not a video" else str(e)[:120]) from e


def verify_file(path: str, digest: str, expected: tuple[str, ...], policy: str, head: bytes,
                content_type: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> Verified:
    """Apply ``policy`` to a fully written temp file whose sha256 is ``digest``."""
    if policy == VIDEO:
        check_video(path, head, content_type)
        return Verified()
    if policy == SHA256 and expected:
        if digest in expected:
            return Verified()
        if not looks_like_image(head):
            raise VerifyError("not an image", sniff_kind(head, content_type))
        raise VerifyError("sha256 mismatch", f"got {digest[:16]}..")
    try:
        check_decodable(path, max_pixels)
    except VerifyError as e:
        if e.reason == "not an image" and not looks_like_image(head):
            raise VerifyError("not an image", sniff_kind(head, content_type)) from None
        raise
    if policy == SHA256_SOFT and expected and digest not in expected:
        return Verified(note="sha256 mismatch accepted (unchecked officially)")
    return Verified()
