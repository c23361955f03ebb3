"""Packing several encoded examples into one sequence (FORMATS.md §5.3).

A bounded buffer (48) of encoded examples; once full, every arriving example triggers a 0/1
two-dimensional knapsack over the buffered ones — text tokens (quantised to ``L // 512`` granularity)
against image crops — maximising ``tokens * text_weight + crops * image_weight``; the chosen set is
emitted as one sequence (in descending buffer order, as the official packer) and the new example
enters the buffer. An example that fills the sequence on its own is emitted alone at once.

Packed sequences carry per-token ``document_ids`` (no token may attend across examples),
``cu_seqlens`` for variable-length attention kernels, position ids restarting per example, and the
subsegment ids of message trees (offset by 100000 per example, as the official packer does).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from molmo2_data.loading.encode import EncodedExample

EXAMPLE_SUBSEGMENT_STRIDE = 100000
SOLVERS = ("knapsack", "fill", "greedy")


@dataclass(frozen=True)
class PackingConfig:
    sequence_length: int
    max_crops: int  # crops of all examples of one sequence (16 pretrain, 128 SFT, 384 long-context)
    buffer_size: int = 48
    text_weight: float = 1.0
    image_weight: float = 1.0  # 30 in SFT
    text_granularity: int | None = None  # default max(1, L // 512)
    # "knapsack": the official exact 2-D DP. "fill": the fullest text (exact subset sum on Python-int
    # bitsets), repaired greedily when it breaks the crop budget. "greedy": largest value first.
    solver: str = "knapsack"

    def __post_init__(self) -> None:
        if self.solver not in SOLVERS:
            raise ValueError(f"packing solver must be one of {', '.join(SOLVERS)}, got {self.solver!r}")

    @property
    def granularity(self) -> int:
        return self.text_granularity or max(1, self.sequence_length // 512)


@dataclass
class PackedSequence:
    input_ids: np.ndarray
    target_ids: np.ndarray
    loss_weights: np.ndarray
    position_ids: np.ndarray
    subsegment_ids: np.ndarray
    document_ids: np.ndarray  # (T,) 0..n_docs-1
    cu_seqlens: np.ndarray  # (n_docs + 1,) int32 boundaries within the sequence
    pixel_parts: tuple[np.ndarray, ...]  # each example's crops, in order (concatenated only on demand)
    token_pooling: np.ndarray | None  # indexes the concatenated crops' patches
    patch_masks: np.ndarray | None
    metadata: list[dict[str, Any]] = field(default_factory=list)
    pooling_rows: tuple[int, ...] = ()  # token_pooling rows of each example with images, in order

    @property
    def n_tokens(self) -> int:
        return len(self.input_ids)

    @property
    def n_crops(self) -> int:
        return sum(len(p) for p in self.pixel_parts)

    @property
    def pixels(self) -> np.ndarray | None:
        """All crops, concatenated. The collator copies ``pixel_parts`` straight into the batch instead:
        pixels are most of a batch's bytes (an SFT batch carries ~110 MB), so each copy counts."""
        return np.concatenate(self.pixel_parts) if self.pixel_parts else None


def pack(examples: list[EncodedExample]) -> PackedSequence:
    """Concatenate examples into one sequence (offsetting subsegments and pooling indices)."""
    subs, docs, pooling, pixels, masks = [], [], [], [], []
    patch_offset = 0
    pool_width = max((e.token_pooling.shape[1] for e in examples if e.token_pooling is not None), default=0)
    for k, e in enumerate(examples):
        base = k * EXAMPLE_SUBSEGMENT_STRIDE
        subs.append(np.full(e.n_tokens, base, np.int64) if e.subsegment_ids is None else e.subsegment_ids + base)
        docs.append(np.full(e.n_tokens, k, np.int64))
        if e.pixels is not None:
            tp = e.token_pooling.astype(np.int64)
            tp = np.where(tp >= 0, tp + patch_offset, -1)
            if tp.shape[1] < pool_width:
                tp = np.pad(tp, ((0, 0), (0, pool_width - tp.shape[1])), constant_values=-1)
            pooling.append(tp)
            pixels.append(e.pixels)
            masks.append(e.patch_masks)
            patch_offset += e.pixels.shape[0] * e.pixels.shape[1]
    lengths = np.array([e.n_tokens for e in examples], dtype=np.int32)
    cu = np.zeros(len(examples) + 1, dtype=np.int32)
    np.cumsum(lengths, out=cu[1:])
    return PackedSequence(
        input_ids=np.concatenate([e.input_ids for e in examples]),
        target_ids=np.concatenate([e.target_ids for e in examples]),
        loss_weights=np.concatenate([e.loss_weights for e in examples]),
        position_ids=np.concatenate([e.position_ids for e in examples]),
        subsegment_ids=np.concatenate(subs),
        document_ids=np.concatenate(docs),
        cu_seqlens=cu,
        pixel_parts=tuple(pixels),
        token_pooling=np.concatenate(pooling) if pooling else None,
        patch_masks=np.concatenate(masks) if masks else None,
        metadata=[e.metadata for e in examples],
        pooling_rows=tuple(len(p) for p in pooling),
    )


def greedy(sizes: list[int], crops: list[int], values: list[float], cap_size: int, cap_crops: int) -> list[int]:
    """Largest value first, taking every item that still fits both capacities (ascending indices)."""
    t = c = 0
    out = []
    for i in sorted(range(len(sizes)), key=values.__getitem__, reverse=True):
        if t + sizes[i] <= cap_size and c + crops[i] <= cap_crops:
            t += sizes[i]
            c += crops[i]
            out.append(i)
    return sorted(out)


