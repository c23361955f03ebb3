"""Cost of the official trainer's batch format (batch_format="molmo2") vs the default collate, per batch
of packed sequences with pretraining-sized images (16 crops x 729 patches x 588 values per row), next
to the floors measured in the same run: copying the pixel bytes once, and normalising them once
(float32 x / 255 * 2 - 1, numpy). Prints a table.

    python benchmarks/bench_batch_format.py [--rows 8] [--repeats 5]
"""

from __future__ import annotations

import argparse
import functools
import time

import numpy as np

from molmo2_data.loading.collate import collate
from molmo2_data.loading.molmo2_batch import Molmo2Format, molmo2_collate
from molmo2_data.loading.packing import PackedSequence


def sequence(rng: np.random.RandomState, length: int, crops_per_example: tuple[int, ...]) -> PackedSequence:
    parts = tuple(rng.randint(0, 256, (c, 729, 588), dtype=np.uint8) for c in crops_per_example)
    rows = tuple(c * 49 for c in crops_per_example)
    pooling = np.arange(sum(rows) * 4, dtype=np.int64).reshape(-1, 4) % (sum(crops_per_example) * 729)
    n_docs = len(crops_per_example)
    cu = np.linspace(0, length, n_docs + 1).astype(np.int32)
    docs = np.repeat(np.arange(n_docs), np.diff(cu))
    return PackedSequence(
        input_ids=rng.randint(0, 150000, length), target_ids=rng.randint(0, 150000, length),
        loss_weights=np.ones(length, np.float32), position_ids=np.arange(length), subsegment_ids=docs * 100000,
        document_ids=docs, cu_seqlens=cu, pixel_parts=parts, token_pooling=pooling,
        patch_masks=np.ones((sum(crops_per_example), 729), np.float32),
        metadata=[{"index": i} for i in range(n_docs)], pooling_rows=rows)


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    rng = np.random.RandomState(0)
    seqs = [sequence(rng, 2536, (9, 5, 2)) for _ in range(args.rows)]
    pixels = np.concatenate([p for s in seqs for p in s.pixel_parts])
    out_u8 = np.empty_like(pixels)
    cases = {
        "floor: copy the pixels once": lambda: np.copyto(out_u8, pixels),
        "floor: normalise the pixels once (numpy)": lambda: (pixels.astype(np.float32) / np.float32(255.0))
        * np.float32(2.0) - np.float32(1.0),
        "default collate (uint8)": lambda: collate(seqs, 2536),
        "molmo2 format, uint8 (SFT)": functools.partial(molmo2_collate, seqs, 2536, "max", Molmo2Format()),
        "molmo2 format, float32 normalised (pretrain)": functools.partial(
            molmo2_collate, seqs, 2536, "max", Molmo2Format(normalize="siglip")),
        "molmo2 format, normalised, padded to 16 crops": functools.partial(
            molmo2_collate, seqs, 2536, "max", Molmo2Format(normalize="siglip", pad_crops_to=16)),
    }
    mb = pixels.nbytes / 1e6
    print(f"{args.rows} rows x 2536 tokens, {len(pixels)} crops ({mb:.0f} MB of uint8 pixels); best of {args.repeats}")
    print(f"{'case':<48}{'ms/batch':>10}{'batches/s':>11}")
    for name, fn in cases.items():
        t = best_of(fn, args.repeats)
        print(f"{name:<48}{t * 1e3:>10.1f}{1 / t:>11.1f}")


if __name__ == "__main__":
    main()
