"""Special-token ids (FORMATS §0) and a tiny exact encoder for the few strings the vision stage emits.

The vision layouts contain only special tokens plus short strings made of digits, '.', ' ' and the word
'Image' ('Image 1', '0.5 '). The Qwen3 pre-tokenizer splits digits one by one and never merges a space
into a digit, so these strings have a fixed encoding that needs no tokenizer file; FORMATS gives the
checks: 'Image 1' = [1906, 220, 16], '0.0 ' = [15, 13, 15, 220], ' 0.5 ' = [220, 15, 13, 20, 220].
"""

from __future__ import annotations

import numpy as np

IM_START = 151936
IM_END = 151937
IM_PATCH = 151938
IM_COL = 151939
LOW_RES_IM_START = 151940
IMAGE_PLACEHOLDER = 151941  # <|image|>
IM_LOW = 151942
FRAME_START = 151943
FRAME_END = 151944
VIDEO_PLACEHOLDER = 151945  # <|video|>

VISION_SPECIAL_IDS = frozenset(
    {IM_START, IM_END, IM_PATCH, IM_COL, LOW_RES_IM_START, IM_LOW, FRAME_START, FRAME_END}
)

_QWEN_SPACE = 220
_QWEN_DOT = 13
_QWEN_DIGIT0 = 15
_QWEN_IMAGE = 1906


def encode_simple(text: str) -> list[int]:
    """Qwen3 ids of a string made of digits, '.', ' ' and the word 'Image' (see module docstring)."""
    out: list[int] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if text.startswith("Image", i):
            out.append(_QWEN_IMAGE)
            i += 5
            continue
        if ch.isdigit() and ch.isascii():
            out.append(_QWEN_DIGIT0 + int(ch))
        elif ch == ".":
            out.append(_QWEN_DOT)
        elif ch == " ":
            out.append(_QWEN_SPACE)
        else:
            raise ValueError(f"encode_simple cannot encode {text!r}; pass a tokenizer")
        i += 1
    return out


def image_prefix(k: int) -> np.ndarray:
    """Tokens of 'Image {k}' (k from 1) that precede each image of a multi-image example."""
    return np.asarray(encode_simple(f"Image {k}"), dtype=np.int32)