def fullest(sizes: list[int], cap_size: int) -> list[int]:
    """Exact subset sum: the items whose total size is the largest not above ``cap_size``. Reachable
    totals are bits of a Python int (one shift-or per item), so a decision costs microseconds."""
    prefix = [1]  # prefix[k]: totals reachable with items [0, k)
    mask = (1 << (cap_size + 1)) - 1
    for s in sizes:
        prefix.append((prefix[-1] | (prefix[-1] << s)) & mask)
    t = prefix[-1].bit_length() - 1
    chosen = []
    for k in range(len(sizes), 0, -1):
        if not (prefix[k - 1] >> t) & 1:  # t is not reachable without item k-1: take it
            chosen.append(k - 1)
            t -= sizes[k - 1]
    return sorted(chosen)


def fit_crops(chosen: list[int], sizes: list[int], crops: list[int], cap_size: int, cap_crops: int) -> list[int]:
    """Repair a set that breaks the crop budget: drop the items with the most crops per unit of text
    until it fits, then add back, largest first, items that fit both budgets."""
    n_crops = sum(crops[i] for i in chosen)
    if n_crops <= cap_crops:
        return chosen
    keep = sorted(chosen, key=lambda i: crops[i] / sizes[i])
    while keep and n_crops > cap_crops:
        n_crops -= crops[keep.pop()]
    size = sum(sizes[i] for i in keep)
    taken = set(keep)
    for i in sorted(range(len(sizes)), key=sizes.__getitem__, reverse=True):
        if i not in taken and size + sizes[i] <= cap_size and n_crops + crops[i] <= cap_crops:
            keep.append(i)
            taken.add(i)
            size += sizes[i]
            n_crops += crops[i]
    return sorted(keep)


def knapsack(sizes: np.ndarray, crops: np.ndarray, values: np.ndarray, cap_size: int, cap_crops: int) -> list[int]:
    """0/1 knapsack with two capacities; returns chosen item indices (ascending). float32 DP.

    The table only spans what the items so far can fill (the sums of their sizes and crops, clipped to
    the capacities): beyond that every cell equals the corner, so reconstruction clamps into it."""
    n = len(sizes)
    top_s = int(min(cap_size, sizes[sizes <= cap_size].sum()))
    top_c = int(min(cap_crops, crops[crops <= cap_crops].sum()))
    dp = np.zeros((top_s + 1, top_c + 1), dtype=np.float32)
    take = np.zeros((n, top_s + 1, top_c + 1), dtype=bool)
    buf = np.empty_like(dp)
    for k in range(n):
        s, c = int(sizes[k]), int(crops[k])
        if s > top_s or c > top_c:
            continue
        h, w = top_s + 1 - s, top_c + 1 - c
        cand = buf[:h, :w]
        np.add(dp[:h, :w], np.float32(values[k]), out=cand)
        region = dp[s:, c:]
        np.greater(cand, region, out=take[k, s:, c:])
        np.maximum(region, cand, out=region)
    chosen = []
    t, c = top_s, top_c
    for k in range(n - 1, -1, -1):
        if take[k, t, c]:
            chosen.append(k)
            t -= int(sizes[k])
            c -= int(crops[k])
    return sorted(chosen)


class Packer:
    """The buffered packer. ``push`` an example, get zero or one packed sequence back; ``flush`` at
    the end of a finite stream. ``buffered`` lists what a checkpoint must remember."""

    def __init__(self, config: PackingConfig):
        self.config = config
        self.buffer: list[EncodedExample] = []
        self._sizes: list[int] = []  # per buffered example: quantised text size, crops, value
        self._crops: list[int] = []
        self._values: list[float] = []

    @property
    def buffered(self) -> list[EncodedExample]:
        return list(self.buffer)

    def _quantised(self, e: EncodedExample) -> int:
        return math.ceil(e.n_tokens / self.config.granularity)

    def _cap(self) -> int:
        return self.config.sequence_length // self.config.granularity

    def _choose(self) -> list[int]:
        cfg = self.config
        chosen = None
        if cfg.solver == "greedy":
            chosen = greedy(self._sizes, self._crops, self._values, self._cap(), cfg.max_crops)
        elif cfg.solver == "fill":
            chosen = fit_crops(fullest(self._sizes, self._cap()), self._sizes, self._crops, self._cap(),
                               cfg.max_crops)
        if chosen is None:
            chosen = knapsack(np.array(self._sizes), np.array(self._crops), np.array(self._values),
                              self._cap(), cfg.max_crops)
        return chosen or [0]  # never stall: an item that fits nothing is emitted alone

    def _append(self, e: EncodedExample) -> None:
        self.buffer.append(e)
        self._sizes.append(self._quantised(e))
        self._crops.append(e.n_crops)
        self._values.append(e.n_tokens * self.config.text_weight + e.n_crops * self.config.image_weight)

    def _take(self, chosen: list[int]) -> list[EncodedExample]:
        picked = []
        for i in sorted(chosen, reverse=True):  # official order: descending buffer index
            picked.append(self.buffer.pop(i))
            del self._sizes[i], self._crops[i], self._values[i]
        return picked

    def _emit(self, chosen: list[int]) -> PackedSequence:
        return pack(self._take(chosen))

    def push(self, example: EncodedExample) -> PackedSequence | None:
        if self._quantised(example) >= self._cap() or example.n_crops >= self.config.max_crops:
            return pack([example])
        out = None
        if len(self.buffer) >= self.config.buffer_size:
            out = self._emit(self._choose())
        self._append(example)
        return out

    def flush(self) -> Iterator[PackedSequence]:
        while self.buffer:
            yield self._emit(self._choose())


def pack_stream(examples: Iterable[EncodedExample], config: PackingConfig) -> Iterator[PackedSequence]:
    packer = Packer(config)
    for e in examples:
        out = packer.push(e)
        if out is not None:
            yield out
    yield from packer.flush()
