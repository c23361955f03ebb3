"""Human-readable views of collated batches: one row decoded with its vision placeholders and loss
spans marked, and the mix a run achieved against its target rates."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from molmo2_data.text.tokenizer import Molmo2Tokenizer

LOSS_OPEN, LOSS_CLOSE = "⟦", "⟧"


def _vision_ids(tok: Molmo2Tokenizer) -> set[int]:
    sp = tok.special
    return {sp.im_start, sp.im_end, sp.im_patch, sp.im_col, sp.low_res_im_start, sp.im_low, sp.frame_start,
            sp.frame_end}


def describe_row(batch: Mapping[str, Any], row: int, tok: Molmo2Tokenizer, max_chars: int = 4000) -> str:
    """Decode one row: runs of vision tokens become ``<vision: N tokens>``, tokens that carry loss are
    wrapped in ⟦…⟧, and each packed document starts on a new line with ``[doc k]``."""
    ids = np.asarray(batch["input_ids"][row])
    labels = np.asarray(batch["labels"][row])
    docs = np.asarray(batch["document_ids"][row])
    vision = _vision_ids(tok)
    n = int((ids >= 0).sum())
    # loss for target t sits at input position t; mark the *target* tokens (what the model learns)
    out: list[str] = []
    k = 0
    while k < n:
        if k == 0 or docs[k] != docs[k - 1]:
            out.append(f"\n[doc {int(docs[k])}] ")
        if int(ids[k]) in vision:
            j = k
            while j < n and int(ids[j]) in vision and docs[j] == docs[k]:
                j += 1
            out.append(f"<vision: {j - k} tokens>")
            k = j
            continue
        j = k
        while j < n and int(ids[j]) not in vision and docs[j] == docs[k] and (labels[j] != -100) == (labels[k] != -100):
            j += 1
        text = tok.decode(ids[k:j])
        if labels[k] != -100:
            text = f"(predicts {LOSS_OPEN}{tok.decode(labels[k:j])}{LOSS_CLOSE})"
        out.append(text)
        k = j
    s = "".join(out).strip("\n")
    return s if len(s) <= max_chars else s[:max_chars] + f"… [{len(s) - max_chars} more characters]"


def achieved_mix(metadata: Iterable[list[list[dict[str, Any]]]], rates: Mapping[str, float]) -> list[tuple[str, float, float, int]]:
    """(member, target rate, achieved share, examples) over the batches' metadata."""
    counts: Counter[str] = Counter()
    for batch_meta in metadata:
        for row in batch_meta:
            for m in row:
                counts[m["member"]] += 1
    total = max(sum(counts.values()), 1)
    return [(name, rate, counts[name] / total, counts[name]) for name, rate in rates.items()]


def packing_fill(batch: Mapping[str, Any]) -> float:
    ids = np.asarray(batch["input_ids"])
    return float((ids >= 0).sum() / ids.size)
