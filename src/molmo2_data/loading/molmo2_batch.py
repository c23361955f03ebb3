"""Packed sequences -> a batch in the official Molmo2 trainer's format (``batch_format="molmo2"``).

The official trainer (allenai/molmo2 ``olmo/train/trainer.py``) consumes what its collator
(``olmo/preprocessing/multimodal_collator.py``) makes, and splits every batch into micro-batches by
slicing each tensor along dim 0 and each list in chunks; any other value (a scalar) is an error. So this
format differs from the default one (``collate.py``) in exactly those places:

| key | shape | dtype | pad |
|---|---|---|---|
| input_ids | [B, L] | int64 | -1 |
| labels | [B, L] | int64 | -1 (the target tokens; the trainer masks where ``loss_masks`` <= 0) |
| loss_masks | [B, L] | float32 | -1 (the trainer zeroes values <= 0) |
| position_ids, subsegment_ids | [B, L] | int64 | -1 |
| images | [B, C, n_patches, 588] | uint8, pad 0 (SFT: the model normalises) or float32 normalised, pad -1 (pretraining: ``normalize_on_gpu=False``) |
| token_pooling | [B, R, K] | int64 | -1 |
| cum_image_bounds, cum_token_pooling_bounds | list of B int64 tensors | | per row, cumulative crops / pooling rows of its examples with images (context parallelism) |
| metadata | list of B lists of dicts | | |

No ``cu_seqlens`` / ``max_seqlen`` / ``document_ids`` (flat or scalar varlen metadata; the official model
builds its masks from ``subsegment_ids``) and no ``image_masks`` (the official Molmo2 resize does not pad,
so its preprocessor emits none). ``pad_crops_to``: pad ``images`` to that many crops per row (the
recipe's per-sequence crop budget: 16 / 128 / 384) so shapes stay constant for compiled models.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from molmo2_data.errors import ConfigError
from molmo2_data.loading.packing import EXAMPLE_SUBSEGMENT_STRIDE, PackedSequence

BATCH_FORMATS = ("default", "molmo2")


@dataclass(frozen=True)
class Molmo2Format:
    """How images leave the loader in the official format: ``normalize`` (a vision normalise mode, e.g.
    "siglip") gives float32 normalised pixels padded with -1; None keeps uint8 padded with 0."""

    normalize: str | None = None
    pad_crops_to: int | None = None


def molmo2_collate(seqs: Sequence[PackedSequence], sequence_length: int, pad_to: str = "max",
                   fmt: Molmo2Format | None = None) -> dict[str, Any]:
    fmt = fmt or Molmo2Format()
    if not seqs:
        raise ValueError("cannot collate an empty batch")
    longest = max(s.n_tokens for s in seqs)
    if longest > sequence_length:
        raise ValueError(f"a sequence of {longest} tokens exceeds the sequence length {sequence_length}")
    L = sequence_length if pad_to == "max" else longest
    B = len(seqs)
    out: dict[str, Any] = {
        "input_ids": np.full((B, L), -1, np.int64),
        "labels": np.full((B, L), -1, np.int64),
        "loss_masks": np.full((B, L), -1, np.float32),
        "position_ids": np.full((B, L), -1, np.int64),
        "subsegment_ids": np.full((B, L), -1, np.int64),
    }
    for b, s in enumerate(seqs):
        n = s.n_tokens
        out["input_ids"][b, :n] = s.input_ids
        out["labels"][b, :n] = s.target_ids
        out["loss_masks"][b, :n] = s.loss_weights
        out["position_ids"][b, :n] = s.position_ids
        out["subsegment_ids"][b, :n] = s.subsegment_ids
    with_images = [s for s in seqs if s.pixel_parts]
    if with_images:
        _images(out, seqs, with_images, fmt)
    out["metadata"] = [s.metadata for s in seqs]
    return out


def _images(out: dict[str, Any], seqs: Sequence[PackedSequence], with_images: list[PackedSequence],
            fmt: Molmo2Format) -> None:
    ref = with_images[0].pixel_parts[0]
    crops = max(s.n_crops for s in with_images)
    if fmt.pad_crops_to is not None:
        if crops > fmt.pad_crops_to:
            raise ConfigError(f"a row holds {crops} crops, more than pad_crops_to={fmt.pad_crops_to}")
        crops = fmt.pad_crops_to
    B = len(seqs)
    if fmt.normalize is None:
        images = np.zeros((B, crops, *ref.shape[1:]), dtype=ref.dtype)
    else:
        images = np.full((B, crops, *ref.shape[1:]), -1, dtype=np.float32)
    rows = max(len(s.token_pooling) for s in with_images)
    width = max(s.token_pooling.shape[1] for s in with_images)
    pooling = np.full((B, rows, width), -1, np.int64)
    image_bounds, pooling_bounds = [], []
    for b, s in enumerate(seqs):
        at = 0
        for part in s.pixel_parts:
            images[b, at: at + len(part)] = part if fmt.normalize is None else _normalized(part, fmt.normalize)
            at += len(part)
        if s.pixel_parts:
            tp = s.token_pooling
            pooling[b, : len(tp), : tp.shape[1]] = tp
        image_bounds.append(np.cumsum([len(p) for p in s.pixel_parts], dtype=np.int64))
        pooling_bounds.append(np.cumsum(np.asarray(s.pooling_rows, dtype=np.int64), dtype=np.int64))
    out.update(images=images, token_pooling=pooling, cum_image_bounds=image_bounds,
               cum_token_pooling_bounds=pooling_bounds)


def _normalized(part: np.ndarray, mode: str) -> np.ndarray:
    from molmo2_data.vision.image import normalize

    if part.dtype != np.uint8:
        return part  # already normalised upstream
    return normalize(np.ascontiguousarray(part).reshape(-1, 3), mode).reshape(part.shape)


def default_view(batch: dict[str, Any]) -> dict[str, Any]:
    """A molmo2-format batch seen with the default format's text keys (``labels`` -100 where no loss,
    ``loss_weights`` >= 0, ``document_ids`` from the subsegment ids), for previews and reports."""
    if "loss_masks" not in batch:
        return batch
    masks = np.asarray(batch["loss_masks"])
    labels = np.asarray(batch["labels"])
    subs = np.asarray(batch["subsegment_ids"])
    view = dict(batch)
    view["loss_weights"] = np.maximum(masks, 0)
    view["labels"] = np.where(masks > 0, labels, -100)
    view["document_ids"] = np.where(subs >= 0, subs // EXAMPLE_SUBSEGMENT_STRIDE, -1)
    return view


def check_batch_format(batch_format: Any) -> str:
    if batch_format not in BATCH_FORMATS:
        raise ConfigError(f"batch_format must be one of {', '.join(BATCH_FORMATS)}, got {batch_format!r}")
    return str(batch_format)


__all__ = ["BATCH_FORMATS", "Molmo2Format", "check_batch_format", "default_view", "molmo2_collate"]
