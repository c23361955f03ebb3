"""Packed sequences -> a batch of numpy arrays (torch tensors via ``to_torch``).

Padding rules (FORMATS.md §6, with the loss-mask quirk fixed):

| key | shape | dtype | pad |
|---|---|---|---|
| input_ids | [B, L] | int64 | -1 (the model masks ids == -1 and embeds them as 0) |
| labels | [B, L] | int64 | -100 (also where a token carries no loss) |
| loss_weights | [B, L] | float32 | 0 (official pads -1 and relies on the trainer zeroing it) |
| position_ids | [B, L] | int64 | -1 |
| subsegment_ids | [B, L] | int64 | -1 |
| document_ids | [B, L] | int64 | -1 |
| cu_seqlens | [n_docs_total + 1] | int32 | flash-attn varlen boundaries over the flattened [B*L] batch; each row's padding tail is its own segment |
| images | [B, max_crops, n_patches, 588] | uint8 (pad 0) or float32 (pad -1) | |
| token_pooling | [B, max_rows, pool] | int64 | -1; indexes the row's flattened crops x patches |
| patch_masks | [B, max_crops, n_patches] | float32 | -1 |

``L`` is the configured sequence length (``pad_to="max"``) or the longest row (``pad_to="longest"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from molmo2_data.loading.packing import PackedSequence

IGNORE_INDEX = -100


def collate(seqs: Sequence[PackedSequence], sequence_length: int, pad_to: str = "max") -> dict[str, Any]:
    if not seqs:
        raise ValueError("cannot collate an empty batch")
    longest = max(s.n_tokens for s in seqs)
    if longest > sequence_length:
        raise ValueError(f"a sequence of {longest} tokens exceeds the sequence length {sequence_length}")
    L = sequence_length if pad_to == "max" else longest
    B = len(seqs)
    out: dict[str, Any] = {
        "input_ids": np.full((B, L), -1, np.int64),
        "labels": np.full((B, L), IGNORE_INDEX, np.int64),
        "loss_weights": np.zeros((B, L), np.float32),
        "position_ids": np.full((B, L), -1, np.int64),
        "subsegment_ids": np.full((B, L), -1, np.int64),
        "document_ids": np.full((B, L), -1, np.int64),
    }
    cu = [0]
    for b, s in enumerate(seqs):
        n = s.n_tokens
        out["input_ids"][b, :n] = s.input_ids
        out["labels"][b, :n] = np.where(s.loss_weights > 0, s.target_ids, IGNORE_INDEX)
        out["loss_weights"][b, :n] = s.loss_weights
        out["position_ids"][b, :n] = s.position_ids
        out["subsegment_ids"][b, :n] = s.subsegment_ids
        out["document_ids"][b, :n] = s.document_ids
        row0 = b * L
        cu.extend((row0 + s.cu_seqlens[1:]).tolist())
        if n < L:
            cu.append(row0 + L)
    out["cu_seqlens"] = np.asarray(cu, dtype=np.int32)
    out["max_seqlen"] = int(max(np.diff(out["cu_seqlens"]).max(), 1))
    with_images = [s for s in seqs if s.pixel_parts]
    if with_images:
        ref = with_images[0].pixel_parts[0]
        max_crops = max(s.n_crops for s in with_images)
        pad_px = 0 if ref.dtype == np.uint8 else -1
        # every crop is copied once, from its example straight into the batch; only padding is filled
        images = np.empty((B, max_crops, *ref.shape[1:]), dtype=ref.dtype)
        masks = np.full((B, max_crops, ref.shape[1]), -1, np.float32)
        rows = max(len(s.token_pooling) for s in with_images)
        width = max(s.token_pooling.shape[1] for s in with_images)
        pooling = np.full((B, rows, width), -1, np.int64)
        for b, s in enumerate(seqs):
            at = 0
            for part in s.pixel_parts:
                images[b, at: at + len(part)] = part
                at += len(part)
            images[b, at:] = pad_px
            if not s.pixel_parts:
                continue
            masks[b, : s.n_crops] = s.patch_masks
            tp = s.token_pooling
            pooling[b, : len(tp), : tp.shape[1]] = tp
        out.update(images=images, patch_masks=masks, token_pooling=pooling)
    out["metadata"] = [s.metadata for s in seqs]
    return out


def to_torch(batch: dict[str, Any]) -> dict[str, Any]:
    import torch

    def convert(v: Any) -> Any:
        if isinstance(v, np.ndarray):
            return torch.from_numpy(v)
        if isinstance(v, list) and v and all(isinstance(x, np.ndarray) for x in v):
            return [torch.from_numpy(x) for x in v]  # per-row arrays (official cum_*_bounds)
        return v

    return {k: convert(v) for k, v in batch.items()}
