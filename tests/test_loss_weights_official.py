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


def test_message_tree_weights_bitwise_with_the_real_tokenizer() -> None:
    """Three conversations sharing one image (K = 3), with 7, 9 and 13 answer tokens (no EOS after an
    annotation's last answer in a message tree, as officially): each annotation's loss positions (its
    answer plus the EOS target of the shift) carry float32(float32(2 / sqrt(n)) / sqrt(3)). Hand values,
    each one float32 step away from rounding once from float64: n=7 0.4364358187 (not 0.4364357889),
    n=9 0.3849002123 (2/3 in float32 = 0.6666666865, / float32(sqrt 3) = 1.7320507765; not 0.3849001825),
    n=13 0.3202563226 (not 0.3202562928)."""
    from molmo2_data.example import Example, Message, Messages, Metadata
    from molmo2_data.text.tokenize import TokenizeConfig, tokenize_example
    from molmo2_data.text.tokenizer import load_tokenizer

    tok = load_tokenizer()
    answers = ["one two three four five six seven", "a b c d e f g h i", "1 2 3 4 5 6 7"]
    anns = [Messages([Message("user", f"Q{i}"), Message("assistant", a)]) for i, a in enumerate(answers)]
    out = tokenize_example(Example(anns, Metadata(dataset="t", split="train")), tok,
                           TokenizeConfig(shuffle_annotations=False))
    want = {7: "0.4364358187", 9: "0.3849002123", 13: "0.3202563226"}
    for k, n in enumerate((7, 9, 13)):
        assert len(tok.encode(answers[k])) == n
        w = out.loss_weights[(out.subsegment_ids == k) & out.loss_mask]
        assert len(w) == n + 1  # the answer and the EOS target
        assert (w == official(n, 3)).all() and f"{w[0]:.10f}" == want[n]
        assert w[0] != np.float32(2 / math.sqrt(n) / math.sqrt(3))  # the float64 rounding-once value differs
