"""COCO run-length encoded masks (the format of the Molmo2 eval masks), without pycocotools.

A mask of size (h, w) is flattened in column-major order and stored as alternating run lengths,
starting with a run of zeros (possibly empty). ``counts`` is either that list of ints ("uncompressed")
or COCO's compressed string: each run, from the fourth on minus the run two before it, written as
little-endian 5-bit groups in characters offset by 48, bit 0x20 = "more groups follow", and the top
data bit of the last group the sign.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from molmo2_data.errors import SchemaError
from molmo2_data.media.limits import max_pixels


class RLEError(SchemaError):
    """A run-length encoding that does not describe a mask of its size (a ValueError, as before, and a
    SchemaError so callers that count bad rows count it)."""


def counts_from_string(s: str) -> list[int]:
    out: list[int] = []
    p = 0
    while p < len(s):
        x = k = 0
        more = True
        while more:
            if p >= len(s):
                raise RLEError("compressed RLE ends inside a number")
            c = ord(s[p]) - 48
            if not 0 <= c < 64:
                raise RLEError(f"character {s[p]!r} is not in the compressed RLE alphabet")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(out) > 2:
            x += out[-2]
        out.append(x)
    return out


def counts_to_string(counts: Sequence[int]) -> str:
    chars: list[str] = []
    for i, run in enumerate(counts):
        x = int(run) - (int(counts[i - 2]) if i > 2 else 0)
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = x != -1 if c & 0x10 else x != 0
            if more:
                c |= 0x20
            chars.append(chr(c + 48))
    return "".join(chars)


def decode(rle: Mapping[str, Any]) -> np.ndarray:
    """{"size": [h, w], "counts": str | list[int]} -> (h, w) bool mask. Raises RLEError for anything
    else, including a size above the pixel limit of ``media.limits`` (a tiny RLE can claim a 10 GB mask)."""
    try:
        h, w = (int(v) for v in rle["size"])
        counts = rle["counts"]
        if isinstance(counts, bytes):
            counts = counts.decode("ascii")
        runs = counts_from_string(counts) if isinstance(counts, str) else [int(c) for c in counts]
    except RLEError:
        raise
    except (KeyError, TypeError, ValueError, OverflowError) as e:  # UnicodeDecodeError is a ValueError
        raise RLEError(f"not an RLE mask: {e}") from e
    if h < 0 or w < 0:
        raise RLEError(f"negative mask size {h}x{w}")
    if h * w > max_pixels():
        raise RLEError(f"mask too large: {w} x {h} = {h * w} pixels > limit {max_pixels()} "
                       "(set MOLMO2_DATA_MAX_PIXELS to raise it)")
    if any(r < 0 for r in runs) or sum(runs) != h * w:
        raise RLEError(f"runs add up to {sum(runs)} pixels (or are negative) for a {h}x{w} mask")
    values = np.zeros(len(runs), dtype=bool)
    values[1::2] = True
    flat = np.repeat(values, runs)
    return flat.reshape(w, h).T  # column-major


def encode(mask: np.ndarray, compressed: bool = True) -> dict[str, Any]:
    """(h, w) bool mask -> COCO RLE (compressed string counts by default)."""
    mask = np.asarray(mask, dtype=bool)
    h, w = mask.shape
    flat = mask.T.reshape(-1)
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        runs = [0, *runs]
    return {"size": [h, w], "counts": counts_to_string(runs) if compressed else runs}
