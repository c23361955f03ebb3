"""Human-readable views of collated batches: one row decoded with its vision placeholders and loss
spans marked, and the mix a run achieved against its target rates."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from molmo2_data.text.tokenizer import Molmo2Tokenizer

LOSS_OPEN, LOSS_CLOSE = "⟦", "⟧"


def _vision_ids(tok: Molmo2Tokenizer) -> set[int]:
    sp = tok.special
    return {sp.im_start, sp.im_end, sp.im_patch, sp.im_col, sp.low_res_im_start, sp.im_low, sp.frame_start,
            sp.frame_end}


def row_segments(batch: Mapping[str, Any], row: int, tok: Molmo2Tokenizer
                 ) -> Iterator[tuple[int, bool, str, str, float]]:
    """Split one row into runs: (document, new_document, kind, text, loss weight) with kind "vision"
    (text = the token count), "loss" (text = the decoded *targets* the model learns) or "text"."""
    ids = np.asarray(batch["input_ids"][row])
    labels = np.asarray(batch["labels"][row])
    docs = np.asarray(batch["document_ids"][row])
    weights = np.asarray(batch["loss_weights"][row])
    vision = _vision_ids(tok)
    n = int((ids >= 0).sum())
    k = 0
    while k < n:
        new_doc = k == 0 or docs[k] != docs[k - 1]
        is_vis = int(ids[k]) in vision
        has_loss = labels[k] != -100
        j = k + 1
        while (j < n and docs[j] == docs[k] and (int(ids[j]) in vision) == is_vis
               and (is_vis or (labels[j] != -100) == has_loss)):
            j += 1
        if is_vis:
            yield int(docs[k]), new_doc, "vision", str(j - k), 0.0
        elif has_loss:
            yield int(docs[k]), new_doc, "loss", tok.decode(labels[k:j]), float(weights[k])
        else:
            yield int(docs[k]), new_doc, "text", tok.decode(ids[k:j]), 0.0
        k = j


def describe_row(batch: Mapping[str, Any], row: int, tok: Molmo2Tokenizer, max_chars: int = 4000) -> str:
    """Decode one row: runs of vision tokens become ``<vision: N tokens>``, the tokens the model learns
    to predict are wrapped in ⟦…⟧, and each packed document starts on a new line with ``[doc k]``."""
    out: list[str] = []
    for doc, new_doc, kind, text, _ in row_segments(batch, row, tok):
        if new_doc:
            out.append(f"\n[doc {doc}] ")
        out.append({"vision": f"<vision: {text} tokens>", "loss": f"(predicts {LOSS_OPEN}{text}{LOSS_CLOSE})",
                    "text": text}[kind])
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

    parts = []
    for doc, new_doc, kind, text, weight in row_segments(batch, row, tok):
        if new_doc:
            parts.append(f'<div class="doc">document {doc}</div>')
        if kind == "vision":
            parts.append(f'<span class="vis">&lt;vision: {text} tokens&gt;</span>')
        elif kind == "loss":
            parts.append(f'<span class="loss" title="loss weight {weight:.3f}">{html.escape(text)}</span>')
        else:
            parts.append(f"<span>{html.escape(text)}</span>")
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
