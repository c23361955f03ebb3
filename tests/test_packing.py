"""The packer: exact knapsack, official offsets of subsegments and pooling, buffer behaviour."""

from __future__ import annotations

import itertools

import numpy as np

from molmo2_data.loading.encode import EncodedExample
from molmo2_data.loading.packing import Packer, PackingConfig, knapsack, pack


def test_knapsack_is_exact_against_brute_force() -> None:
    rng = np.random.RandomState(0)
    for _ in range(200):
        n = rng.randint(1, 9)
        sizes, crops = rng.randint(1, 12, n), rng.randint(0, 5, n)
        values = sizes * 1.0 + crops * 3.0
        cap_s, cap_c = rng.randint(1, 30), rng.randint(0, 10)
        best = max(values[list(c)].sum() for r in range(n + 1) for c in itertools.combinations(range(n), r)
                   if sizes[list(c)].sum() <= cap_s and crops[list(c)].sum() <= cap_c)
        chosen = knapsack(sizes, crops, values, cap_s, cap_c)
        assert sizes[chosen].sum() <= cap_s and crops[chosen].sum() <= cap_c
        assert abs(values[chosen].sum() - best) < 1e-4


def ex(n: int, crops: int = 0, sub: bool = False, index: int = 0) -> EncodedExample:
    ids = np.arange(n, dtype=np.int64)
    px = np.full((crops, 4, 2), index, np.uint8) if crops else None
    tp = np.arange(crops * 4, dtype=np.int64).reshape(-1, 4) if crops else None
    return EncodedExample(ids, ids + 1, np.ones(n, np.float32), ids.copy(),
                          np.array([10000] * 2 + [0] * (n - 2), np.int64) if sub else None,
                          px, tp, None if px is None else np.ones((crops, 4), np.float32), {"index": index})


def test_pack_offsets_like_the_official_packer() -> None:
    p = pack([ex(5, crops=2, sub=True, index=0), ex(3, index=1), ex(4, crops=1, index=2)])
    assert p.subsegment_ids.tolist() == [10000, 10000, 0, 0, 0] + [100000] * 3 + [200000] * 4
    assert p.document_ids.tolist() == [0] * 5 + [1] * 3 + [2] * 4
    assert p.cu_seqlens.tolist() == [0, 5, 8, 12]
    assert p.position_ids.tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 0, 1, 2, 3]  # not offset
    assert p.pixels.shape == (3, 4, 2) and p.pixels[2, 0, 0] == 2
    assert p.token_pooling[-1].tolist() == [8, 9, 10, 11]  # third example's pooling after 2 crops x 4 patches


def test_packer_buffers_then_emits_one_sequence_per_arrival() -> None:
    packer = Packer(PackingConfig(sequence_length=100, max_crops=8, buffer_size=4, text_granularity=1))
    outs = [packer.push(ex(30, index=i)) for i in range(4)]
    assert outs == [None] * 4
    seq = packer.push(ex(30, index=4))
    assert seq is not None and seq.n_tokens == 90 and len(packer.buffer) == 2
    assert [m["index"] for m in seq.metadata] == [2, 1, 0]  # descending buffer order
    alone = packer.push(ex(100, index=9))  # fills a sequence on its own: emitted at once
    assert alone.n_tokens == 100 and len(packer.buffer) == 2
    rest = list(packer.flush())
    assert sum(s.n_tokens for s in rest) == 60 and not packer.buffer


def test_greedy_solver_packs_within_capacity_and_rejects_unknown_solvers() -> None:
    import pytest

    from molmo2_data.loading.packing import greedy

    # by value: item 1 (4 units, 2 crops) first; item 0 then overflows the size, item 2 the crops
    assert greedy([5, 4, 3], [0, 2, 1], [5.0, 10.0, 3.0], 8, 2) == [1]
    assert greedy([5, 4, 3], [0, 2, 1], [5.0, 10.0, 3.0], 12, 3) == [0, 1, 2]
    packer = Packer(PackingConfig(sequence_length=100, max_crops=8, buffer_size=3, text_granularity=1,
                                  solver="greedy"))
    outs = [packer.push(ex(n, index=i)) for i, n in enumerate([60, 30, 50, 20])]
    assert outs[:3] == [None] * 3 and outs[3].n_tokens == 90  # 60 + 30 chosen, 50 stays buffered
    with pytest.raises(ValueError, match="solver must be"):
        PackingConfig(sequence_length=10, max_crops=1, solver="magic")


def test_fill_solver_finds_the_fullest_set_and_respects_the_crop_budget() -> None:
    from molmo2_data.loading.packing import fit_crops, fullest

    rng = np.random.RandomState(1)
    for _ in range(200):
        n = rng.randint(1, 10)
        sizes = rng.randint(1, 20, n).tolist()
        cap = int(rng.randint(1, 60))
        best = max(sum(sizes[i] for i in c) for r in range(n + 1) for c in itertools.combinations(range(n), r)
                   if sum(sizes[i] for i in c) <= cap)
        chosen = fullest(sizes, cap)
        assert sum(sizes[i] for i in chosen) == best and len(set(chosen)) == len(chosen)
    # crops over budget: the most crop-heavy item goes, the rest is refilled
    assert fit_crops([0, 1, 2], [4, 4, 4], [1, 6, 1], 12, 4) == [0, 2]
    assert fit_crops([0, 2], [4, 4, 4, 3], [1, 6, 1, 1], 12, 4) == [0, 2]
