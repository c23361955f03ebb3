"""Loss weights computed as the official tokenizer does, step by step in float32 (issue 15 §5)."""

from __future__ import annotations

import math

import numpy as np

from molmo2_data.text.tokenize import FLAT_POINTING_WEIGHT, LossWeight


def official(n: int, k: int, weight: float | None = None) -> np.float32:
    """The official operations, spelled out: a float32 mask of n ones, ``mask *= 2 / np.sqrt(mask.sum())``,
    ``mask *= weight``, then ``mask /= math.sqrt(K)`` (Python scalars take the array's float32)."""
    mask = np.ones(n, dtype=np.float32)
    mask *= 2 / np.sqrt(mask.sum())
    if weight is not None:
        mask *= weight
    mask /= math.sqrt(k)
    return mask[0]


def test_n61_is_the_official_value() -> None:
    w = LossWeight().value(61, 1)
    assert w.dtype == np.float32 and w == np.float32(0.2560737431) and f"{w:.10f}" == "0.2560737431"
    assert np.float32(2 / math.sqrt(61)) != w  # rounding once from float64 gives 0.2560737729


def test_sweep_against_the_official_operations() -> None:
    for k in (1, 2, 3, 7):
        for n in range(1, 2001):
            assert LossWeight().value(n, k) == official(n, k), (n, k)


def test_several_subsegments_by_hand() -> None:
    # K = 3, n = 61: 0.2560737431 (float32) / float32(sqrt(3)) = 0.14784309 in float32
    want = np.float32(np.float32(2) / np.sqrt(np.float32(61))) / np.float32(math.sqrt(3))
    assert LossWeight().value(61, 3) == want == official(61, 3)
    assert f"{LossWeight().value(61, 3):.8f}" == f"{want:.8f}"
    # an example weight of 0.5 multiplies before the division, as the official override does
    assert LossWeight().value(10, 2, scale=0.5) == official(10, 2, 0.5)
    assert FLAT_POINTING_WEIGHT.value(61, 3) == np.float32(0.2)
