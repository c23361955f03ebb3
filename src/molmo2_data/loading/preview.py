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


def tokens_html(batch: Mapping[str, Any], row: int, tok: Molmo2Tokenizer) -> str:
    """One row's tokens: vision runs as placeholders, loss-bearing targets highlighted."""
    import html

    ids = np.asarray(batch["input_ids"][row])
    labels = np.asarray(batch["labels"][row])
    docs = np.asarray(batch["document_ids"][row])
    vision = _vision_ids(tok)
    n = int((ids >= 0).sum())
    parts, k = [], 0
    while k < n:
        if k == 0 or docs[k] != docs[k - 1]:
            parts.append(f'<div class="doc">document {int(docs[k])}</div>')
        if int(ids[k]) in vision:
            j = k
            while j < n and int(ids[j]) in vision and docs[j] == docs[k]:
                j += 1
            parts.append(f'<span class="vis">&lt;vision: {j - k} tokens&gt;</span>')
            k = j
            continue
        j = k
        while j < n and int(ids[j]) not in vision and docs[j] == docs[k] and (labels[j] != -100) == (labels[k] != -100):
            j += 1
        if labels[k] != -100:
            parts.append(f'<span class="loss" title="loss weight {float(batch["loss_weights"][row][k]):.3f}">'
                         f"{html.escape(tok.decode(labels[k:j]))}</span>")
        else:
            parts.append(f"<span>{html.escape(tok.decode(ids[k:j]))}</span>")
        k = j
    return '<pre class="tokens">' + "".join(parts) + "</pre>"


PREVIEW_CSS = (".tokens{white-space:pre-wrap;background:#fafafa;border:1px solid #ddd;padding:8px}"
               ".loss{background:#d4f5d4;border-bottom:2px solid #2a2}.vis{background:#dde6ff;color:#225}"
               ".doc{font-weight:bold;margin-top:8px;color:#555}")


def write_batch_preview(batch: Mapping[str, Any], source: Any, tok: Molmo2Tokenizer, out_html: str,
                        max_rows: int = 2) -> str:
    """A static page for one batch: per packed row, every example's media with its annotations drawn
    (re-read from its dataset by the index it came from), then the row's tokens with loss spans."""
    import html

    from molmo2_data.datasets.base import rng_for_index
    from molmo2_data.eval.gallery import page, render_example

    body = []
    rows = min(max_rows, len(batch["metadata"]))
    for r in range(rows):
        body.append(f"<h2>row {r}: {len(batch['metadata'][r])} packed examples</h2>")
        for k, m in enumerate(batch["metadata"][r]):
            member = next(p for p in source.members if p.member.name == m["member"])
            ex = source._open(member.member).example(m["item"], rng_for_index(m["item"], m["epoch"]))
            body.append(f"<p>document {k}: <b>{html.escape(m['member'])}</b> item {m['item']} epoch {m['epoch']}"
                        f" (global index {m['index']})</p>")
            body.append(render_example(ex, k))
        body.append(tokens_html(batch, r, tok))
    text = page("batch preview", "".join(body)).replace("</style>", PREVIEW_CSS + "</style>", 1)
    from pathlib import Path

    Path(out_html).write_text(text, encoding="utf-8")
    return out_html
