"""Shared by the per-set benchmarks: examples/s on one core with the SFT encoding (read, decode,
preprocess, format, tokenize) next to the floor measured in the same run (decode + vision preprocessing
of the same example with the same rng draws), best of two interleaved passes after a warm-up."""

from __future__ import annotations

import time
from typing import Any

from molmo2_data.datasets.base import rng_for_index
from molmo2_data.loading.loader import build_encoder, stage_config
from molmo2_data.text.tokenizer import load_tokenizer


def sft_encoder() -> Any:
    cfg = stage_config("molmo2-sft")
    return build_encoder(cfg, load_tokenizer("qwen3"), cfg.sequence_length, cfg.mixture(), cfg.max_frames)


def ours_and_floor(ds: Any, n: int, member: str, warmup: int = 2) -> tuple[float, float]:
    """(ours examples/s, floor examples/s) over the first ``n`` examples of ``ds``."""
    enc = sft_encoder()

    def floor_pass() -> float:
        t = time.perf_counter()
        for i in range(n):
            rng = rng_for_index(i, 0)
            enc.vision(ds.get(i, rng), rng)
        return n / (time.perf_counter() - t)

    def ours_pass() -> float:
        t = time.perf_counter()
        for i in range(n):
            rng = rng_for_index(i, 0)
            enc.encode_or_raise(ds.get(i, rng), rng, {"index": i, "member": member})
        return n / (time.perf_counter() - t)

    for i in range(min(warmup, n)):  # compiled kernels, tokenizer, codecs, page cache
        rng = rng_for_index(i, 0)
        enc.encode_or_raise(ds.get(i, rng), rng, {"index": i, "member": member})
    floor, ours = floor_pass(), ours_pass()
    return max(ours, ours_pass()), max(floor, floor_pass())
