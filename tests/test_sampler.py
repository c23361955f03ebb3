"""The mixture sampler: a pure function of (seed, global index), epochs, ownership across ranks/workers."""

from __future__ import annotations

import numpy as np
import pytest

from molmo2_data.loading.sampler import MixtureSampler, owned_indices, worker_batches


def make(seed: int = 5) -> MixtureSampler:
    return MixtureSampler(["a", "b", "c"], [7, 50, 3], [0.5, 0.3, 0.2], seed=seed)


def test_stream_is_a_pure_function_of_seed_and_index() -> None:
    s = make()
    d, i, e = s.draws(0, 20000)
    d2, i2, e2 = make().draws(12345, 12400)  # computed without the earlier part, by a fresh sampler
    assert np.array_equal(d[12345:12400], d2) and np.array_equal(i[12345:12400], i2)
    assert np.array_equal(e[12345:12400], e2)
    d3, _, _ = make(seed=6).draws(0, 20000)
    assert not np.array_equal(d, d3)
    shares = np.bincount(d, minlength=3) / len(d)
    assert np.allclose(shares, [0.5, 0.3, 0.2], atol=0.015)


def test_every_item_once_per_epoch_with_fresh_permutations() -> None:
    s = make()
    d, i, e = s.draws(0, 5000)
    a_items, a_epochs = i[d == 0], e[d == 0]
    assert np.array_equal(a_epochs[:14], [0] * 7 + [1] * 7)
    for ep in range(int(a_epochs.max())):
        assert sorted(a_items[a_epochs == ep].tolist()) == list(range(7))
    perms = {tuple(a_items[a_epochs == ep].tolist()) for ep in range(20)}
    assert len(perms) > 10  # a fresh permutation each epoch
    # equal-length datasets do not share a permutation (the official quirk is fixed)
    t = MixtureSampler(["x", "y"], [1000, 1000], [1, 1], seed=1)
    dd, ii, _ = t.draws(0, 600)
    assert not np.array_equal(ii[dd == 0][:200], ii[dd == 1][:200])


def test_unshuffled_is_sequential() -> None:
    s = MixtureSampler(["a"], [4], [1.0], shuffle=False)
    _, i, e = s.draws(0, 10)
    assert i.tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1] and e.tolist() == [0] * 4 + [1] * 4 + [2] * 2


def test_ranks_and_workers_partition_the_global_batches() -> None:
    seen = []
    for rank in range(4):
        for b in range(3):
            seen += list(owned_indices(b, 16, rank, 4))
    assert sorted(seen) == list(range(48))
    assert list(owned_indices(2, 16, 1, 4)) == [36, 37, 38, 39]
    with pytest.raises(ValueError, match="not divisible"):
        owned_indices(0, 16, 0, 3)
    # round-robin over workers restores the global batch order whatever the worker count
    for n in (1, 2, 3):
        its = [worker_batches(5, w, n) for w in range(n)]
        order = [next(its[k % n]) for k in range(9)]
        assert order == list(range(5, 14))


def test_bad_mixtures_are_rejected() -> None:
    with pytest.raises(ValueError, match="no examples"):
        MixtureSampler(["a"], [0], [1.0])
    with pytest.raises(ValueError, match="not all 0"):
        MixtureSampler(["a"], [3], [0.0])
