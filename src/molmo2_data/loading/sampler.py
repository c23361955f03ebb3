"""The mixture sampler: a global stream of examples that is a pure function of (seed, global index).

Global example ``e`` is drawn as follows: its dataset ``d`` comes from a categorical draw over the
mixture rates, made with an rng keyed by (seed, block of e) — so any stretch of the stream can be
computed without replaying it from the start beyond per-block prefix counts; its position in ``d`` is
the number of earlier draws of ``d``; that count gives the epoch (count // len) and the slot in a fresh
permutation of ``d`` for that epoch (seeded by seed, dataset *name* and epoch, so two datasets of equal
length do not share a permutation, unlike the official loader).

Ownership: global batch ``b`` holds examples [b*B, (b+1)*B); rank r of W takes the contiguous slice
[r*B/W, (r+1)*B/W) of each batch; DataLoader worker w of N takes batches b = start + w, start + w + N...,
which the DataLoader's round-robin turns back into the global batch order whatever N is. The state is
one integer (examples consumed), so a resume — also with another worker count or world size that
divides the global batch — neither repeats nor skips an example.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from molmo2_data.errors import ConfigError


def _name_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")


@dataclass(frozen=True)
class Draw:
    """Global example ``index`` is item ``item`` of dataset ``dataset`` in epoch ``epoch``."""

    index: int
    dataset: int
    item: int
    epoch: int


class MixtureSampler:
    BLOCK = 4096

    def __init__(self, names: Sequence[str], lengths: Sequence[int], rates: Sequence[float], seed: int = 0,
                 shuffle: bool = True, cache_permutations: int = 64):
        if not (len(names) == len(lengths) == len(rates)) or not names:
            raise ConfigError("names, lengths and rates must be non-empty and of equal length")
        r = np.asarray(rates, dtype=np.float64)
        if not np.isfinite(r).all() or (r < 0).any() or r.sum() <= 0:  # NaN would make every rate NaN
            raise ConfigError(f"rates must be finite, >= 0 and not all 0, got {list(rates)}")
        if any(n <= 0 for n, p in zip(lengths, r, strict=True) if p > 0):
            raise ConfigError("a dataset with a positive rate has no examples")
        self.names = list(names)
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.rates = r / r.sum()
        self.cum = np.cumsum(self.rates)
        self.cum[-1] = 1.0
        self.seed = int(seed)
        self.shuffle = shuffle
        self._prefix: list[np.ndarray] = [np.zeros(len(names), dtype=np.int64)]  # counts before block b
        self._perms: OrderedDict[tuple[int, int], np.ndarray] = OrderedDict()
        self._cache_perms = cache_permutations

    # -- dataset choice -------------------------------------------------------------------------

    def _block_choices(self, b: int) -> np.ndarray:
        u = np.random.default_rng([self.seed, 0x5EED, b]).random(self.BLOCK)
        return np.minimum(np.searchsorted(self.cum, u, side="right"), len(self.names) - 1)

    def _prefix_counts(self, b: int) -> np.ndarray:
        while len(self._prefix) <= b:
            k = len(self._prefix) - 1
            counts = np.bincount(self._block_choices(k), minlength=len(self.names))
            self._prefix.append(self._prefix[k] + counts)
        return self._prefix[b]

    def _permutation(self, d: int, epoch: int) -> np.ndarray:
        key = (d, epoch)
        perm = self._perms.get(key)
        if perm is None:
            rng = np.random.default_rng([self.seed, _name_key(self.names[d]), epoch])
            perm = rng.permutation(int(self.lengths[d]))
            self._perms[key] = perm
            if len(self._perms) > self._cache_perms:
                self._perms.popitem(last=False)
        else:
            self._perms.move_to_end(key)
        return perm

    # -- the stream -----------------------------------------------------------------------------

    def draws(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(dataset, item, epoch) arrays for global examples [start, stop)."""
        out_d, out_i, out_e = [], [], []
        b = start // self.BLOCK
        while b * self.BLOCK < stop:
            choices = self._block_choices(b)
            lo = max(start - b * self.BLOCK, 0)
            hi = min(stop - b * self.BLOCK, self.BLOCK)
            # count of each dataset before every position of the block
            occ = np.zeros(self.BLOCK, dtype=np.int64)
            for d in np.unique(choices[:hi]):
                where = np.flatnonzero(choices[:hi] == d)
                occ[where] = np.arange(len(where))
            d_arr = choices[lo:hi]
            counts = self._prefix_counts(b)[d_arr] + occ[lo:hi]
            lengths = self.lengths[d_arr]
            epochs = counts // lengths
            pos = counts % lengths
            items = np.empty_like(pos)
            for j, (d, e, p) in enumerate(zip(d_arr.tolist(), epochs.tolist(), pos.tolist(), strict=True)):
                items[j] = self._permutation(d, e)[p] if self.shuffle else p
            out_d.append(d_arr)
            out_i.append(items)
            out_e.append(epochs)
            b += 1
        if not out_d:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty
        return np.concatenate(out_d), np.concatenate(out_i), np.concatenate(out_e)

    def __iter__(self) -> Iterator[Draw]:
        return self.iter_from(0)

    def iter_from(self, start: int) -> Iterator[Draw]:
        e = start
        while True:
            d, i, ep = self.draws(e, e + 1024)
            for k in range(len(d)):
                yield Draw(e + k, int(d[k]), int(i[k]), int(ep[k]))
            e += 1024


def owned_indices(batch: int, global_batch: int, rank: int, world_size: int) -> range:
    """Global example indices rank ``rank`` takes from global batch ``batch``."""
    if global_batch % world_size:
        raise ValueError(f"global batch {global_batch} is not divisible by world size {world_size}")
    per_rank = global_batch // world_size
    start = batch * global_batch + rank * per_rank
    return range(start, start + per_rank)


def worker_batches(start_batch: int, worker: int, num_workers: int) -> Iterator[int]:
    """Global batches DataLoader worker ``worker`` of ``num_workers`` produces, in order."""
    b = start_batch + worker
    while True:
        yield b
        b += max(num_workers, 1)
